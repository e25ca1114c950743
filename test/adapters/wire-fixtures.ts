// Loads the recorded wire fixtures of test/fixtures/wire (see its README.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiKind, ProviderName } from '../../sidecar/src/adapters/index.ts';

export const WIRE_DIR = join(import.meta.dirname, '..', 'fixtures', 'wire');

export interface WireFixture {
  name: string;
  api: ApiKind;
  provider: ProviderName;
  method: string;
  path: string;
  status: number;
  contentType: string;
  request: string;
  response: string;
}

export function wireFixtures(): WireFixture[] {
  return JSON.parse(readFileSync(join(WIRE_DIR, 'manifest.json'), 'utf8')) as WireFixture[];
}

export function wireFixture(name: string): WireFixture & { requestBody: Buffer; responseBody: Buffer } {
  const f = wireFixtures().find((x) => x.name === name);
  if (f === undefined) throw new Error(`no wire fixture ${name}`);
  return { ...f, requestBody: readFileSync(join(WIRE_DIR, f.request)), responseBody: readFileSync(join(WIRE_DIR, f.response)) };
}
