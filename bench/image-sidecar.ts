/**
 * What the sidecar image runs, for benchmarks that start sidecars: the standalone bundle
 * (`hack/build.mjs --standalone`, dependencies inlined), the node flags of the image's ENTRYPOINT
 * and the variables of its ENV (the malloc thresholds, NODE_ENV), read from Dockerfile.sidecar as
 * the hardened sandbox reads them (test/hardened/pod-sandbox.ts). A sidecar run from the sources
 * under tsx holds ~50 MiB more at rest, so its memory says nothing about the container's limit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerfileEnv, readImageConfig } from '../test/hardened/pod-sandbox.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const IMAGE_DOCKERFILE = path.join(root, 'Dockerfile.sidecar');

let built: string | undefined;
/**
 * The llmaudit.mjs a bench runs: LLMAUDIT_BENCH_CLI (another build's) when set, else this
 * checkout's standalone bundle, built once per process (standaloneCli).
 */
export function benchCli(): string {
  return (built ??= process.env.LLMAUDIT_BENCH_CLI ?? standaloneCli());
}

/** Builds the standalone bundle of this checkout into a temporary directory (removed at exit); its llmaudit.mjs. */
function standaloneCli(): string {
  const out = mkdtempSync(path.join(tmpdir(), 'llmaudit-bench-standalone-'));
  const r = spawnSync(process.execPath, [path.join(root, 'hack/build.mjs'), '--standalone', '--out-root', out], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hack/build.mjs --standalone failed: ${r.stderr}`);
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  return path.join(out, 'sidecar/dist/llmaudit.mjs');
}

/** The node flags of the image's ENTRYPOINT, between the node binary and the bundle. */
export function imageNodeFlags(): string[] {
  return readImageConfig(IMAGE_DOCKERFILE).entrypoint.slice(1, -1);
}

/** The variables the image's Dockerfile sets (ENV). */
export function imageEnv(): Record<string, string> {
  return dockerfileEnv(IMAGE_DOCKERFILE);
}
