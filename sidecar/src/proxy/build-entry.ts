/**
 * Builds the entry payload for one finished exchange: a pure function of what the exchange saw
 * (DESIGN.md "The audit log" entry fields). Capture mode `metadata` stores no content at all —
 * bodies are null, digests and sizes stay (so content disclosed later can be proven); `redacted`
 * stores like `full` until PII policies land (issue 5), and says so in `policy.capture`.
 */
import type { EntryPayload } from '../auditlog/types.ts';
import type { NormalizedExchange } from '../adapters/types.ts';
import type { TraceIds, SpanType } from '../telemetry/types.ts';
import type { CapturedBody } from '../capture/body-capture.ts';
import type { MediaRef } from '../capture/media.ts';

export type CaptureMode = 'full' | 'redacted' | 'metadata';

export interface StoredSide {
  captured: CapturedBody;
  body: unknown;
  encoding?: string;
}

export interface EntryInput {
  id: string;
  endpoint: string;
  api: string;
  policyName: string;
  mode: CaptureMode;
  request: { method: string; path: string; headers: Record<string, string>; side: StoredSide };
  response: {
    status: number;
    headers: Record<string, string>;
    side: StoredSide;
    streamed: boolean;
    chunks: number;
    ttfbMs: number | null;
    durationMs: number;
    complete: boolean;
    error: { code: string; message: string } | null;
  };
  exchange: NormalizedExchange | null;
  ids: TraceIds;
  spanType: SpanType;
  media: MediaRef[];
}

function side(s: StoredSide, mode: CaptureMode): { body: unknown; bodySha256: string; bytes: number; truncated?: boolean; encoding?: string } {
  const out: { body: unknown; bodySha256: string; bytes: number; truncated?: boolean; encoding?: string } = {
    body: mode === 'metadata' ? null : s.body,
    bodySha256: s.captured.sha256,
    bytes: s.captured.bytes,
  };
  if (s.captured.truncated) out.truncated = true;
  if (s.encoding !== undefined && mode !== 'metadata') out.encoding = s.encoding;
  return out;
}

export function buildEntry(x: EntryInput): EntryPayload {
  const ex = x.exchange;
  const usage: EntryPayload['usage'] = { inputTokens: ex?.usage.inputTokens ?? null, outputTokens: ex?.usage.outputTokens ?? null };
  if (ex?.usage.cacheReadTokens !== undefined) usage.cacheReadTokens = ex.usage.cacheReadTokens;
  if (ex?.usage.cacheCreationTokens !== undefined) usage.cacheCreationTokens = ex.usage.cacheCreationTokens;
  if (ex?.usage.reasoningTokens !== undefined) usage.reasoningTokens = ex.usage.reasoningTokens;

  const trace: EntryPayload['trace'] = {
    traceId: x.ids.traceId,
    spanId: x.ids.spanId,
    spanType: x.spanType,
    conversationId: x.ids.conversationId,
    toolCalls: ex === null ? [] : ex.toolCalls.map((c) => ({ id: c.id, name: c.name })),
    toolResults: ex === null ? [] : ex.toolResults.map((r) => (r.name === undefined ? { callId: r.callId } : { callId: r.callId, name: r.name })),
  };
  if (x.ids.parentSpanId !== undefined) trace.parentSpanId = x.ids.parentSpanId;
  if (x.ids.requestType !== null) trace.requestType = x.ids.requestType;

  const response: EntryPayload['response'] = {
    status: x.response.status,
    headers: x.response.headers,
    ...side(x.response.side, x.mode),
    streamed: x.response.streamed,
    chunks: x.response.chunks,
    ttfbMs: x.response.ttfbMs,
    durationMs: x.response.durationMs,
    complete: x.response.complete,
  };
  if (x.response.error !== null) response.error = x.response.error;

  return {
    id: x.id,
    endpoint: x.endpoint,
    api: x.api,
    model: ex === null ? null : (ex.responseModel ?? ex.requestModel),
    request: { method: x.request.method, path: x.request.path, headers: x.request.headers, ...side(x.request.side, x.mode) },
    response,
    usage,
    trace,
    policy: { name: x.policyName, decision: 'allow', reasons: [], risk: 0, capture: x.mode },
    media: x.mode === 'metadata' ? [] : x.media,
  };
}
