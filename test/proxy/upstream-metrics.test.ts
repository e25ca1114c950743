// Metrics fed from upstream data: token counts and model names are the upstream's to choose, and
// neither may break an exchange's record or grow /metrics without bound.
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { useCleanups } from './harness.ts';

const { upstream, stack } = useCleanups();
const JSON_HEADERS = { 'content-type': 'application/json' };
const answer = (model: string, usage: Record<string, unknown>): string =>
  JSON.stringify({ id: 'c', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage });

async function chat(base: string): Promise<string> {
  const res = await request(`${base}/openai/v1/chat/completions`, { method: 'POST', body: '{"model":"m","messages":[]}', headers: JSON_HEADERS });
  await res.body.text();
  expect(res.statusCode).toBe(200);
  return res.headers['x-llmaudit-id'] as string;
}

describe('metrics from upstream data', () => {
  it('negative and fractional token counts are recorded as given and never throw', async () => {
    // prom-client threw "It is not possible to decrease a counter" for a negative count: the exchange's log line was lost.
    const up = await upstream({ frames: [answer('m', { prompt_tokens: -5, completion_tokens: 2.5, total_tokens: -2.5 })], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const id = await chat(s.base);
    await s.sink.count(1);
    expect(s.sink.entries[0]?.usage).toMatchObject({ inputTokens: -5, outputTokens: 2.5 });
    await expect.poll(() => s.logLines.some((l) => l.includes(id) && l.includes('"msg":"exchange"'))).toBe(true);
    const text = await s.registry.metrics();
    expect(text).toMatch(/^llmaudit_tokens_total\{endpoint="openai",model="m",direction="output"\} 2\.5$/m);
    expect(text).not.toMatch(/direction="input"/);
    expect(text).toMatch(/^llmaudit_exchanges_total\{endpoint="openai",api="openai\.chat",status="200"\} 1$/m);
  });

  it('a hostile upstream naming a new model every time cannot grow /metrics past the label cap', async () => {
    const up = await upstream();
    let n = 0;
    up.script(() => ({ frames: [answer(`model-${n++}-${'x'.repeat(200)}`, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 })], headers: JSON_HEADERS }));
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const N = 130;
    for (let i = 0; i < N; i++) await chat(s.base);
    await s.sink.count(N);
    expect(new Set(s.sink.entries.map((e) => e.model)).size).toBe(N); // the entries keep every name
    const text = await s.registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('llmaudit_tokens_total{') && l.includes('direction="input"'));
    expect(series).toHaveLength(101); // 100 names and "other"
    expect(text).toMatch(/^llmaudit_tokens_total\{endpoint="openai",model="other",direction="input"\} 30$/m);
  });

  it('after N exchanges /metrics counts each of them once in every per-exchange series', async () => {
    const up = await upstream({ frames: [answer('m', { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 })], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const N = 25;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await chat(s.base));
    await s.sink.count(N);
    await expect.poll(() => ids.every((id) => s.logLines.some((l) => l.includes(id) && l.includes('"msg":"exchange"')))).toBe(true);
    const text = await s.registry.metrics();
    const requestBytes = Buffer.byteLength('{"model":"m","messages":[]}') * N;
    expect(text).toMatch(new RegExp(`^llmaudit_exchanges_total\\{endpoint="openai",api="openai\\.chat",status="200"\\} ${N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_exchange_duration_seconds_count\\{endpoint="openai",api="openai\\.chat"\\} ${N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_exchange_duration_seconds_bucket\\{le="\\+Inf",endpoint="openai",api="openai\\.chat"\\} ${N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_exchange_ttfb_seconds_count\\{endpoint="openai",api="openai\\.chat"\\} ${N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_log_append_duration_seconds_count ${N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_tokens_total\\{endpoint="openai",model="m",direction="input"\\} ${3 * N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_tokens_total\\{endpoint="openai",model="m",direction="output"\\} ${4 * N}$`, 'm'));
    expect(text).toMatch(new RegExp(`^llmaudit_captured_bytes_total\\{direction="request"\\} ${requestBytes}$`, 'm'));
    const sum = Number(/^llmaudit_exchange_duration_seconds_sum\{endpoint="openai",api="openai\.chat"\} (\S+)$/m.exec(text)?.[1]);
    expect(sum).toBeGreaterThan(0);
  });
});
