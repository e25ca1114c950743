/**
 * The span side of the tracer (docs/tracing.md): the OpenTelemetry SDK's provider, sampler and
 * processor, one CLIENT span per exchange, one INTERNAL `execute_tool` span per tool result,
 * exported over OTLP/HTTP (JSON) through a bounded queue. otel-tracer.ts chooses every id and
 * sampling decision without the SDK and loads this module (a dynamic import) only when a pipeline
 * has an OTLP endpoint, at start or on a reload (docs/adr/0027-sidecar-memory-at-rest.md).
 *
 * Ids: the tracer hands the proxy the span's ids before the span exists in the SDK's eyes (they
 * go into the audit entry and the upstream traceparent), and a derived trace id must be the
 * trace id of a *root* span. The SDK's IdGenerator hook is the public way to choose ids: we load
 * the chosen ids into `PresetIds` right before `startSpan` (synchronous, so no other span can
 * take them) — see docs/adr/0005-trace-derivation.md for why not a synthetic remote parent.
 */
import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Link, type Span, type SpanContext } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler, type IdGenerator, type ReadableSpan, type Sampler, type SamplingResult, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ToolCall, ToolResult } from '../adapters/types.ts';
import { ExportQueue } from './export-queue.ts';
import { LazyOtlpExporter } from './lazy-exporter.ts';
import type { TelemetryConfig, TracerLogger, TracerResource } from './otel-tracer.ts';
import * as S from './semconv.ts';
import type { RandomIds } from './random-ids.ts';
import { contentAttributes, endAttributes, exchangeSpanName, startAttributes } from './span-attributes.ts';
import type { SpanIdentity } from './span-identity.ts';
import type { TelemetryMetrics } from './telemetry-metrics.ts';
import { ToolCallMemory, type RememberedCall } from './tool-call-memory.ts';
import type { ExchangeOutcome, TraceRequestInfo } from './types.ts';

export interface SpanPipelineOptions {
  telemetry: TelemetryConfig;
  resource: TracerResource;
  metrics: TelemetryMetrics;
  logger: TracerLogger;
  random: RandomIds;
  logIntervalMs: number;
}

/** What the tracer decided in begin(), before forwarding. */
export interface BegunExchange {
  info: TraceRequestInfo;
  id: SpanIdentity;
  conversationId: string | null;
  requestType: 'USER_PROMPT' | null;
  /** The root ratio's decision for the trace id, at the ratio of begin(). */
  rootSampled: boolean;
  /** The decision sent upstream: a remote parent's flag, else rootSampled. */
  sampled: boolean;
  /** The sampling ratio in force at begin(): a reload before the span exists must not change its decision. */
  samplingRatio: number;
}

export interface SpanPipeline {
  /** Creates the exchange's span on the next turn of the event loop or at end(), whichever comes first. */
  exchange(b: BegunExchange): { end(outcome: ExchangeOutcome): void };
  reload(cfg: TelemetryConfig): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BATCH = 512;
const EARLY_RESULTS = 1_000;
const EARLY_RESULT_MS = 60_000;

/** Ids chosen by begin(), consumed by the SDK's next startSpan (see the file comment). */
class PresetIds implements IdGenerator {
  traceId: string | undefined;
  spanId: string | undefined;
  constructor(private readonly random: RandomIds) {}
  generateTraceId(): string {
    const id = this.traceId ?? this.random.traceId();
    this.traceId = undefined;
    return id;
  }
  generateSpanId(): string {
    const id = this.spanId ?? this.random.spanId();
    this.spanId = undefined;
    return id;
  }
}

/** Parent-based ratio sampling at the ratio an exchange began with (see BegunExchange.samplingRatio). */
class PinnedRatioSampler implements Sampler {
  readonly #byRatio = new Map<number, Sampler>();
  ratio = 1;
  of(ratio: number): Sampler {
    let s = this.#byRatio.get(ratio);
    if (s === undefined) {
      if (this.#byRatio.size >= 8) this.#byRatio.clear(); // ratios a few reloads apart
      s = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
      this.#byRatio.set(ratio, s);
    }
    return s;
  }
  shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
    return this.of(this.ratio).shouldSample(...args);
  }
  toString(): string {
    return `Pinned{${this.of(this.ratio).toString()}}`;
  }
}

/** Lets a reload swap the export pipeline under a provider whose processors are fixed. */
class SwitchableProcessor implements SpanProcessor {
  current: ExportQueue | null = null;
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.current?.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await this.current?.forceFlush();
  }
  async shutdown(): Promise<void> {
    await this.current?.shutdown();
  }
}

function exportKey(t: TelemetryConfig): string {
  return JSON.stringify([t.otlpEndpoint ?? null, t.headers, t.timeoutMs, t.maxQueueSize, t.exportIntervalMs]);
}

export function createSpanPipeline(options: SpanPipelineOptions): SpanPipeline {
  const { logger, metrics, random } = options;
  let cfg = options.telemetry;
  const memory = new ToolCallMemory({
    maxEntries: cfg.toolCallMemory,
    maxAgeMs: cfg.toolCallMaxAgeMs,
    onEvict: (reason) => metrics.toolCallEvictions.inc({ reason }),
  });
  const ids = new PresetIds(random);
  /** Exchange spans begun but not yet created in the SDK (see exchange()); flush/close create them first. */
  const pending = new Set<() => void>();
  const sampler = new PinnedRatioSampler();
  const processor = new SwitchableProcessor();
  const r = options.resource;
  const resource = resourceFromAttributes({
    [S.SERVICE_NAME]: cfg.serviceName ?? r.serviceName,
    ...(r.namespace === undefined ? {} : { [S.K8S_NAMESPACE_NAME]: r.namespace }),
    ...(r.podName === undefined ? {} : { [S.K8S_POD_NAME]: r.podName }),
    ...(r.podUid === undefined ? {} : { [S.K8S_POD_UID]: r.podUid }),
    ...(r.containerName === undefined ? {} : { [S.K8S_CONTAINER_NAME]: r.containerName }),
    ...r.extra,
  });
  const provider = new BasicTracerProvider({
    resource,
    idGenerator: ids,
    sampler,
    spanProcessors: [processor],
    // Opt-in content can be large; the audit log has it whole.
    spanLimits: { attributeValueLengthLimit: 64 * 1024 },
  });
  const tracer = provider.getTracer('llmaudit', '0.1.0');
  const early = new Map<string, { result: ToolResult; carrier: SpanContext; startedAt: number; conversationId: string | null; at: number }>();
  let currentExportKey = '';

  function buildExport(t: TelemetryConfig): void {
    const key = exportKey(t);
    if (key === currentExportKey) return;
    currentExportKey = key;
    const old = processor.current;
    processor.current =
      t.otlpEndpoint === undefined
        ? null
        : new ExportQueue({
            exporter: new LazyOtlpExporter({
              url: `${t.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`,
              headers: { ...t.headers },
              timeoutMillis: t.timeoutMs,
            }),
            maxQueueSize: t.maxQueueSize,
            maxBatchSize: Math.min(MAX_BATCH, t.maxQueueSize),
            intervalMs: t.exportIntervalMs,
            exportTimeoutMs: t.timeoutMs + 1_000,
            logIntervalMs: options.logIntervalMs,
            onDrop: (reason, n) => metrics.spansDropped.inc({ reason }, n),
            onExported: (n) => metrics.spansExported.inc(n),
            logger,
          });
    // The old pipeline flushes what it holds in the background; traffic never waits for it.
    if (old !== null) void old.shutdown();
  }
  buildExport(cfg);

  /** Starts a span with the chosen ids, sampled at `ratio` when it has no remote parent. */
  function startWithIds(name: string, kind: SpanKind, id: SpanIdentity, sampledHint: boolean, ratio: number, attributes: ReturnType<typeof startAttributes>, startTime: number, links: Link[] = []): Span {
    let ctx: Context = ROOT_CONTEXT;
    if (id.parentSpanId !== undefined) {
      ctx = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: id.traceId,
        spanId: id.parentSpanId,
        traceFlags: (id.parentSampled ?? sampledHint) ? TraceFlags.SAMPLED : TraceFlags.NONE,
        isRemote: true,
        ...(id.traceState === undefined ? {} : { traceState: createTraceState(id.traceState) }),
      });
    } else {
      ids.traceId = id.traceId;
    }
    ids.spanId = id.spanId;
    sampler.ratio = ratio;
    try {
      return tracer.startSpan(name, { kind, attributes, startTime, links }, ctx);
    } finally {
      ids.traceId = undefined;
      ids.spanId = undefined;
    }
  }

  /** One execute_tool span: from the end of the exchange that asked for the tool to the start of the request that returned it. */
  function executeToolSpan(call: RememberedCall, result: ToolResult, carrier: SpanContext, resultAt: number, conversationId: string | null): void {
    const name = call.name || result.name || 'unknown';
    const toolCtx: SpanContext = { traceId: call.traceId, spanId: call.spanId, traceFlags: call.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true };
    const startedAt = Math.min(call.endedAt, resultAt);
    const span = startWithIds(
      `${S.OPERATION_EXECUTE_TOOL} ${name}`,
      SpanKind.INTERNAL,
      { traceId: call.traceId, spanId: random.spanId(), parentSpanId: call.spanId, parentSampled: call.sampled, source: 'conversation' },
      call.sampled,
      cfg.samplingRatio, // never consulted: the span has a parent whose flag decides
      {
        [S.GEN_AI_OPERATION_NAME]: S.OPERATION_EXECUTE_TOOL,
        [S.GEN_AI_TOOL_NAME]: name,
        [S.GEN_AI_TOOL_CALL_ID]: call.callId,
        [S.GEN_AI_TOOL_TYPE]: 'function',
        [S.LLMAUDIT_SPAN_TYPE]: 'TOOL_RESULT',
        ...(conversationId === null ? {} : { [S.GEN_AI_CONVERSATION_ID]: conversationId }),
      },
      startedAt,
      [
        { context: toolCtx, attributes: { 'llmaudit.link': 'tool_call' } },
        { context: carrier, attributes: { 'llmaudit.link': 'tool_result' } },
      ],
    );
    if (result.isError === true) {
      span.setAttribute(S.ERROR_TYPE, 'tool_error');
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (cfg.captureContent && result.content !== undefined) span.setAttribute(S.GEN_AI_TOOL_CALL_RESULT, result.content);
    span.end(Math.max(startedAt, resultAt));
  }

  function toolResultSpans(results: readonly ToolResult[], carrier: SpanContext, startedAt: number, conversationId: string | null): void {
    const now = Date.now();
    for (const result of results) {
      let call: RememberedCall | undefined = memory.claim(result.callId, carrier.traceId, now);
      if (call === undefined && result.name !== undefined && !memory.has(result.callId, carrier.traceId)) {
        call = memory.claimByName(result.name, carrier.traceId, now); // APIs that echo a tool name, not an id
      }
      if (call !== undefined) executeToolSpan(call, result, carrier, startedAt, conversationId);
      else if (result.callId !== '' && !memory.has(result.callId, carrier.traceId)) {
        // The exchange that asked for it may not have ended yet (its end() can run after the
        // client already has the last byte): keep the result briefly, end() looks here.
        early.delete(result.callId);
        early.set(result.callId, { result, carrier, startedAt, conversationId, at: now });
        if (early.size > EARLY_RESULTS) early.delete(early.keys().next().value as string);
      }
    }
  }

  function rememberToolCalls(calls: readonly ToolCall[], sc: SpanContext, sampled: boolean, endedAt: number): void {
    const now = Date.now();
    for (const c of calls) {
      memory.remember({ callId: c.id, name: c.name, traceId: sc.traceId, spanId: sc.spanId, sampled, endedAt }, now);
      const waiting = early.get(c.id);
      if (waiting === undefined) continue;
      early.delete(c.id);
      if (now - waiting.at > EARLY_RESULT_MS) continue;
      const call = memory.claim(c.id, sc.traceId, now);
      if (call !== undefined) executeToolSpan(call, waiting.result, waiting.carrier, waiting.startedAt, waiting.conversationId);
    }
  }

  return {
    /*
     * Creating the SDK span (attributes, sampler, processors) and the execute_tool spans for
     * carried tool results is deferred to the next turn of the event loop — after the request is
     * on its way — or to end(), whichever comes first. Nothing observable moves: the span gets
     * the ids and the sampling decision begin() handed out and the exchange's real start time.
     */
    exchange(b: BegunExchange): { end(outcome: ExchangeOutcome): void } {
      const { info, id, conversationId, requestType } = b;
      const req = info.request;
      let span: Span | null = null;
      let created = false;
      const create = (): void => {
        if (created) return;
        created = true;
        pending.delete(create);
        try {
          span = startWithIds(exchangeSpanName(info), SpanKind.CLIENT, id, b.rootSampled, b.samplingRatio, startAttributes(info, { conversationId, requestType, source: id.source }), info.startedAt);
          if (req !== null && req.toolResults.length > 0) toolResultSpans(req.toolResults, span.spanContext(), info.startedAt, conversationId);
        } catch (err) {
          // Telemetry never breaks traffic (docs/tracing.md "Export"): the exchange keeps its ids.
          logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'tracer: creating the exchange span failed');
        }
      };
      pending.add(create);
      setImmediate(create);

      let ended = false;
      return {
        end(outcome: ExchangeOutcome): void {
          if (ended) return;
          ended = true;
          create();
          const s: Span | null = span;
          if (s === null) return;
          const x = outcome.exchange;
          if (s.isRecording()) {
            s.setAttributes(endAttributes(outcome));
            if (cfg.captureContent && x !== null) s.setAttributes(contentAttributes(x));
            if (info.request?.requestModel == null && x?.responseModel != null) s.updateName(exchangeSpanName(info, x.responseModel));
            if (outcome.spanType === 'ERROR') s.setStatus({ code: SpanStatusCode.ERROR });
          }
          s.end(Math.max(outcome.endedAt, info.startedAt));
          if (x !== null && x.toolCalls.length > 0 && outcome.spanType === 'TOOL_CALL') rememberToolCalls(x.toolCalls, s.spanContext(), b.sampled, outcome.endedAt);
          metrics.queueDepth.set(processor.current?.depth ?? 0);
        },
      };
    },

    reload(next: TelemetryConfig): void {
      cfg = next;
      memory.resize(next.toolCallMemory, next.toolCallMaxAgeMs);
      buildExport(next);
    },

    async flush(): Promise<void> {
      for (const create of [...pending]) create();
      await processor.forceFlush();
      metrics.queueDepth.set(processor.current?.depth ?? 0);
    },

    async close(): Promise<void> {
      for (const create of [...pending]) create();
      await provider.shutdown();
    },
  };
}
