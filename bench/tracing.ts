/**
 * What tracing costs one exchange (target: ≤ 0.1 ms p50 added).
 *
 * Runs begin() + end() for a realistic exchange (OpenAI chat, every other turn asks for two tools
 * and the next one carries their results) with
 *   - the NOOP tracer (telemetry off),
 *   - the OpenTelemetry tracer at 100 % sampling exporting OTLP/JSON to a real receiver on port 0,
 *   - the same with content capture on,
 * and prints per-exchange latency percentiles plus the amortized wall time per exchange, which
 * also contains the background batching/serialization/export work — and, since the receiver runs
 * in this process, its JSON decoding too (so the amortized figure is an upper bound).
 *
 *   npm run bench -- tracing [--iterations 20000]     (or: npx tsx bench/tracing.ts)
 */
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { Value } from '@sinclair/typebox/value';
import { TelemetrySchema } from '../sidecar/src/config/schema.ts';
import type { NormalizedExchange } from '../sidecar/src/adapters/types.ts';
import { NOOP_TRACER } from '../sidecar/src/telemetry/noop-tracer.ts';
import { createTracer, type TelemetryConfig } from '../sidecar/src/telemetry/otel-tracer.ts';
import { classifyExchange } from '../sidecar/src/telemetry/classify.ts';
import type { ExchangeTracer } from '../sidecar/src/telemetry/types.ts';
import { startOtlpReceiver } from '../test/support/otlp-receiver.ts';

export interface TracingBenchRow {
  name: string;
  iterations: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Wall time / iterations, including the background export work. */
  amortizedMs: number;
  spansReceived: number;
}

function turn(i: number): NormalizedExchange {
  const run = Math.floor(i / 2);
  const callsTools = i % 2 === 0;
  const ids = [`call_${run}_a`, `call_${run}_b`];
  return {
    api: 'openai.chat',
    provider: 'openai',
    operation: 'chat',
    stream: true,
    requestModel: 'gpt-4o',
    responseModel: 'gpt-4o-2024-08-06',
    responseId: `chatcmpl-${i}`,
    messages: {
      count: callsTools ? 2 : 5,
      roles: callsTools ? { system: 1, user: 1 } : { system: 1, user: 1, assistant: 1, tool: 2 },
      system: 'You are a weather assistant. Answer briefly and use the tools when you need data.',
      firstUser: `What is the weather in Paris and in Tokyo? (run ${run})`,
      hasHistory: !callsTools,
      toolDefinitions: [{ name: 'get_weather', description: 'Current weather for a city' }],
      input: [{ role: 'user', parts: [{ type: 'text', content: `What is the weather in Paris and in Tokyo? (run ${run})` }] }],
    },
    toolResults: callsTools ? [] : ids.map((callId) => ({ callId, content: '{"temp_c":18}' })),
    toolCalls: callsTools ? ids.map((id, k) => ({ id, name: 'get_weather', arguments: `{"location":"${k === 0 ? 'Paris' : 'Tokyo'}"}` })) : [],
    outputText: callsTools ? null : 'Paris: 18 °C and sunny. Tokyo: 24 °C, light rain.',
    reasoningText: null,
    finishReasons: [callsTools ? 'tool_calls' : 'stop'],
    usage: { inputTokens: 420, outputTokens: 38, cacheReadTokens: 256 },
    reconstructed: {},
    chunks: 24,
    apiError: null,
    complete: true,
  };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

async function measure(name: string, tracer: ExchangeTracer, iterations: number, received: () => number, flush: () => Promise<void>): Promise<TracingBenchRow> {
  const exchanges = Array.from({ length: 64 }, (_, i) => turn(i));
  const one = (i: number) => {
    const x = exchanges[i % exchanges.length]!;
    const startedAt = Date.now();
    const h = tracer.begin({ endpoint: 'openai', method: 'POST', path: '/v1/chat/completions', headers: { 'user-agent': 'OpenAI/JS 6.0.0' }, serverAddress: 'api.openai.com', serverPort: 443, startedAt, request: x });
    h.end({ exchange: x, status: 200, errorType: null, spanType: classifyExchange({ exchange: x, status: 200, errorType: null }), endedAt: startedAt + 1, ttfbMs: 0.4, seq: i, entryHash: 'ab'.repeat(32), origin: 'llmaudit.dev/bench/pod/uid' });
  };
  for (let i = 0; i < 2_000; i++) one(i); // warm-up (JIT)
  await flush();
  const samples = new Array<number>(iterations);
  const before = received();
  const wall0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    one(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    // Let the export run as it would between requests of a real server.
    if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
  await flush();
  const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;
  samples.sort((a, b) => a - b);
  const r3 = (n: number) => Math.round(n * 1000) / 1000;
  return {
    name,
    iterations,
    p50Ms: r3(pct(samples, 0.5)),
    p90Ms: r3(pct(samples, 0.9)),
    p99Ms: r3(pct(samples, 0.99)),
    meanMs: r3(samples.reduce((a, b) => a + b, 0) / iterations),
    amortizedMs: r3(wallMs / iterations),
    spansReceived: received() - before,
  };
}

export async function runTracingBench(iterations = 20_000): Promise<TracingBenchRow[]> {
  const receiver = await startOtlpReceiver();
  const rows: TracingBenchRow[] = [];
  try {
    rows.push(await measure('noop', NOOP_TRACER, iterations, () => 0, async () => {}));
    for (const captureContent of [false, true]) {
      const telemetry: TelemetryConfig = { ...(Value.Default(TelemetrySchema, {}) as TelemetryConfig), otlpEndpoint: receiver.url, samplingRatio: 1, captureContent, maxQueueSize: 8192 };
      const tracer = createTracer({ telemetry, resource: { serviceName: 'bench' }, registry: new Registry(), logger: { warn() {}, info() {} } });
      rows.push(await measure(captureContent ? 'otel 100% + content' : 'otel 100%', tracer, iterations, () => receiver.spans.length, () => tracer.flush()));
      await tracer.close();
      receiver.spans.length = 0; // keep the receiver's memory flat between rows
    }
  } finally {
    await receiver.close();
  }
  return rows;
}

export function printTracingTable(rows: TracingBenchRow[]): void {
  const base = rows[0]?.p50Ms ?? 0;
  console.log('tracer                 p50 ms   p90 ms   p99 ms  mean ms  amortized ms  +p50 vs noop  spans');
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(20)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p90Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)} ${r.meanMs.toFixed(3).padStart(8)} ${r.amortizedMs.toFixed(3).padStart(13)} ${(r.p50Ms - base).toFixed(3).padStart(13)} ${String(r.spansReceived).padStart(6)}`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--iterations');
  const iterations = at === -1 ? 20_000 : Number(process.argv[at + 1]);
  const rows = await runTracingBench(iterations);
  printTracingTable(rows);
  const added = (rows[1]?.p50Ms ?? 0) - (rows[0]?.p50Ms ?? 0);
  console.log(`target: tracing adds <= 0.1 ms p50 -> ${added.toFixed(3)} ms ${added <= 0.1 ? 'ok' : 'MISSED'}`);
  process.stdout.write(`${JSON.stringify({ bench: 'tracing', target: { addedP50Ms: 0.1 }, addedP50Ms: Math.round(added * 1000) / 1000, rows })}
`);
}
