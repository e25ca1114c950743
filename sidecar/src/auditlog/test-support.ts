// Shared fixtures for the audit-log tests (not part of the module's API): realistic payloads and a
// log written by the real writer in a temp dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSignerKey, parseVerifierKey, type NoteVerifier } from './signed-note.ts';
import { openLog, type OpenLogOptions } from './log-writer.ts';
import { nodeLogFs, type LogFs } from './log-fs.ts';
import type { EntryPayload } from './types.ts';

export const TEST_ORIGIN = 'llmaudit.dev/test-ns/chat-0/uid-1';

export function samplePayload(i: number, bodyBytes = 200): EntryPayload {
  return {
    id: `req-${i}`,
    endpoint: 'openai',
    api: 'openai.chat',
    model: 'gpt-4o-mini',
    request: {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-...mnop' },
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i} ${'x'.repeat(bodyBytes)}` }] },
      bodySha256: '0'.repeat(64),
      bytes: bodyBytes + 80,
    },
    response: {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { choices: [{ message: { role: 'assistant', content: `answer ${i}` } }] },
      bodySha256: '1'.repeat(64),
      bytes: 60,
      streamed: false,
      chunks: 0,
      ttfbMs: 12,
      durationMs: 40,
      complete: true,
    },
    usage: { inputTokens: 10, outputTokens: 3 },
    trace: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), spanType: 'FINAL_RESPONSE', conversationId: 'c1', toolCalls: [], toolResults: [] },
    policy: { name: 'default', decision: 'allow', reasons: [], risk: 0, capture: 'full' },
    media: [],
  };
}

export interface TestKeys {
  signerKey: string;
  verifierKey: string;
  verifier: NoteVerifier;
}

export function testKeys(name = TEST_ORIGIN): TestKeys {
  const { signerKey, verifierKey } = generateSignerKey(name);
  return { signerKey, verifierKey, verifier: parseVerifierKey(verifierKey) };
}

export async function tempDir(prefix = 'llmaudit-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `count` entries one after another (so size-based rolling happens) and closes the log. */
export async function writeLog(dir: string, keys: TestKeys, count: number, options: Partial<OpenLogOptions> = {}): Promise<void> {
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, ...options });
  for (let i = 0; i < count; i++) await log.append(samplePayload(i));
  await log.close();
}

/**
 * A LogFs whose segment-file writes fail with `code` while `broken()` is true. With
 * `shortWrite`, a write first succeeds for half its bytes, as write(2) does when a disk fills up.
 */
export function faultySegmentFs(code: string, broken: () => boolean, options: { shortWrite?: boolean } = {}): LogFs {
  return {
    rename: nodeLogFs.rename,
    open: async (file, flags, mode) => {
      const fh = await nodeLogFs.open(file, flags, mode);
      if (!path.basename(file).startsWith('seg-')) return fh;
      return {
        datasync: () => fh.datasync(),
        sync: () => fh.sync(),
        truncate: (n) => fh.truncate(n),
        stat: () => fh.stat(),
        close: () => fh.close(),
        write: async (buf, offset = 0, length = buf.length - offset) => {
          if (!broken()) return fh.write(buf, offset, length);
          if (options.shortWrite === true && length > 1) return fh.write(buf, offset, Math.max(1, Math.floor(length / 2)));
          throw Object.assign(new Error(`${code}: injected`), { code });
        },
      };
    },
  };
}
