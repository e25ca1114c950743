// Payloads the log must record whatever their bytes: lone UTF-16 surrogates, deep nesting, numbers
// JSON.parse cannot keep, duplicate keys. Each exchange becomes exactly one entry on the real log,
// the chain verifies, and the next unrelated request is forwarded (a payload is never a log outage).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startReplayUpstream, type ReplayScript } from '../support/replay-upstream.ts';
import { openRealLog, startStack, useCleanups, type RealLog, type Stack } from './harness.ts';
import type { Entry } from '../../sidecar/src/auditlog/types.ts';

const { cleanups } = useCleanups();
const JSON_HEADERS = { 'content-type': 'application/json' };
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

async function setup(script: ReplayScript, api = 'openai', durability: 'strict' | 'batched' = 'strict'): Promise<{ s: Stack; log: RealLog }> {
  const up = await startReplayUpstream(script);
  cleanups.push(() => up.close());
  const log = await openRealLog(durability);
  cleanups.push(() => log.close());
  const s = await startStack({ config: { endpoints: [{ name: api, upstream: up.url, api }] }, sink: log.log, chainDir: log.dir, deps: { origin: log.origin } });
  cleanups.push(() => s.close());
  return { s, log };
}

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { method: 'POST', body, headers: JSON_HEADERS });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Sends `body`, then an unrelated request; both must be answered 200 and recorded, in order. */
async function sendAndFollow(s: Stack, log: RealLog, path: string, body: string): Promise<Entry> {
  const first = await post(`${s.base}${path}`, body);
  expect(first.status).toBe(200);
  const next = await post(`${s.base}${path}`, '{"model":"m","messages":[{"role":"user","content":"hi"}]}');
  expect(next.status).toBe(200);
  expect(s.proxy.logDown()).toBe(false);
  await log.log.flush();
  const entries = await log.entries();
  expect(entries).toHaveLength(2);
  expect((await log.verify()).failure).toBeNull();
  return entries[0] as Entry;
}

const CHAT_ANSWER = '{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}';

describe('lone UTF-16 surrogates', () => {
  it('in the request content: forwarded, recorded raw with its digest, and the next request is not refused', async () => {
    // A lone surrogate escape made the append fail, closed the log gate and refused the next request 503.
    const { s, log } = await setup({ frames: [CHAT_ANSWER], headers: JSON_HEADERS });
    const body = '{"model":"m","messages":[{"role":"user","content":"\\ud800"}]}';
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', body);
    expect(e.request.body).toBe(body);
    expect(e.request.bodySha256).toBe(sha(body));
    expect(e.request.rawReason).toBe('lone_surrogate');
    expect(e.response.status).toBe(200);
    expect(e.usage.inputTokens).toBe(3);
  });

  it('in a key and in model: the entry is written and the span keeps what could be parsed', async () => {
    const { s, log } = await setup({ frames: [CHAT_ANSWER.replace('"model":"m"', '"model":"m\\udc00"')], headers: JSON_HEADERS });
    const body = '{"model":"m\\ud83d","messages":[{"role":"user","content":"x","\\udfff":1}]}';
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', body);
    expect(e.request.body).toBe(body);
    expect(e.response.rawReason).toBe('lone_surrogate');
    expect(typeof e.model === 'string' || e.model === null).toBe(true);
  });

  it('in the upstream JSON answer: stored raw, the exchange still recorded whole', async () => {
    const answer = CHAT_ANSWER.replace('"content":"ok"', '"content":"\\ud800"');
    const { s, log } = await setup({ frames: [answer], headers: JSON_HEADERS });
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', '{"model":"m","messages":[]}');
    expect(e.response.body).toBe(answer);
    expect(e.response.rawReason).toBe('lone_surrogate');
    expect(e.response.bodySha256).toBe(sha(answer));
    expect(e.response.complete).toBe(true);
  });

  it('in an SSE delta: one entry, degraded where the reconstruction cannot be written', async () => {
    const frames = [
      'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"\\ud800"}}]}\n\n',
      'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
      'data: [DONE]\n\n',
    ];
    const { s, log } = await setup({ frames, headers: { 'content-type': 'text/event-stream' } });
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', '{"model":"m","stream":true,"messages":[]}');
    expect(e.response.bodySha256).toBe(sha(frames.join('')));
    expect(e.degraded).toMatchObject({ code: 'LLMAUDIT_E_ENTRY_DEGRADED' });
    expect(JSON.stringify(e.degraded)).toContain('/response/body');
    // Both exchanges were answered by the same stream, so both entries are degraded.
    expect((await log.entries()).every((x) => x.degraded !== undefined)).toBe(true);
    expect(await s.registry.getSingleMetricAsString('llmaudit_log_degraded_entries_total')).toMatch(/^llmaudit_log_degraded_entries_total 2$/m);
  });

  it('in an Ollama NDJSON line: one entry, the next request forwarded', async () => {
    const frames = [
      '{"model":"llama3","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"\\udbff"},"done":false}\n',
      '{"model":"llama3","created_at":"2026-01-01T00:00:01Z","message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":2,"eval_count":1}\n',
    ];
    const { s, log } = await setup({ frames, headers: { 'content-type': 'application/x-ndjson' } }, 'ollama');
    const e = await sendAndFollow(s, log, '/ollama/api/chat', '{"model":"llama3","messages":[{"role":"user","content":"hi"}]}');
    expect(e.response.bodySha256).toBe(sha(frames.join('')));
    expect(e.response.status).toBe(200);
  });
});

describe('deep nesting', () => {
  const deep = (n: number): string => `{"model":"m","messages":[],"x":${'['.repeat(n)}${']'.repeat(n)}}`;

  it('5,000 levels in the request: recorded raw, the log stays open', async () => {
    // The canonicalizer recursed past the stack ("Maximum call stack size exceeded"): no entry, gate closed.
    const { s, log } = await setup({ frames: [CHAT_ANSWER], headers: JSON_HEADERS });
    const body = deep(5000);
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', body);
    expect(e.request.body).toBe(body);
    expect(e.request.rawReason).toBe('depth');
  });

  it('100,000 levels in the request (above the media threshold): recorded raw', async () => {
    // The media walker overflowed the stack before the canonicalizer was even reached.
    const { s, log } = await setup({ frames: [CHAT_ANSWER], headers: JSON_HEADERS });
    const body = deep(100_000);
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', body);
    expect(e.request.bodySha256).toBe(sha(body));
    expect(e.request.rawReason).toBe('depth');
  });

  it('5,000 and 100,000 levels in the upstream answer: recorded raw', async () => {
    for (const n of [5000, 100_000]) {
      const answer = `{"id":"c","model":"m","choices":[],"x":${'['.repeat(n)}${']'.repeat(n)}}`;
      const { s, log } = await setup({ frames: [answer], headers: JSON_HEADERS }, 'openai', 'batched');
      const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', '{"model":"m","messages":[]}');
      expect(e.response.body).toBe(answer);
      expect(e.response.rawReason).toBe('depth');
    }
  });
});

describe('numbers and keys JSON.parse would change', () => {
  for (const [name, body, reason] of [
    ['1e400', '{"model":"m","messages":[],"temperature":1e400}', 'number'],
    ['a big integer', '{"model":"m","messages":[],"seed":123456789012345678901234567890}', 'number'],
    ['a duplicate key', '{"model":"m","model":"n","messages":[]}', 'duplicate_key'],
  ] as const) {
    it(`${name} is stored as sent, not as JSON.parse re-serialized it`, async () => {
      const { s, log } = await setup({ frames: [CHAT_ANSWER], headers: JSON_HEADERS });
      const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', body);
      expect(e.request.body).toBe(body);
      expect(e.request.rawReason).toBe(reason);
    });
  }

  it('a body that round-trips is still stored as JSON (whitespace and 1.0 are not differences)', async () => {
    const { s, log } = await setup({ frames: [CHAT_ANSWER], headers: JSON_HEADERS });
    const body = '{ "model": "m", "messages": [], "temperature": 1.0, "top_p": 1e-3, "n": -0 }';
    const e = await sendAndFollow(s, log, '/openai/v1/chat/completions', body);
    expect(e.request.body).toEqual({ model: 'm', messages: [], temperature: 1, top_p: 0.001, n: 0 });
    expect(e.request.rawReason).toBeUndefined();
  });
});
