/**
 * The contract between the proxy (which sees the exchange) and the tracer (which turns it into
 * an OpenTelemetry span). The proxy works with `NOOP_TRACER` when telemetry is off.
 *
 * Order of calls for one exchange:
 *   1. begin(request) before forwarding: picks trace/span ids (incoming traceparent, X-Trace-ID,
 *      or derived from the conversation) and returns headers to add upstream (traceparent).
 *   2. the proxy classifies the finished exchange with classifyExchange() and writes the entry
 *      with handle.ids and the class in `trace{}`;
 *   3. handle.end(...) with the entry's seq and hash; the span is exported asynchronously, never
 *      blocking traffic.
 */
import type { NormalizedExchange } from '../adapters/types.ts';

export interface TraceRequestInfo {
  endpoint: string;
  method: string;
  path: string;
  /** Lower-cased request headers (traceparent, tracestate, x-trace-id, x-span-id, x-parent-span-id). */
  headers: Readonly<Record<string, string | undefined>>;
  serverAddress: string;
  serverPort: number;
  startedAt: number; // epoch ms
  /** The request side of the normalized exchange (messages, model, tool results); null if opaque. */
  request: Pick<NormalizedExchange, 'api' | 'provider' | 'operation' | 'requestModel' | 'stream' | 'messages' | 'toolResults'> | null;
}

export interface TraceIds {
  traceId: string; // 32 hex
  spanId: string; // 16 hex
  parentSpanId?: string;
  conversationId: string | null;
  /** USER_PROMPT when this request opens a conversation, else null (docs/tracing.md "Span types"). */
  requestType: 'USER_PROMPT' | null;
}

export type SpanType = 'ERROR' | 'TOOL_CALL' | 'FINAL_RESPONSE' | 'AGENT_THINKING' | 'USER_PROMPT' | 'TOOL_RESULT';

export interface ExchangeOutcome {
  exchange: NormalizedExchange | null; // null for opaque traffic
  status: number; // HTTP status returned to the client (502/503/504 for proxy-made errors)
  errorType: string | null; // transport failure / timeout / policy block, else null
  spanType: SpanType;
  endedAt: number; // epoch ms
  ttfbMs: number | null;
  seq: number | null; // null when the log could not be written (onLogFailure: allow)
  entryHash: string | null;
  origin: string;
  /** The governance decision (names and numbers only, never a detected value). */
  governance?: { decision: string; mode: string; risk: number; reasons: string[]; detectors: string[]; costUsd: number | null };
}

export interface TraceHandle {
  readonly ids: TraceIds;
  /** Headers to set on the upstream request (empty when propagation is off). */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  /** True when end() ignores its outcome (no exporter): the caller need not keep the exchange for it. */
  readonly inert?: boolean;
  end(outcome: ExchangeOutcome): void;
}

export interface ExchangeTracer {
  begin(info: TraceRequestInfo): TraceHandle;
  /**
   * For a large request, before begin(): the work begin() would do on its strings (the
   * conversation's digest), done a slice per `nextTurn` so that begin() does not hold the event
   * loop for it (docs/adr/0025-large-bodies-off-the-event-loop.md). Optional; begin() gives the
   * same ids with or without it.
   */
  prepare?(info: TraceRequestInfo, nextTurn: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}
