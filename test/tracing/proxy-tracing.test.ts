/**
 * Trace context, derived trace ids, error spans and a collector outage, through the real proxy
 * with the openai SDK and the real tracer (docs/tracing.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import OpenAI, { AzureOpenAI } from 'openai';
import { Registry } from 'prom-client';
import { createTracer, type OtelTracer, type TelemetryConfig } from '../../sidecar/src/telemetry/otel-tracer.ts';
import { SPAN_KIND_CLIENT, startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { startReplayUpstream, type ReplayScript, type ReplayUpstream } from '../support/replay-upstream.ts';
import { MemorySink, startStack, type Stack } from '../proxy/harness.ts';
import { observeEnds, silentLogger, telemetryConfig } from './exchange-builders.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

const JSON_HEADERS = { 'content-type': 'application/json' };
const answer = (text: string): ReplayScript => ({
  headers: JSON_HEADERS,
  frames: [
    JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    }),
  ],
});

interface H {
  stack: Stack;
  sink: MemorySink;
  upstream: ReplayUpstream;
  receiver: OtlpReceiver;
  tracer: OtelTracer;
  registry: Registry;
  /** Resolves once the proxy has ended `n` exchange spans. */
  ended: (n: number) => Promise<void>;
  client: OpenAI;
}

async function harness(telemetry: Partial<TelemetryConfig> = {}, upstreamUrl?: string, endpoint: { name: string; api: string } = { name: 'openai', api: 'openai' }, config: Record<string, unknown> = {}): Promise<H> {
  const receiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
  const upstream = await startReplayUpstream(answer('Hello.'));
  cleanups.push(() => upstream.close());
  const registry = new Registry();
  const tracer = createTracer({ telemetry: telemetryConfig({ otlpEndpoint: receiver.url, ...telemetry }), resource: { serviceName: 'app' }, registry, logger: silentLogger });
  cleanups.push(() => tracer.close());
  const observed = observeEnds(tracer);
  const sink = new MemorySink();
  const stack = await startStack({ config: { endpoints: [{ name: endpoint.name, upstream: upstreamUrl ?? upstream.url, api: endpoint.api }], ...config }, sink, tracer: observed.tracer });
  cleanups.push(() => stack.close());
  const client = new OpenAI({ baseURL: `${stack.base}/${endpoint.name}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  return { stack, sink, upstream, receiver, tracer, registry, client, ended: observed.ended };
}

const ask = (h: H, messages: OpenAI.Chat.ChatCompletionMessageParam[], headers: Record<string, string> = {}) =>
  h.client.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers });

describe('trace context through the proxy', () => {
  it('continues an incoming traceparent: the exchange span is its child, its context goes upstream', async () => {
    const h = await harness();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await ask(h, [{ role: 'user', content: 'hi' }], { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'congo=t61rcWkgMzE' });
    await h.tracer.flush();
    const [span] = await h.receiver.waitFor((s) => s.length >= 1);
    expect(span).toMatchObject({ traceId, parentSpanId: '00f067aa0ba902b7' });
    const e = h.sink.entries[0]!;
    expect(e.trace).toMatchObject({ traceId, spanId: span!.spanId, parentSpanId: '00f067aa0ba902b7', spanType: 'FINAL_RESPONSE' });
    const up = h.upstream.requests[0]!.headers;
    expect(up['traceparent']).toBe(`00-${traceId}-${span!.spanId}-01`);
    expect(up['tracestate']).toBe('congo=t61rcWkgMzE');
  });

  it('honours explicit X-Trace-ID / X-Span-ID / X-Parent-Span-ID headers', async () => {
    const h = await harness();
    const traceId = '0123456789abcdef0123456789abcdef';
    await ask(h, [{ role: 'user', content: 'step 1' }], { 'X-Trace-ID': traceId, 'X-Span-ID': 'aaaaaaaaaaaaaaaa' });
    await ask(h, [{ role: 'user', content: 'step 2' }], { 'X-Trace-ID': traceId, 'X-Span-ID': 'bbbbbbbbbbbbbbbb', 'X-Parent-Span-ID': 'aaaaaaaaaaaaaaaa' });
    await h.tracer.flush();
    const spans = await h.receiver.waitFor((s) => s.length >= 2);
    expect(spans.map((s) => [s.traceId, s.spanId, s.parentSpanId])).toEqual([
      [traceId, 'aaaaaaaaaaaaaaaa', ''],
      [traceId, 'bbbbbbbbbbbbbbbb', 'aaaaaaaaaaaaaaaa'],
    ]);
    expect(h.sink.entries.map((e) => [e.trace.traceId, e.trace.spanId])).toEqual(spans.map((s) => [s.traceId, s.spanId]));
  });

  it('without headers, derives one trace per conversation, stable across turns and distinct between conversations', async () => {
    const h = await harness();
    const sys: OpenAI.Chat.ChatCompletionMessageParam = { role: 'system', content: 'You are terse.' };
    await ask(h, [sys, { role: 'user', content: 'Plan a trip to Rome.' }]);
    await ask(h, [sys, { role: 'user', content: 'Plan a trip to Rome.' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'And Milan?' }]);
    await ask(h, [sys, { role: 'user', content: 'Plan a trip to Oslo.' }]);
    const [a1, a2, b1] = h.sink.entries.map((e) => e.trace);
    expect(a2!.traceId).toBe(a1!.traceId);
    expect(a2!.conversationId).toBe(a1!.conversationId);
    expect(a1!.requestType).toBe('USER_PROMPT');
    expect(a2!.requestType).toBeUndefined();
    expect(a2!.parentSpanId).toBe(a1!.spanId);
    expect(b1!.traceId).not.toBe(a1!.traceId);
    expect(b1!.conversationId).not.toBe(a1!.conversationId);
  });
});

describe('errors and outages', () => {
  it('classifies an upstream 429 as ERROR with error.type', async () => {
    const h = await harness();
    h.upstream.script({ status: 429, headers: JSON_HEADERS, frames: [JSON.stringify({ error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } })] });
    await expect(ask(h, [{ role: 'user', content: 'hi' }])).rejects.toThrow();
    await h.tracer.flush();
    const [span] = await h.receiver.waitFor((s) => s.length >= 1);
    expect(span!.attributes).toMatchObject({ 'llmaudit.span_type': 'ERROR', 'http.response.status_code': 429 });
    expect(typeof span!.attributes['error.type']).toBe('string');
    expect(span!.statusCode).toBe(2);
    expect(h.sink.entries[0]!.trace.spanType).toBe('ERROR');
  });

  it('classifies an unreachable upstream as ERROR with the proxy error type', async () => {
    const h = await harness({}, 'http://127.0.0.1:1'); // nothing listens on port 1
    await expect(ask(h, [{ role: 'user', content: 'hi' }])).rejects.toThrow();
    await h.tracer.flush();
    const [span] = await h.receiver.waitFor((s) => s.length >= 1);
    expect(span!.attributes['llmaudit.span_type']).toBe('ERROR');
    expect(span!.attributes['error.type']).toMatch(/upstream/);
    expect(h.sink.entries[0]!.trace.spanType).toBe('ERROR');
  });

  it('classifies an upstream that never answers (headers timeout) as ERROR with error.type timeout', async () => {
    const h = await harness({}, undefined, undefined, { timeouts: { headersMs: 100 } });
    h.upstream.script({ frames: [], hang: true });
    await expect(ask(h, [{ role: 'user', content: 'hi' }])).rejects.toThrow();
    await h.ended(1);
    await h.tracer.flush();
    const [span] = await h.receiver.waitFor((s) => s.length >= 1);
    expect(span!.attributes).toMatchObject({ 'llmaudit.span_type': 'ERROR', 'error.type': 'timeout', 'http.response.status_code': 504 });
    expect(h.sink.entries[0]!.trace).toMatchObject({ spanType: 'ERROR', spanId: span!.spanId });
  });

  it('keeps traffic flowing when the collector is down, and counts the dropped spans', async () => {
    const h = await harness({ timeoutMs: 500 });
    await h.receiver.close(); // the collector goes away
    for (let i = 0; i < 5; i++) {
      const r = await ask(h, [{ role: 'user', content: `question ${i}` }]);
      expect(r.choices[0]!.message.content).toBe('Hello.');
    }
    expect(h.sink.entries).toHaveLength(5);
    // The span ends after the append, possibly after the client has its answer: wait for all
    // five, else the flush below can run before the last span exists (and count 4).
    await h.ended(5);
    await h.tracer.flush();
    const dropped = (await h.registry.getSingleMetric('llmaudit_telemetry_spans_dropped_total')!.get()).values;
    expect(dropped.filter((v) => v.labels['reason'] === 'export_failed').reduce((n, v) => n + v.value, 0)).toBe(5);
  });
});

describe('providers behind the OpenAI wire format', () => {
  it('Azure OpenAI (deployment path, AzureOpenAI client): gen_ai.provider.name azure.ai.openai, named after the deployment', async () => {
    const h = await harness({}, undefined, { name: 'azure', api: 'azure-openai' });
    const azure = new AzureOpenAI({ endpoint: `${h.stack.base}/azure`, apiKey: 'azure-key', apiVersion: '2024-10-21', deployment: 'gpt-4o-prod', maxRetries: 0 });
    await azure.chat.completions.create({ model: 'gpt-4o-prod', messages: [{ role: 'user', content: 'hi from azure' }] });
    await h.ended(1);
    await h.tracer.flush();
    const [span] = await h.receiver.waitFor((s) => s.length >= 1);
    expect(h.upstream.requests[0]!.url).toMatch(/^\/openai\/deployments\/gpt-4o-prod\/chat\/completions\?api-version=/);
    expect(span).toMatchObject({ name: 'chat gpt-4o-prod', kind: SPAN_KIND_CLIENT });
    expect(span!.attributes).toMatchObject({ 'gen_ai.provider.name': 'azure.ai.openai', 'gen_ai.request.model': 'gpt-4o-prod', 'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'llmaudit.span_type': 'FINAL_RESPONSE' });
    expect(h.sink.entries[0]!.trace.spanId).toBe(span!.spanId);
  });

  it('Ollama\'s OpenAI-compatible /v1 (openai client): gen_ai.provider.name ollama', async () => {
    const h = await harness({}, undefined, { name: 'ollama', api: 'ollama' });
    await h.client.chat.completions.create({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'hi from ollama' }] });
    await h.ended(1);
    await h.tracer.flush();
    const [span] = await h.receiver.waitFor((s) => s.length >= 1);
    expect(span!.name).toBe('chat qwen3:8b');
    expect(span!.attributes).toMatchObject({ 'gen_ai.provider.name': 'ollama', 'llmaudit.api': 'openai.chat', 'gen_ai.usage.input_tokens': 12 });
  });
});
