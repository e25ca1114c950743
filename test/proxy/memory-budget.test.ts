// The memory budget across in-flight exchanges: 20 concurrent 8 MiB prompts or gzip bombs each
// inflating to capture.maxDecodedBytes added up past the container's memory limit (OOM kill, every
// exchange in flight lost). Past the budget a body streams through and is recorded digest-only.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { useCleanups } from './harness.ts';

const { upstream, stack } = useCleanups();
const JSON_HEADERS = { 'content-type': 'application/json' };
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

describe('memory budget', () => {
  it('a request body the budget has no room for is forwarded whole and recorded digest-only, with the reason', async () => {
    const up = await upstream({ frames: ['{"object":"list","data":[],"model":"m"}'], headers: JSON_HEADERS });
    up.gate(0); // responses wait: the first exchange keeps its charge while the second arrives
    // 20 KB bodies are charged 4 x 20 KB: one fits in 100 KB, two do not.
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { memoryBudgetBytes: 100_000 } });
    const body = (tag: string) => JSON.stringify({ model: 'm', input: tag.repeat(20_000) });
    const send = (b: string) => request(`${s.base}/openai/v1/embeddings`, { method: 'POST', body: b, headers: JSON_HEADERS }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
    const a = send(body('a'));
    await up.received(1);
    const b = send(body('b'));
    await up.received(2);
    up.release(0);
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
    expect(up.requests[1]?.body.toString()).toBe(body('b'));
    await s.sink.count(2);
    const [ea, eb] = [s.sink.entries.find((e) => e.request.bodySha256 === sha(body('a'))), s.sink.entries.find((e) => e.request.bodySha256 === sha(body('b')))];
    expect(ea?.request.body).toMatchObject({ model: 'm' });
    expect(ea?.request.omittedReason).toBeUndefined();
    expect(eb?.request).toMatchObject({ body: null, truncated: true, omittedReason: 'memory_budget', bytes: body('b').length });
    expect(await s.registry.getSingleMetricAsString('llmaudit_capture_truncations_total')).toMatch(/direction="request",reason="memory_budget"\} 1/);
    // Both charges are given back: a third body is admitted and stored again.
    const c = send(body('c'));
    await up.received(3);
    expect((await c).status).toBe(200);
    await s.sink.count(3);
    expect(s.sink.entries[2]?.request.body).toMatchObject({ model: 'm' });
  });

  it('a gzip bomb stops decoding at what the budget has left, below capture.maxDecodedBytes', async () => {
    const inflated = `{"model":"m","pad":"${'x'.repeat(8 * 1024 * 1024)}"}`;
    const up = await upstream({ frames: [inflated], headers: JSON_HEADERS, gzip: true });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { memoryBudgetBytes: 1024 * 1024, maxDecodedBytes: 16 * 1024 * 1024 } });
    const res = await request(`${s.base}/openai/v1/chat/completions`, { method: 'POST', body: '{"model":"m","messages":[]}', headers: JSON_HEADERS });
    expect(res.statusCode).toBe(200);
    await res.body.arrayBuffer();
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response).toMatchObject({ body: null, encoding: 'gzip', omittedReason: 'memory_budget' });
    expect(await s.registry.getSingleMetricAsString('llmaudit_capture_truncations_total')).toMatch(/direction="response",reason="memory_budget"\} 1/);
  });

  it('a compressed request body the budget cannot inflate is forwarded as sent and recorded digest-only', async () => {
    const up = await upstream({ frames: ['{}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { memoryBudgetBytes: 512 * 1024 } });
    const gz = gzipSync(Buffer.from(JSON.stringify({ model: 'm', input: 'y'.repeat(4 * 1024 * 1024) })));
    const res = await request(`${s.base}/openai/v1/embeddings`, { method: 'POST', body: gz, headers: { ...JSON_HEADERS, 'content-encoding': 'gzip' } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(up.requests[0]?.body.equals(gz)).toBe(true);
    await s.sink.count(1);
    expect(s.sink.entries[0]?.request).toMatchObject({ body: null, encoding: 'gzip', omittedReason: 'memory_budget', bodySha256: sha(gz) });
  });

  it('memoryBudgetBytes: 0 turns the budget off (the same body is stored)', async () => {
    const up = await upstream({ frames: ['{}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { memoryBudgetBytes: 0 } });
    const b = JSON.stringify({ model: 'm', input: 'z'.repeat(500_000) });
    const res = await request(`${s.base}/openai/v1/embeddings`, { method: 'POST', body: b, headers: JSON_HEADERS });
    await res.body.text();
    await s.sink.count(1);
    expect(s.sink.entries[0]?.request.body).toMatchObject({ model: 'm' });
  });
});
