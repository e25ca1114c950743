/**
 * The tracer driven directly with normalized exchanges (no proxy), exporting to a real OTLP/HTTP
 * receiver on port 0: span shape, ids equal to what begin() returned, tool-result spans, trace
 * context, sampling, content opt-in, hot reload, and a collector that is down.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createTracer, type OtelTracer } from '../../sidecar/src/telemetry/otel-tracer.ts';
import { classifyExchange } from '../../sidecar/src/telemetry/classify.ts';
import { startOtlpReceiver, SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { exchange, outcome, requestInfo, silentLogger, telemetryConfig } from './exchange-builders.ts';
import type { TelemetryConfig, TracerLogger } from '../../sidecar/src/telemetry/otel-tracer.ts';

let receiver: OtlpReceiver;
let tracer: OtelTracer;
let registry: Registry;
const cleanups: Array<() => Promise<void>> = [];

function makeTracer(over: { [K in keyof TelemetryConfig]?: TelemetryConfig[K] | undefined } = {}, logger: TracerLogger = silentLogger): OtelTracer {
  registry = new Registry();
  const t = createTracer({
    telemetry: telemetryConfig({ otlpEndpoint: receiver.url, ...over }),
    resource: { serviceName: 'agent', namespace: 'ns1', podName: 'agent-0', podUid: 'uid-1', containerName: 'app' },
    registry,
    logger,
  });
  cleanups.push(() => t.close());
  return t;
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return Number(v?.value ?? 0);
}

const byType = (spans: ReceivedSpan[], t: string) => spans.filter((s) => s.attributes['llmaudit.span_type'] === t);

beforeEach(async () => {
  receiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('exchange spans', () => {
  it('exports one CLIENT span per exchange with the GenAI attributes and the ids begin() returned', async () => {
    tracer = makeTracer();
    const x = exchange({ stream: true });
    const h = tracer.begin(requestInfo(x, { startedAt: 1_700_000_000_000 }));
    const type = classifyExchange({ exchange: x, status: 200, errorType: null });
    h.end(outcome(x, type, { endedAt: 1_700_000_000_250, seq: 7 }));
    await tracer.flush();
    const [s] = await receiver.waitFor((sp) => sp.length >= 1);
    expect(s).toMatchObject({ traceId: h.ids.traceId, spanId: h.ids.spanId, name: 'chat gpt-4o-mini', kind: SPAN_KIND_CLIENT, startMs: 1_700_000_000_000, endMs: 1_700_000_000_250 });
    expect(s!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.response.id': 'resp-1',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 42,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.usage.cache_read.input_tokens': 10,
      'gen_ai.request.stream': true,
      'gen_ai.response.time_to_first_chunk': 0.012,
      'gen_ai.conversation.id': h.ids.conversationId,
      'server.address': 'api.openai.com',
      'server.port': 443,
      'llmaudit.span_type': 'FINAL_RESPONSE',
      'llmaudit.request_type': 'USER_PROMPT',
      'llmaudit.seq': 7,
      'llmaudit.entry_hash': 'ab'.repeat(32),
      'llmaudit.origin': 'llmaudit.dev/test',
    });
    expect(s!.attributes['gen_ai.input.messages']).toBeUndefined(); // content is opt-in
    expect(s!.resource).toMatchObject({ 'service.name': 'agent', 'k8s.namespace.name': 'ns1', 'k8s.pod.name': 'agent-0', 'k8s.pod.uid': 'uid-1', 'k8s.container.name': 'app' });
    expect(h.upstreamHeaders['traceparent']).toBe(`00-${h.ids.traceId}-${h.ids.spanId}-01`);
  });

  it('reports cache and reasoning tokens where the API does, and the provider as detected (azure.ai.openai, ollama)', async () => {
    tracer = makeTracer();
    const azure = { ...exchange({ model: 'gpt-4o-deploy' }), provider: 'azure.ai.openai' as const, usage: { inputTokens: 100, outputTokens: 50, cacheReadTokens: 60, reasoningTokens: 30 } };
    const claude = { ...exchange({ family: 'anthropic', firstUser: 'b' }), usage: { inputTokens: 5, outputTokens: 9, cacheReadTokens: 0, cacheCreationTokens: 400 } };
    const ollama = { ...exchange({ family: 'ollama', firstUser: 'c' }), usage: { inputTokens: 3, outputTokens: 4 } };
    for (const x of [azure, claude, ollama]) tracer.begin(requestInfo(x)).end(outcome(x, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 3);
    const by = (p: string) => spans.find((s) => s.attributes['gen_ai.provider.name'] === p)!.attributes;
    expect(by('azure.ai.openai')).toMatchObject({ 'gen_ai.usage.cache_read.input_tokens': 60, 'gen_ai.usage.reasoning.output_tokens': 30 });
    expect(by('anthropic')).toMatchObject({ 'gen_ai.usage.cache_read.input_tokens': 0, 'gen_ai.usage.cache_creation.input_tokens': 400 });
    expect(by('anthropic')['gen_ai.usage.reasoning.output_tokens']).toBeUndefined();
    expect(by('ollama')).toMatchObject({ 'gen_ai.usage.input_tokens': 3, 'gen_ai.usage.output_tokens': 4 });
    for (const k of ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_creation.input_tokens', 'gen_ai.usage.reasoning.output_tokens']) {
      expect(by('ollama')[k]).toBeUndefined(); // not reported: absent, not 0
    }
    // Non-streamed: no time to first chunk (semconv defines it for streamed responses only).
    expect(by('ollama')['gen_ai.response.time_to_first_chunk']).toBeUndefined();
  });

  it('puts message content on spans only when captureContent is on', async () => {
    tracer = makeTracer({ captureContent: true });
    const x = exchange();
    tracer.begin(requestInfo(x)).end(outcome(x, 'FINAL_RESPONSE'));
    await tracer.flush();
    const [s] = await receiver.waitFor((sp) => sp.length >= 1);
    expect(JSON.parse(String(s!.attributes['gen_ai.input.messages']))).toEqual(x.messages.input);
    expect(JSON.parse(String(s!.attributes['gen_ai.output.messages']))).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'Sunny in both.' }], finish_reason: 'stop' }]);
    expect(JSON.parse(String(s!.attributes['gen_ai.system_instructions']))).toEqual([{ type: 'text', content: 'You are a weather bot.' }]);
    expect(JSON.parse(String(s!.attributes['gen_ai.tool.definitions']))[0]).toMatchObject({ type: 'function', name: 'get_weather' });
  });

  it('marks errors with error.type and an ERROR status', async () => {
    tracer = makeTracer();
    const x = exchange();
    tracer.begin(requestInfo(x)).end(outcome(null, 'ERROR', { status: 504, errorType: 'upstream_timeout' }));
    const y = exchange({ firstUser: 'other' });
    tracer.begin(requestInfo(y)).end(outcome(y, 'ERROR', { status: 429 }));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 2);
    expect(spans.map((s) => [s.attributes['error.type'], s.statusCode, s.attributes['http.response.status_code']])).toEqual([
      ['upstream_timeout', 2, 504],
      ['429', 2, 429],
    ]);
  });

  it('names opaque traffic by its HTTP method and gives it a random trace', async () => {
    tracer = makeTracer();
    const a = tracer.begin(requestInfo(null, { method: 'GET', path: '/v1/models' }));
    const b = tracer.begin(requestInfo(null, { method: 'GET', path: '/v1/models' }));
    a.end(outcome(null, 'FINAL_RESPONSE'));
    b.end(outcome(null, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 2);
    expect(spans[0]!.name).toBe('GET');
    expect(a.ids.traceId).not.toBe(b.ids.traceId);
    expect(a.ids.conversationId).toBeNull();
  });
});

describe('one trace per agent run', () => {
  it('links two parallel tool calls to their results with execute_tool spans in the same trace', async () => {
    tracer = makeTracer();
    const calls = [
      { id: 'call_paris', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'call_rome', name: 'get_weather', arguments: '{"city":"Rome"}' },
    ];
    const t0 = Date.now();
    const x1 = exchange({ toolCalls: calls });
    const h1 = tracer.begin(requestInfo(x1, { startedAt: t0 }));
    h1.end(outcome(x1, classifyExchange({ exchange: x1, status: 200, errorType: null }), { endedAt: t0 + 100 }));

    const x2 = exchange({ history: true, toolResults: [{ callId: 'call_paris', content: '18C' }, { callId: 'call_rome', content: '24C' }] });
    const h2 = tracer.begin(requestInfo(x2, { startedAt: t0 + 160 }));
    h2.end(outcome(x2, classifyExchange({ exchange: x2, status: 200, errorType: null }), { endedAt: t0 + 300 }));

    // A third turn re-sends the same tool results (chat APIs send the whole history): no new execute_tool spans.
    const x3 = exchange({ history: true, toolResults: x2.toolResults });
    tracer.begin(requestInfo(x3, { startedAt: t0 + 400 })).end(outcome(x3, 'FINAL_RESPONSE', { endedAt: t0 + 500 }));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 5);
    expect(spans).toHaveLength(5);

    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([h1.ids.traceId]));
    expect(h1.ids.requestType).toBe('USER_PROMPT');
    expect(h2.ids.requestType).toBeNull();
    expect(h2.ids.parentSpanId).toBe(h1.ids.spanId); // later turns hang under the opening exchange
    const [toolCall] = byType(spans, 'TOOL_CALL');
    expect(toolCall!.attributes['llmaudit.request_type']).toBe('USER_PROMPT');
    expect(toolCall!.parentSpanId).toBe('');
    const tools = byType(spans, 'TOOL_RESULT');
    expect(tools.map((s) => s.attributes['gen_ai.tool.call.id']).sort()).toEqual(['call_paris', 'call_rome']);
    for (const s of tools) {
      expect(s).toMatchObject({ name: 'execute_tool get_weather', kind: SPAN_KIND_INTERNAL, parentSpanId: h1.ids.spanId, startMs: t0 + 100, endMs: t0 + 160 });
      expect(s.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather' });
      expect(s.links.map((l) => [l.spanId, l.attributes['llmaudit.link']])).toEqual([
        [h1.ids.spanId, 'tool_call'],
        [h2.ids.spanId, 'tool_result'],
      ]);
    }
    expect(byType(spans, 'FINAL_RESPONSE')).toHaveLength(2);
  });

  it('links a tool result that arrives before the tool-call exchange has ended', async () => {
    // The proxy ends a span after the entry is appended; a fast client can already send the
    // tool result by then, so the result must wait for the call instead of being lost.
    tracer = makeTracer();
    const t0 = Date.now();
    const x1 = exchange({ toolCalls: [{ id: 'call_fast', name: 'get_weather', arguments: '{}' }] });
    const h1 = tracer.begin(requestInfo(x1, { startedAt: t0 }));
    const x2 = exchange({ history: true, toolResults: [{ callId: 'call_fast', content: '18C' }] });
    const h2 = tracer.begin(requestInfo(x2, { startedAt: t0 + 50 }));
    h1.end(outcome(x1, 'TOOL_CALL', { endedAt: t0 + 60 }));
    h2.end(outcome(x2, 'FINAL_RESPONSE', { endedAt: t0 + 90 }));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 3);
    const [tool] = byType(spans, 'TOOL_RESULT');
    expect(tool).toMatchObject({ parentSpanId: h1.ids.spanId, startMs: t0 + 50, endMs: t0 + 50 });
    expect(tool!.attributes['gen_ai.tool.call.id']).toBe('call_fast');
  });

  it('matches Ollama tool results by tool name when the call id is not echoed', async () => {
    tracer = makeTracer();
    const x1 = exchange({ family: 'ollama', toolCalls: [{ id: 'ollama-0', name: 'get_weather', arguments: '{}' }] });
    const h1 = tracer.begin(requestInfo(x1));
    h1.end(outcome(x1, 'TOOL_CALL'));
    const x2 = exchange({ family: 'ollama', history: true, toolResults: [{ callId: 'tool-result-0', name: 'get_weather', content: '18C' }] });
    tracer.begin(requestInfo(x2)).end(outcome(x2, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 3);
    const [tool] = byType(spans, 'TOOL_RESULT');
    expect(tool).toMatchObject({ traceId: h1.ids.traceId, parentSpanId: h1.ids.spanId });
    expect(tool!.attributes['gen_ai.tool.call.id']).toBe('ollama-0');
  });

  it('derives a stable trace per conversation and a different one per conversation', () => {
    tracer = makeTracer();
    const a1 = tracer.begin(requestInfo(exchange()));
    const a2 = tracer.begin(requestInfo(exchange({ history: true })));
    const b1 = tracer.begin(requestInfo(exchange({ firstUser: 'Weather in Oslo?' })));
    const c1 = tracer.begin(requestInfo(exchange({ system: 'You are a travel agent.' })));
    expect(a2.ids.traceId).toBe(a1.ids.traceId);
    expect(a2.ids.conversationId).toBe(a1.ids.conversationId);
    expect(new Set([a1.ids.traceId, b1.ids.traceId, c1.ids.traceId]).size).toBe(3);
    for (const h of [a1, a2, b1, c1]) h.end(outcome(null, 'FINAL_RESPONSE'));
  });

  it('gives a retried opening request a fresh span id under the first one (no duplicate span ids)', () => {
    tracer = makeTracer();
    const first = tracer.begin(requestInfo(exchange()));
    const retry = tracer.begin(requestInfo(exchange()));
    expect(retry.ids.traceId).toBe(first.ids.traceId);
    expect(retry.ids.spanId).not.toBe(first.ids.spanId);
    expect(retry.ids.parentSpanId).toBe(first.ids.spanId);
  });
});

describe('trace context', () => {
  it('continues an incoming traceparent as its child and forwards tracestate', async () => {
    tracer = makeTracer();
    const parent = '4bf92f3577b34da6a3ce929d0e0e4736';
    const h = tracer.begin(requestInfo(exchange(), { headers: { traceparent: `00-${parent}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc' } }));
    h.end(outcome(null, 'FINAL_RESPONSE'));
    await tracer.flush();
    const [s] = await receiver.waitFor((sp) => sp.length >= 1);
    expect(s).toMatchObject({ traceId: parent, parentSpanId: '00f067aa0ba902b7', spanId: h.ids.spanId });
    expect(h.ids.parentSpanId).toBe('00f067aa0ba902b7');
    expect(h.ids.conversationId).not.toBe(parent); // still the conversation's own id
    expect(h.upstreamHeaders).toEqual({ traceparent: `00-${parent}-${h.ids.spanId}-01`, tracestate: 'vendor=abc' });
  });

  it('honours the caller not sampling (flag 00): nothing exported, context still forwarded', async () => {
    tracer = makeTracer();
    const h = tracer.begin(requestInfo(exchange(), { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' } }));
    h.end(outcome(null, 'FINAL_RESPONSE'));
    const y = exchange({ firstUser: 'sampled one' });
    tracer.begin(requestInfo(y)).end(outcome(y, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 1);
    expect(spans.map((s) => s.traceId)).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(h.upstreamHeaders['traceparent']).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${h.ids.spanId}-00`);
  });

  it('honours X-Trace-ID / X-Span-ID / X-Parent-Span-ID', async () => {
    tracer = makeTracer();
    const traceId = 'a'.repeat(32);
    const h1 = tracer.begin(requestInfo(exchange(), { headers: { 'x-trace-id': traceId.toUpperCase(), 'x-span-id': '1111111111111111' } }));
    const h2 = tracer.begin(requestInfo(exchange({ history: true }), { headers: { 'x-trace-id': traceId, 'x-span-id': '2222222222222222', 'x-parent-span-id': '1111111111111111' } }));
    h1.end(outcome(null, 'TOOL_CALL'));
    h2.end(outcome(null, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 2);
    expect(spans.map((s) => [s.traceId, s.spanId, s.parentSpanId])).toEqual([
      [traceId, '1111111111111111', ''],
      [traceId, '2222222222222222', '1111111111111111'],
    ]);
    expect(h2.ids).toMatchObject({ traceId, spanId: '2222222222222222', parentSpanId: '1111111111111111' });
  });

  it('does not forward traceparent when propagate is off', () => {
    tracer = makeTracer({ propagate: false });
    expect(tracer.begin(requestInfo(exchange())).upstreamHeaders).toEqual({});
  });
});

describe('sampling and export', () => {
  it('samples whole conversations: ratio 0 exports nothing but ids are still assigned', async () => {
    tracer = makeTracer({ samplingRatio: 0 });
    const h = tracer.begin(requestInfo(exchange()));
    h.end(outcome(null, 'FINAL_RESPONSE'));
    await tracer.flush();
    expect(h.ids.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(h.upstreamHeaders['traceparent']).toMatch(/-00$/);
    tracer.reload(telemetryConfig({ otlpEndpoint: receiver.url, samplingRatio: 1 }));
    const y = exchange({ firstUser: 'after reload' });
    tracer.begin(requestInfo(y)).end(outcome(y, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 1);
    expect(spans).toHaveLength(1);
    expect(receiver.requests).toBe(1);
  });

  it('hot-reloads the endpoint and content capture for new exchanges', async () => {
    tracer = makeTracer();
    const second = await startOtlpReceiver();
    cleanups.push(() => second.close());
    const x = exchange({ firstUser: 'before' });
    tracer.begin(requestInfo(x)).end(outcome(x, 'FINAL_RESPONSE'));
    await tracer.flush();
    tracer.reload(telemetryConfig({ otlpEndpoint: second.url, captureContent: true }));
    const y = exchange({ firstUser: 'after' });
    tracer.begin(requestInfo(y)).end(outcome(y, 'FINAL_RESPONSE'));
    await tracer.flush();
    const [moved] = await second.waitFor((sp) => sp.length >= 1);
    expect(receiver.spans).toHaveLength(1);
    expect(receiver.spans[0]!.attributes['gen_ai.output.messages']).toBeUndefined();
    expect(moved!.attributes['gen_ai.output.messages']).toBeDefined();
  });

  it('without an OTLP endpoint builds no spans but still assigns conversation ids and traceparent; a reload starts exporting', async () => {
    tracer = makeTracer({ otlpEndpoint: undefined });
    const a1 = tracer.begin(requestInfo(exchange()));
    const a2 = tracer.begin(requestInfo(exchange({ history: true })));
    expect(a2.ids.traceId).toBe(a1.ids.traceId);
    expect(a1.ids.conversationId).not.toBeNull();
    expect(a1.upstreamHeaders.traceparent).toBe(`00-${a1.ids.traceId}-${a1.ids.spanId}-01`);
    a1.end(outcome(exchange(), 'TOOL_CALL'));
    a2.end(outcome(exchange({ history: true }), 'FINAL_RESPONSE'));
    await tracer.flush();
    expect(await metric('llmaudit_telemetry_spans_exported_total')).toBe(0);
    tracer.reload(telemetryConfig({ otlpEndpoint: receiver.url }));
    const x = exchange({ firstUser: 'after the reload' });
    const h = tracer.begin(requestInfo(x));
    h.end(outcome(x, 'FINAL_RESPONSE'));
    await tracer.flush();
    const [span] = await receiver.waitFor((sp) => sp.length >= 1);
    expect(span!.spanId).toBe(h.ids.spanId);
    expect(receiver.spans).toHaveLength(1);
  });

  it('keeps working when the collector refuses exports: drops are counted, logged once per interval', async () => {
    const warnings: object[] = [];
    tracer = makeTracer({}, { warn: (o: object) => void warnings.push(o), info() {} });
    receiver.failWith(400); // not retryable: the exporter gives up at once
    for (let i = 0; i < 20; i++) {
      const x = exchange({ firstUser: `q${i}` });
      const h = tracer.begin(requestInfo(x));
      h.end(outcome(x, 'FINAL_RESPONSE'));
      await tracer.flush();
    }
    expect(await metric('llmaudit_telemetry_spans_dropped_total', { reason: 'export_failed' })).toBe(20);
    expect(warnings).toHaveLength(1);
    receiver.failWith(null);
    const x = exchange({ firstUser: 'recovered' });
    tracer.begin(requestInfo(x)).end(outcome(x, 'FINAL_RESPONSE'));
    await tracer.flush();
    await receiver.waitFor((sp) => sp.length >= 1);
    expect(await metric('llmaudit_telemetry_spans_exported_total')).toBe(1);
  });

  it('sends the configured headers to the collector, and a reload changes them', async () => {
    tracer = makeTracer({ headers: { authorization: 'Bearer otlp-1', 'x-tenant': 'shop' } });
    const x = exchange({ firstUser: 'h1' });
    tracer.begin(requestInfo(x)).end(outcome(x, 'FINAL_RESPONSE'));
    await tracer.flush();
    await receiver.waitFor((sp) => sp.length >= 1);
    expect(receiver.lastHeaders).toMatchObject({ authorization: 'Bearer otlp-1', 'x-tenant': 'shop' });
    tracer.reload(telemetryConfig({ otlpEndpoint: receiver.url, headers: { authorization: 'Bearer otlp-2' }, timeoutMs: 2_000 }));
    const y = exchange({ firstUser: 'h2' });
    tracer.begin(requestInfo(y)).end(outcome(y, 'FINAL_RESPONSE'));
    await tracer.flush();
    await receiver.waitFor((sp) => sp.length >= 2);
    expect(receiver.lastHeaders['authorization']).toBe('Bearer otlp-2');
    expect(receiver.lastHeaders['x-tenant']).toBeUndefined();
  });

  it('an unreachable collector (nothing listening) costs no exchange, is counted, and is logged once per interval', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    await receiver.close(); // connection refused from now on
    tracer = makeTracer({ timeoutMs: 200 }, { warn: (o: object) => void warnings.push(o as Record<string, unknown>), info() {} });
    for (let i = 0; i < 6; i++) {
      const x = exchange({ firstUser: `down ${i}` });
      const h = tracer.begin(requestInfo(x)); // returns at once: nothing waits on the collector
      expect(h.ids.traceId).toMatch(/^[0-9a-f]{32}$/);
      h.end(outcome(x, 'FINAL_RESPONSE'));
      if (i % 2 === 1) await tracer.flush();
    }
    await tracer.flush();
    expect(await metric('llmaudit_telemetry_spans_dropped_total', { reason: 'export_failed' })).toBe(6);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ reason: 'export_failed' });
  });

  it('drops and counts spans beyond the bounded queue instead of growing', async () => {
    tracer = makeTracer({ maxQueueSize: 4, exportIntervalMs: 60_000 });
    await tracer.ready();
    for (let i = 0; i < 10; i++) {
      const x = exchange({ firstUser: `q${i}` });
      tracer.begin(requestInfo(x)).end(outcome(x, 'FINAL_RESPONSE'));
    }
    // At most one batch in flight (4) plus a full queue (4) is held: the other 2 are dropped.
    expect(await metric('llmaudit_telemetry_spans_dropped_total', { reason: 'queue_full' })).toBe(2);
    await tracer.flush();
    const exported = await metric('llmaudit_telemetry_spans_exported_total');
    const dropped = await metric('llmaudit_telemetry_spans_dropped_total', { reason: 'queue_full' });
    expect(exported + dropped).toBe(10);
  });

  it('counts tool calls forgotten by the bounded memory', async () => {
    tracer = makeTracer({ toolCallMemory: 2 });
    await tracer.ready();
    const x = exchange({ toolCalls: [1, 2, 3, 4, 5].map((i) => ({ id: `call_${i}`, name: 't', arguments: '{}' })) });
    tracer.begin(requestInfo(x)).end(outcome(x, 'TOOL_CALL'));
    expect(await metric('llmaudit_telemetry_tool_call_evictions_total', { reason: 'capacity' })).toBe(3);
  });
});
