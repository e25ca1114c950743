/**
 * The OpenTelemetry tracer (docs/tracing.md): one CLIENT span per exchange, one INTERNAL `execute_tool`
 * span per tool result, exported over OTLP/HTTP (JSON) through a bounded queue. The imperative
 * shell around the pure parts: trace-context.ts, conversation.ts, span-identity.ts,
 * span-attributes.ts, classify.ts.
 *
 * Ids: begin() must hand the proxy the span's ids before the span exists in the SDK's eyes (they
 * go into the audit entry and the upstream traceparent), and a derived trace id must be the
 * trace id of a *root* span. The SDK's IdGenerator hook is the public way to choose ids: we load
 * the chosen ids into `PresetIds` right before `startSpan` (synchronous, so no other span can
 * take them) — see docs/adr/0005-trace-derivation.md for why not a synthetic remote parent.
 */
import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Link, type Span, type SpanContext } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type IdGenerator,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Static } from '@sinclair/typebox';
import type { Registry } from 'prom-client';
import type { TelemetrySchema } from '../config/schema.ts';
import type { ToolCall, ToolResult } from '../adapters/types.ts';
import { requestClass } from './classify.ts';
import { createConversationCache } from './conversation.ts';
import { ExportQueue } from './export-queue.ts';
import { LazyOtlpExporter } from './lazy-exporter.ts';
import * as S from './semconv.ts';
import { createRandomIds, type RandomIds } from './random-ids.ts';
import { contentAttributes, endAttributes, exchangeSpanName, startAttributes } from './span-attributes.ts';
import { chooseSpanIdentity, type SpanIdentity } from './span-identity.ts';
import { createTelemetryMetrics, type TelemetryMetrics } from './telemetry-metrics.ts';
import { ToolCallMemory, type RememberedCall } from './tool-call-memory.ts';
import { extractIncomingContext, formatTraceparent } from './trace-context.ts';
import type { ExchangeOutcome, ExchangeTracer, TraceHandle, TraceRequestInfo } from './types.ts';

export type TelemetryConfig = Static<typeof TelemetrySchema>;

/** Resource attributes the caller knows (main.ts reads them from the downward-API env). */
export interface TracerResource {
  serviceName: string;
  namespace?: string;
  podName?: string;
  podUid?: string;
  containerName?: string;
  /** Extra resource attributes (service.version, ...). */
  extra?: Record<string, string>;
}

export interface TracerLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface CreateTracerOptions {
  telemetry: TelemetryConfig;
  resource: TracerResource;
  registry: Registry;
  logger: TracerLogger;
  /** How often an unreachable collector is logged (default 60 s). */
  logIntervalMs?: number;
}

export interface OtelTracer extends ExchangeTracer {
  /** Applies a new telemetry config to new exchanges (hot reload); rebuilds the exporter when its settings changed. */
  reload(cfg: TelemetryConfig): void;
  /** Exports everything queued now (tests, shutdown). */
  flush(): Promise<void>;
}

const MAX_BATCH = 512;
const USED_ID_MEMORY = 10_000;
const EARLY_RESULTS = 1_000;
const EARLY_RESULT_MS = 60_000;
const CONVERSATIONAL = new Set(['chat', 'text_completion', 'generate_content']);

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

/** Parent-based ratio sampling whose ratio a reload can change. */
class ReloadableSampler implements Sampler {
  #inner: Sampler;
  #ratio: Sampler;
  /**
   * The sampler an exchange saw in begin(), set around its deferred startSpan: a reload between
   * begin() and the span's creation must not give the span another decision than the
   * traceparent already sent upstream.
   */
  pinned: Sampler | undefined;
  get current(): Sampler {
    return this.#inner;
  }
  constructor(ratio: number) {
    this.#ratio = new TraceIdRatioBasedSampler(ratio);
    this.#inner = new ParentBasedSampler({ root: this.#ratio });
  }
  set(ratio: number): void {
    this.#ratio = new TraceIdRatioBasedSampler(ratio);
    this.#inner = new ParentBasedSampler({ root: this.#ratio });
  }
  /** The root decision for a trace id: deterministic, so every turn of a conversation agrees. */
  rootSampled(traceId: string): boolean {
    return this.#ratio.shouldSample(ROOT_CONTEXT, traceId, '', SpanKind.CLIENT, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
  }
  shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
    return (this.pinned ?? this.#inner).shouldSample(...args);
  }
  toString(): string {
    return `Reloadable{${this.#inner.toString()}}`;
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

export function createTracer(options: CreateTracerOptions): OtelTracer {
  const { logger } = options;
  let cfg = options.telemetry;
  const metrics: TelemetryMetrics = createTelemetryMetrics(options.registry);
  const memory = new ToolCallMemory({
    maxEntries: cfg.toolCallMemory,
    maxAgeMs: cfg.toolCallMaxAgeMs,
    onEvict: (reason) => metrics.toolCallEvictions.inc({ reason }),
  });
  const usedIds = new Map<string, true>(); // `${traceId}/${spanId}` of explicit and derived span ids, oldest first
  const random = createRandomIds();
  const conversationOf = createConversationCache();
  const ids = new PresetIds(random);
  /** Exchange spans begun but not yet created in the SDK (see begin()); flush/close create them first. */
  const pending = new Set<() => void>();
  const sampler = new ReloadableSampler(cfg.samplingRatio);
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
  let closed = false;

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
            logIntervalMs: options.logIntervalMs ?? 60_000,
            onDrop: (reason, n) => metrics.spansDropped.inc({ reason }, n),
            onExported: (n) => metrics.spansExported.inc(n),
            logger,
          });
    // The old pipeline flushes what it holds in the background; traffic never waits for it.
    if (old !== null) void old.shutdown();
  }
  buildExport(cfg);
  metrics.queueDepth.set(0);

  function markUsed(traceId: string, spanId: string): void {
    const key = `${traceId}/${spanId}`;
    usedIds.delete(key);
    usedIds.set(key, true);
    if (usedIds.size > USED_ID_MEMORY) usedIds.delete(usedIds.keys().next().value as string);
  }

  function startWithIds(name: string, kind: SpanKind, id: SpanIdentity, sampledHint: boolean, attributes: ReturnType<typeof startAttributes>, startTime: number, links: Link[] = []): Span {
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
     * Only the ids and the upstream traceparent are needed before forwarding. Creating the SDK
     * span (attributes, sampler, processors) and the execute_tool spans for carried tool results
     * is deferred to the next turn of the event loop — after the request is on its way — or to
     * end(), whichever comes first. Nothing observable moves: the span gets the ids and the
     * sampling decision begin() handed out and the exchange's real start time (`info.startedAt`).
     */
    async prepare(info: TraceRequestInfo, nextTurn: () => Promise<void>): Promise<void> {
      const req = info.request;
      if (req !== null && CONVERSATIONAL.has(req.operation)) await conversationOf.prepare(req.messages.system, req.messages.firstUser, nextTurn);
    },

    begin(info: TraceRequestInfo): TraceHandle {
      const t = cfg;
      const req = info.request;
      const incoming = extractIncomingContext(info.headers);
      // Embeddings and opaque calls carry input text but are not turns of a conversation.
      const conversational = req !== null && CONVERSATIONAL.has(req.operation);
      const conversation = conversational ? conversationOf(req.messages.system, req.messages.firstUser) : null;
      const requestType = conversational ? requestClass(req.messages) : null;
      const id = chooseSpanIdentity({
        incoming,
        conversation,
        opensConversation: requestType === 'USER_PROMPT',
        alreadyUsed: (traceId, spanId) => usedIds.has(`${traceId}/${spanId}`),
        randomTraceId: random.traceId,
        randomSpanId: random.spanId,
      });
      if (id.source === 'x-trace-id' || id.source === 'conversation') markUsed(id.traceId, id.spanId);
      const conversationId = conversation?.conversationId ?? null;
      const rootSampled = sampler.rootSampled(id.traceId);
      // What the SDK's ParentBasedSampler decides at startSpan: a remote parent's flag, else the root ratio.
      const sampled = id.parentSpanId === undefined ? rootSampled : (id.parentSampled ?? rootSampled);
      const beganWith = sampler.current;
      const upstreamHeaders: Record<string, string> = {};
      if (t.propagate) {
        upstreamHeaders['traceparent'] = formatTraceparent(id.traceId, id.spanId, sampled);
        if (id.traceState !== undefined) upstreamHeaders['tracestate'] = id.traceState;
      }

      const ids = {
        traceId: id.traceId,
        spanId: id.spanId,
        ...(id.parentSpanId === undefined ? {} : { parentSpanId: id.parentSpanId }),
        conversationId,
        requestType,
      };
      // No exporter configured: nothing would ever read a span, so none is built (ids, the
      // conversation and traceparent still are: they go into the audit entry and upstream).
      if (processor.current === null) return { ids, upstreamHeaders, inert: true, end() {} };

      let span: Span | null = null;
      let created = false;
      const create = (): void => {
        if (created) return;
        created = true;
        pending.delete(create);
        try {
          sampler.pinned = beganWith;
          try {
            span = startWithIds(exchangeSpanName(info), SpanKind.CLIENT, id, rootSampled, startAttributes(info, { conversationId, requestType, source: id.source }), info.startedAt);
          } finally {
            sampler.pinned = undefined;
          }
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
        ids,
        upstreamHeaders,
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
          if (x !== null && x.toolCalls.length > 0 && outcome.spanType === 'TOOL_CALL') rememberToolCalls(x.toolCalls, s.spanContext(), sampled, outcome.endedAt);
          metrics.queueDepth.set(processor.current?.depth ?? 0);
        },
      };
    },

    reload(next: TelemetryConfig): void {
      if (closed) return;
      cfg = next;
      sampler.set(next.samplingRatio);
      memory.resize(next.toolCallMemory, next.toolCallMaxAgeMs);
      buildExport(next);
    },

    async flush(): Promise<void> {
      for (const create of [...pending]) create();
      await processor.forceFlush();
      metrics.queueDepth.set(processor.current?.depth ?? 0);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const create of [...pending]) create();
      await provider.shutdown();
    },
  };
}
