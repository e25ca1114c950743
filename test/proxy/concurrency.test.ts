// 200 concurrent streams through one proxy into the real log: 200 entries, one per x-llmaudit-id,
// the chain intact. Also: tracer ids and traceparent reach the
// entry and the upstream, and handle.end() gets the entry's seq and hash.
import { describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { Entry } from '../../sidecar/src/auditlog/index.ts';
import type { ExchangeOutcome, ExchangeTracer, TraceRequestInfo } from '../../sidecar/src/telemetry/types.ts';
import { loadWireFixture, startReplayUpstream } from '../support/replay-upstream.ts';
import { MemorySink, openRealLog, startStack, useCleanups } from './harness.ts';

const { cleanups } = useCleanups();

describe('concurrency', () => {
  it('200 concurrent streams become 200 entries in an intact chain', async () => {
    const fx = loadWireFixture('openai-chat-stream-parallel-tools');
    const up = await startReplayUpstream(fx.script);
    cleanups.push(() => up.close());
    const log = await openRealLog('batched');
    cleanups.push(() => log.close());
    const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: `${up.url}/v1`, api: 'openai' }] }, sink: log.log, chainDir: log.dir, deps: { origin: log.origin } });
    cleanups.push(() => s.close());
    const agent = new Agent({ connections: 256 });
    cleanups.push(() => agent.close());

    const body = JSON.stringify(fx.request);
    const N = 200;
    const results = await Promise.all(
      Array.from({ length: N }, async () => {
        const res = await request(`${s.base}/openai/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
        const text = await res.body.text();
        return { id: res.headers['x-llmaudit-id'] as string, text };
      }),
    );
    for (const r of results) expect(r.text).toBe(fx.body.toString());
    await log.log.flush();
    expect(s.proxy.inflight()).toBe(0);
    const entries = await log.entries();
    expect(entries).toHaveLength(N);
    expect(new Set(entries.map((e) => e.id))).toEqual(new Set(results.map((r) => r.id)));
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: N }, (_, i) => i));
    for (const e of entries) {
      expect(e.response.complete).toBe(true);
      expect(e.usage.inputTokens).toBe(112);
    }
    const report = await log.verify();
    expect(report.failure).toBeNull();
    expect(report.entries).toBe(N);
  });
});

describe('tracing', () => {
  it('passes the request side to begin(), sends its headers upstream, records its ids and ends with seq and hash', async () => {
    const fx = loadWireFixture('openai-chat-stream-parallel-tools');
    const up = await startReplayUpstream(fx.script);
    cleanups.push(() => up.close());
    const log = await openRealLog('strict');
    cleanups.push(() => log.close());
    const begun: TraceRequestInfo[] = [];
    const ended: ExchangeOutcome[] = [];
    const tracer: ExchangeTracer = {
      begin(info) {
        begun.push(info);
        return {
          ids: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentSpanId: 'c'.repeat(16), conversationId: 'conv-1', requestType: 'USER_PROMPT' },
          upstreamHeaders: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
          end: (o) => ended.push(o),
        };
      },
      close: async () => {},
    };
    const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: `${up.url}/v1`, api: 'openai' }], log: { durability: 'strict' } }, sink: log.log, tracer, deps: { origin: log.origin } });
    cleanups.push(() => s.close());
    const res = await request(`${s.base}/openai/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(fx.request),
      headers: { 'content-type': 'application/json', traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` },
    });
    await res.body.text();
    await s.close(); // waits for the entry and handle.end()
    expect(begun[0]?.request?.api).toBe('openai.chat');
    expect(begun[0]?.request?.requestModel).toBe('gpt-4o');
    expect(begun[0]?.path).toBe('/chat/completions');
    expect(begun[0]?.headers['traceparent']).toBe(`00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`);
    expect(up.requests[0]?.rawHeaders.filter((h) => h.toLowerCase() === 'traceparent')).toHaveLength(1);
    expect(up.requests[0]?.headers['traceparent']).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
    const [entry] = (await log.entries()) as [Entry];
    expect(entry.trace).toMatchObject({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentSpanId: 'c'.repeat(16), conversationId: 'conv-1', requestType: 'USER_PROMPT', spanType: 'TOOL_CALL' });
    expect(ended[0]).toMatchObject({ seq: 0, entryHash: entry.hash, spanType: 'TOOL_CALL', status: 200, origin: log.origin, errorType: null });
    expect(ended[0]?.exchange?.toolCalls).toHaveLength(2);
  });

  it('keeps forwarding and recording when the tracer throws', async () => {
    const up = await startReplayUpstream({ frames: ['{"ok":1}'], headers: { 'content-type': 'application/json' } });
    cleanups.push(() => up.close());
    const sink = new MemorySink();
    const broken: ExchangeTracer = {
      begin() {
        throw new Error('exporter exploded');
      },
      close: async () => {},
    };
    const s = await startStack({ config: { endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] }, sink, tracer: broken });
    cleanups.push(() => s.close());
    const res = await request(`${s.base}/llm/x`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('{"ok":1}');
    await sink.count(1);
    expect(sink.entries[0]?.trace.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});
