// Large request bodies (parsed a piece per turn, sent to the writer thread as their text): the
// entry on disk is what it was when the parsed value was parsed whole and cloned — same stored
// body, digest, size, raw reason — and the adapter still reads the request.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startReplayUpstream } from '../support/replay-upstream.ts';
import { startStack, useCleanups } from './harness.ts';
import { generateSignerKey, parseVerifierKey, verifyLog, type AuditLog, type Entry } from '../../sidecar/src/auditlog/index.ts';
import { openLogInThread } from '../../sidecar/src/auditlog/log-thread.ts';
import { openLog } from '../../sidecar/src/auditlog/log-writer.ts';
import { canonicalJson } from '../../sidecar/src/auditlog/jcs.ts';
import { IN_TURNS_MIN_BYTES } from '../../sidecar/src/capture/stored-body.ts';

const { cleanups } = useCleanups();
const JSON_HEADERS = { 'content-type': 'application/json' };
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const CHAT_ANSWER = '{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}';

/** A proxy in front of a chat upstream, recording into a log on its own thread (as the sidecar does) or in process. */
async function stackWith(thread: boolean): Promise<{ base: string; entries: () => Promise<Entry[]>; verify: () => Promise<number> }> {
  const up = await startReplayUpstream({ frames: [CHAT_ANSWER], headers: JSON_HEADERS });
  cleanups.push(() => up.close());
  const dir = await mkdtemp(join(tmpdir(), 'llmaudit-large-'));
  const { signerKey, verifierKey } = generateSignerKey('llmaudit.test');
  const origin = 'llmaudit.dev/test/large/0000';
  const log: AuditLog = thread ? await openLogInThread({ dir, origin, signerKey, durability: 'strict' }) : await openLog({ dir, origin, signerKey, durability: 'strict' });
  cleanups.push(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });
  const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] }, sink: log, chainDir: dir, deps: { origin } });
  cleanups.push(() => s.close());
  return {
    base: s.base,
    entries: async () => {
      await log.flush();
      const out: Entry[] = [];
      for (const f of (await readdir(dir)).filter((x) => x.endsWith('.jsonl')).sort()) for (const l of (await readFile(join(dir, f), 'utf8')).split('\n')) if (l !== '') out.push(JSON.parse(l) as Entry);
      return out;
    },
    verify: async () => (await verifyLog(dir, { keys: [parseVerifierKey(verifierKey)] })).exit,
  };
}

function chat(n: number, extra = ''): string {
  const messages = Array.from({ length: n }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `${'données é😀 "quoted" \n'.repeat(40)} ${i}` }));
  return `{"temperature":0.50,${extra}"model":"gpt-4o","messages":${JSON.stringify(messages)},"max_tokens":1E3}`;
}

const BODIES: Array<[string, string | Buffer, Record<string, string>]> = [
  ['many messages, members out of order', chat(400), JSON_HEADERS],
  ['one long string', JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `${'x'.repeat(300_000)}\\é` }] }), JSON_HEADERS],
  ['a duplicate member (stored as sent)', chat(300, '"model":"first",'), JSON_HEADERS],
  ['malformed (a trailing comma in messages)', chat(300).replace(/}]/, '},]'), JSON_HEADERS],
  ['gzip-compressed', gzipSync(chat(300)), { ...JSON_HEADERS, 'content-encoding': 'gzip' }],
];

describe('large request bodies: the entry is the same whether its body crossed to the writer as text or as a value', () => {
  it('stores each body as before, with its digest, size and reason, the adapter reads it, and the chains verify', async () => {
    const thread = await stackWith(true);
    const inline = await stackWith(false);
    for (const [name, body, headers] of BODIES) {
      expect(Buffer.byteLength(typeof body === 'string' ? body : gunzipSync(body)), name).toBeGreaterThan(IN_TURNS_MIN_BYTES);
      for (const s of [thread, inline]) {
        const res = await request(`${s.base}/openai/v1/chat/completions`, { method: 'POST', body, headers });
        expect(res.statusCode, name).toBe(200);
        await res.body.text();
      }
    }
    const a = await thread.entries();
    const b = await inline.entries();
    expect(a).toHaveLength(BODIES.length);
    for (const [i, [name, body]] of BODIES.entries()) {
      const x = a[i] as Entry;
      const y = b[i] as Entry;
      const { body: bx, headers: hx, ...restX } = x.request;
      const { body: by, headers: hy, ...restY } = y.request;
      expect({ ...hx, host: '' }, name).toEqual({ ...hy, host: '' }); // two proxies, two ports
      expect(canonicalJson(bx), name).toBe(canonicalJson(by));
      expect(restX, name).toEqual(restY);
      expect(x.model, name).toBe(y.model);
      expect(x.trace.conversationId, name).toBe(y.trace.conversationId);
      expect(x.request.bodySha256, name).toBe(sha(body));
    }
    const [many, long, dup, bad, gz] = a as [Entry, Entry, Entry, Entry, Entry];
    expect(canonicalJson(many.request.body)).toBe(canonicalJson(JSON.parse(BODIES[0]?.[1] as string)));
    expect(many.api).toBe('openai.chat');
    expect(many.request.rawReason).toBeUndefined();
    expect(canonicalJson(long.request.body)).toBe(canonicalJson(JSON.parse(BODIES[1]?.[1] as string)));
    expect(dup.request.rawReason).toBe('duplicate_key');
    expect(dup.request.body).toBe(BODIES[2]?.[1]);
    expect(bad.request.rawReason).toBeUndefined();
    expect(bad.request.body).toBe(BODIES[3]?.[1]);
    expect(bad.api).toBe('opaque');
    expect(canonicalJson(gz.request.body)).toBe(canonicalJson(JSON.parse(chat(300))));
    expect(await thread.verify()).toBe(0);
    expect(await inline.verify()).toBe(0);
  });
});
