/**
 * begin() hands out ids and the upstream traceparent at once and creates the SDK span after the
 * request is forwarded (next event-loop turn, or end()). These tests pin what must not move with
 * that deferral; test/tracing/tracer.test.ts covers the span shapes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { createTracer, ratioSampled, type OtelTracer, type TelemetryConfig } from './otel-tracer.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../../../test/support/otlp-receiver.ts';
import { exchange, outcome, requestInfo, silentLogger, telemetryConfig } from '../../../test/tracing/exchange-builders.ts';

let receiver: OtlpReceiver;
const cleanups: Array<() => Promise<void>> = [];

function makeTracer(over: Partial<TelemetryConfig> = {}): OtelTracer {
  const t = createTracer({ telemetry: telemetryConfig({ otlpEndpoint: receiver.url, ...over }), resource: { serviceName: 'agent' }, registry: new Registry(), logger: silentLogger });
  cleanups.push(() => t.close());
  return t;
}

beforeEach(async () => {
  receiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('deferred span creation', () => {
  it('keeps the sampling decision sent upstream when a reload lands between begin() and the span', async () => {
    // Regression guard: the span is created after begin(); it must not be sampled by a ratio
    // reloaded in between, or the trace backend and the upstream disagree.
    const tracer = makeTracer({ samplingRatio: 0 });
    const dropped = exchange({ firstUser: 'begun at ratio 0' });
    const h0 = tracer.begin(requestInfo(dropped));
    expect(h0.upstreamHeaders['traceparent']).toMatch(/-00$/);
    tracer.reload(telemetryConfig({ otlpEndpoint: receiver.url, samplingRatio: 1 }));
    const kept = exchange({ firstUser: 'begun at ratio 1' });
    const h1 = tracer.begin(requestInfo(kept));
    expect(h1.upstreamHeaders['traceparent']).toMatch(/-01$/);
    tracer.reload(telemetryConfig({ otlpEndpoint: receiver.url, samplingRatio: 0 }));
    h0.end(outcome(dropped, 'FINAL_RESPONSE'));
    h1.end(outcome(kept, 'FINAL_RESPONSE'));
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 1);
    expect(spans.map((s) => [s.traceId, s.spanId])).toEqual([[h1.ids.traceId, h1.ids.spanId]]);
  });

  it('gives the span the exchange start time, not the time it was created', async () => {
    const tracer = makeTracer();
    const x = exchange();
    const h = tracer.begin(requestInfo(x, { startedAt: 1_700_000_000_000 }));
    await new Promise((r) => setTimeout(r, 5)); // the span is created in between
    h.end(outcome(x, 'FINAL_RESPONSE', { endedAt: 1_700_000_000_400 }));
    await tracer.flush();
    const [s] = await receiver.waitFor((sp) => sp.length >= 1);
    expect(s).toMatchObject({ traceId: h.ids.traceId, spanId: h.ids.spanId, startMs: 1_700_000_000_000, endMs: 1_700_000_000_400 });
  });

  it('emits execute_tool spans for carried tool results before the carrying exchange ends', async () => {
    const tracer = makeTracer();
    const calls = [{ id: 'call_1', name: 'get_weather', arguments: '{}' }];
    const x1 = exchange({ toolCalls: calls });
    const t0 = Date.now();
    const h1 = tracer.begin(requestInfo(x1, { startedAt: t0 }));
    h1.end(outcome(x1, 'TOOL_CALL', { endedAt: t0 + 10 }));
    const x2 = exchange({ history: true, toolResults: [{ callId: 'call_1', content: '18C' }] });
    const h2 = tracer.begin(requestInfo(x2, { startedAt: t0 + 20 })); // still streaming: not ended
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 2);
    const tool = spans.find((s) => s.attributes['gen_ai.tool.call.id'] === 'call_1');
    expect(tool).toMatchObject({ traceId: h1.ids.traceId, parentSpanId: h1.ids.spanId, startMs: t0 + 10, endMs: t0 + 20 });
    expect(spans.some((s) => s.spanId === h2.ids.spanId)).toBe(false);
  });
});

describe('the OpenTelemetry SDK, loaded only when a config exports', () => {
  it('is not loaded by a tracer without an OTLP endpoint, and is after a reload adds one', async () => {
    const tracer = createTracer({ telemetry: telemetryConfig({ otlpEndpoint: undefined }), resource: { serviceName: 'agent' }, registry: new Registry(), logger: silentLogger });
    cleanups.push(() => tracer.close());
    const x0 = exchange({ firstUser: 'before export' });
    const h0 = tracer.begin(requestInfo(x0));
    expect(h0.inert).toBe(true);
    expect(h0.upstreamHeaders['traceparent']).toBe(`00-${h0.ids.traceId}-${h0.ids.spanId}-01`);
    h0.end(outcome(x0, 'FINAL_RESPONSE'));
    await tracer.ready();
    await tracer.flush();
    expect(tracer.sdkLoaded).toBe(false);

    tracer.reload(telemetryConfig({ otlpEndpoint: receiver.url }));
    // Begun and ended while the pipeline loads: its span is built when it is there.
    const x1 = exchange({ firstUser: 'after export', toolCalls: [{ id: 'call_9', name: 'lookup', arguments: '{}' }] });
    const h1 = tracer.begin(requestInfo(x1, { startedAt: 1_700_000_000_000 }));
    expect(h1.inert).toBeUndefined();
    h1.end(outcome(x1, 'TOOL_CALL', { endedAt: 1_700_000_000_250 }));
    expect(tracer.sdkLoaded).toBe(false);
    await tracer.ready();
    expect(tracer.sdkLoaded).toBe(true);
    await tracer.flush();
    const spans = await receiver.waitFor((sp) => sp.length >= 1);
    expect(spans.map((s) => ({ traceId: s.traceId, spanId: s.spanId, startMs: s.startMs, endMs: s.endMs }))).toEqual([
      { traceId: h1.ids.traceId, spanId: h1.ids.spanId, startMs: 1_700_000_000_000, endMs: 1_700_000_000_250 },
    ]);
  });

  it('decides root sampling by the rule of the SDK\'s TraceIdRatioBasedSampler', () => {
    const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
    const ratio = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 0.5, 1e-9, 1 - 1e-9));
    fc.assert(
      fc.property(ratio, hex32, (r, traceId) => {
        const sdk = new TraceIdRatioBasedSampler(r).shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;
        expect(ratioSampled(r, traceId)).toBe(sdk);
      }),
      { numRuns: 2_000 },
    );
    expect(ratioSampled(1, '0'.repeat(32))).toBe(false); // the invalid trace id is never sampled, as in the SDK
  });
});
