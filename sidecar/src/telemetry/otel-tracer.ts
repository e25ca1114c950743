/**
 * The tracer (docs/tracing.md): the ids, the trace context and the sampling decision of every
 * exchange, and — when a pipeline has an OTLP endpoint — its OpenTelemetry spans. The imperative
 * shell around the pure parts: trace-context.ts, conversation.ts, span-identity.ts, classify.ts.
 *
 * begin() needs no OpenTelemetry SDK: it reads the incoming traceparent, chooses the span
 * identity, decides sampling with the SDK's trace-id ratio rule (ratioSampled) and writes the
 * upstream traceparent. The SDK — provider, sampler, processors, the spans themselves — lives in
 * span-pipeline.ts, imported the first time a config has an OTLP endpoint (at start or on a
 * reload): a sidecar that exports nothing never loads it (docs/adr/0027-sidecar-memory-at-rest.md).
 * Exchanges begun while it loads get their spans when it is there, with the ids, start and end
 * times and sampling decision they had.
 */
import type { Static } from '@sinclair/typebox';
import type { Registry } from 'prom-client';
import type { TelemetrySchema } from '../config/schema.ts';
import { requestClass } from './classify.ts';
import { createConversationCache } from './conversation.ts';
import { createRandomIds } from './random-ids.ts';
import type { BegunExchange, SpanPipeline } from './span-pipeline.ts';
import { chooseSpanIdentity } from './span-identity.ts';
import { createTelemetryMetrics, type TelemetryMetrics } from './telemetry-metrics.ts';
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
  /**
   * Resolves when the span pipeline of an exporting config has loaded (at once when nothing
   * exports). The sidecar waits for it before it serves, so the first exchanges' spans are built
   * like every other's; exchanges begun while a reload loads it get their spans when it is there.
   */
  ready(): Promise<void>;
  /** Whether the OpenTelemetry SDK (span-pipeline.ts) has been loaded: only once a config exported. */
  readonly sdkLoaded: boolean;
}

const USED_ID_MEMORY = 10_000;
const CONVERSATIONAL = new Set(['chat', 'text_completion', 'generate_content']);
const INVALID_TRACE_ID = '0'.repeat(32);

/**
 * The root sampling decision of the SDK's TraceIdRatioBasedSampler (@opentelemetry/sdk-trace-base),
 * the rule the exported spans are sampled by: the four 32-bit words of the trace id XORed, below
 * ratio × 0xffffffff. Deterministic, so every turn of a conversation agrees.
 * otel-tracer.test.ts checks it against the SDK's sampler.
 */
export function ratioSampled(ratio: number, traceId: string): boolean {
  const r = typeof ratio !== 'number' || Number.isNaN(ratio) ? 0 : ratio >= 1 ? 1 : ratio <= 0 ? 0 : ratio;
  const upperBound = r === 1 ? 0x100000000 : Math.floor(r * 0xffffffff);
  if (!/^[0-9a-f]{32}$/i.test(traceId) || traceId === INVALID_TRACE_ID) return false;
  let accumulation = 0;
  for (let i = 0; i < 32; i += 8) accumulation = (accumulation ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
  return accumulation < upperBound;
}

export function createTracer(options: CreateTracerOptions): OtelTracer {
  const { logger } = options;
  let cfg = options.telemetry;
  const metrics: TelemetryMetrics = createTelemetryMetrics(options.registry);
  const usedIds = new Map<string, true>(); // `${traceId}/${spanId}` of explicit and derived span ids, oldest first
  const random = createRandomIds();
  const conversationOf = createConversationCache();
  let pipeline: SpanPipeline | null = null;
  let loading: Promise<SpanPipeline | null> | null = null;
  let closed = false;

  /** Loads the SDK with the first config that exports; until it is there, spans wait for it. */
  function loadPipeline(): Promise<SpanPipeline | null> {
    loading ??= import('./span-pipeline.ts').then(
      (m) => {
        pipeline = m.createSpanPipeline({ telemetry: cfg, resource: options.resource, metrics, logger, random, logIntervalMs: options.logIntervalMs ?? 60_000 });
        return pipeline;
      },
      (err: unknown) => {
        // Telemetry never breaks traffic (docs/tracing.md "Export"): exchanges keep their ids.
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'tracer: loading the span pipeline failed; no spans are exported');
        return null;
      },
    );
    return loading;
  }
  if (cfg.otlpEndpoint !== undefined) void loadPipeline();
  metrics.queueDepth.set(0);

  function markUsed(traceId: string, spanId: string): void {
    const key = `${traceId}/${spanId}`;
    usedIds.delete(key);
    usedIds.set(key, true);
    if (usedIds.size > USED_ID_MEMORY) usedIds.delete(usedIds.keys().next().value as string);
  }

  /** The exchange's span, now or when the pipeline has loaded. */
  function spanOf(b: BegunExchange): { end(outcome: ExchangeOutcome): void } {
    if (pipeline !== null) return pipeline.exchange(b);
    let x: { end(outcome: ExchangeOutcome): void } | null = null;
    let outcome: ExchangeOutcome | null = null;
    void loadPipeline().then((p) => {
      if (p === null) return;
      x = p.exchange(b);
      if (outcome !== null) x.end(outcome);
    });
    return {
      end(o: ExchangeOutcome): void {
        if (x !== null) x.end(o);
        else outcome ??= o;
      },
    };
  }

  return {
    /**
     * For a large request, the conversation's digest a slice per `nextTurn` (types.ts), so that
     * begin() finds it done.
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
      const rootSampled = ratioSampled(t.samplingRatio, id.traceId);
      // What the SDK's ParentBasedSampler decides at startSpan: a remote parent's flag, else the root ratio.
      const sampled = id.parentSpanId === undefined ? rootSampled : (id.parentSampled ?? rootSampled);
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
      if (t.otlpEndpoint === undefined || closed) return { ids, upstreamHeaders, inert: true, end() {} };

      const span = spanOf({ info, id, conversationId, requestType, rootSampled, sampled, samplingRatio: t.samplingRatio });
      let ended = false;
      return {
        ids,
        upstreamHeaders,
        end(outcome: ExchangeOutcome): void {
          if (ended) return;
          ended = true;
          span.end(outcome);
        },
      };
    },

    reload(next: TelemetryConfig): void {
      if (closed) return;
      cfg = next;
      if (pipeline !== null) pipeline.reload(next);
      else if (next.otlpEndpoint !== undefined) void loadPipeline(); // built with the config in force when it has loaded
    },

    async flush(): Promise<void> {
      const p = loading === null ? null : await loading;
      if (p === null) return;
      await p.flush();
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const p = loading === null ? null : await loading;
      await p?.close();
    },

    async ready(): Promise<void> {
      if (loading !== null) await loading;
    },

    get sdkLoaded(): boolean {
      return pipeline !== null;
    },
  };
}
