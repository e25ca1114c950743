/**
 * Builds the entry payload for one finished exchange: a pure function of what the exchange saw
 * (docs/audit-log-format.md "The exchange"). Capture mode `metadata` stores no content at all —
 * bodies are null, digests and sizes stay (so content disclosed later can be proven); `redacted`
 * stores bodies with every detector's matches replaced by keyed tokens (docs/governance.md).
 * `governance` is the policy's decision record; `policy` repeats its decision, reasons and risk.
 */
import type { EntryPayload } from '../auditlog/types.ts';
import type { NormalizedExchange } from '../adapters/types.ts';
import type { TraceIds, SpanType } from '../telemetry/types.ts';
import type { CapturedBody } from '../capture/body-capture.ts';
import type { MediaRef } from '../capture/media.ts';
import type { GovernanceRecord } from '../governance/decide.ts';

export type CaptureMode = 'full' | 'redacted' | 'metadata';

export interface StoredSide {
  captured: CapturedBody;
  body: unknown;
  encoding?: string;
  /** The body parsed as JSON but is stored as sent: why (capture/stored-body.ts RawReason). */
  rawReason?: string;
  /** The body is not stored for want of memory: "memory_budget" (capture/memory-budget.ts). */
  omittedReason?: string;
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
  /** The governance decision (absent: none was taken, recorded as allow with risk 0). */
  governance?: GovernanceRecord;
}

// Members are inserted in RFC 8785 order (UTF-16 code units) throughout: the log's canonicalizer
// (auditlog/jcs.ts) then takes these objects as they are instead of copying each one sorted.
type SideOut = { body: unknown; bodySha256: string; bytes: number; encoding?: string; omittedReason?: string; rawReason?: string; truncated?: boolean };
function side(s: StoredSide, mode: CaptureMode): SideOut {
  const out: SideOut = {
    body: mode === 'metadata' ? null : s.body,
    bodySha256: s.captured.sha256,
    bytes: s.captured.bytes,
  };
  if (s.encoding !== undefined && mode !== 'metadata') out.encoding = s.encoding;
  if (s.rawReason !== undefined && mode !== 'metadata') out.rawReason = s.rawReason;
  if (s.omittedReason !== undefined) out.omittedReason = s.omittedReason;
  if (s.captured.truncated) out.truncated = true;
  return out;
}

export function buildEntry(x: EntryInput): EntryPayload {
  const ex = x.exchange;
  const u = ex?.usage;
  const usage = {} as EntryPayload['usage'];
  if (u?.cacheCreationTokens !== undefined) usage.cacheCreationTokens = u.cacheCreationTokens;
  if (u?.cacheReadTokens !== undefined) usage.cacheReadTokens = u.cacheReadTokens;
  const gov = x.governance;
  if (gov !== undefined && gov.costUsd !== null) usage.costUsd = gov.costUsd;
  usage.inputTokens = u?.inputTokens ?? null;
  usage.outputTokens = u?.outputTokens ?? null;
  if (u?.reasoningTokens !== undefined) usage.reasoningTokens = u.reasoningTokens;

  const trace = { conversationId: x.ids.conversationId } as EntryPayload['trace'];
  if (x.ids.parentSpanId !== undefined) trace.parentSpanId = x.ids.parentSpanId;
  if (x.ids.requestType !== null) trace.requestType = x.ids.requestType;
  trace.spanId = x.ids.spanId;
  trace.spanType = x.spanType;
  trace.toolCalls = ex === null ? [] : ex.toolCalls.map((c) => ({ id: c.id, name: c.name }));
  trace.toolResults = ex === null ? [] : ex.toolResults.map((r) => (r.name === undefined ? { callId: r.callId } : { callId: r.callId, name: r.name }));
  trace.traceId = x.ids.traceId;

  const rs = side(x.response.side, x.mode);
  const response = { body: rs.body, bodySha256: rs.bodySha256, bytes: rs.bytes, chunks: x.response.chunks, complete: x.response.complete, durationMs: x.response.durationMs } as EntryPayload['response'];
  if (rs.encoding !== undefined) response.encoding = rs.encoding;
  if (x.response.error !== null) response.error = x.response.error;
  response.headers = x.response.headers;
  if (rs.omittedReason !== undefined) response.omittedReason = rs.omittedReason;
  if (rs.rawReason !== undefined) response.rawReason = rs.rawReason;
  response.status = x.response.status;
  response.streamed = x.response.streamed;
  if (rs.truncated !== undefined) response.truncated = rs.truncated;
  response.ttfbMs = x.response.ttfbMs;

  const qs = side(x.request.side, x.mode);
  const request = { body: qs.body, bodySha256: qs.bodySha256, bytes: qs.bytes } as EntryPayload['request'];
  if (qs.encoding !== undefined) request.encoding = qs.encoding;
  request.headers = x.request.headers;
  request.method = x.request.method;
  if (qs.omittedReason !== undefined) request.omittedReason = qs.omittedReason;
  request.path = x.request.path;
  if (qs.rawReason !== undefined) request.rawReason = qs.rawReason;
  if (qs.truncated !== undefined) request.truncated = qs.truncated;

  return {
    api: x.api,
    endpoint: x.endpoint,
    ...(gov === undefined ? {} : { governance: gov }),
    id: x.id,
    media: x.mode === 'metadata' ? [] : x.media,
    model: ex === null ? null : (ex.responseModel ?? ex.requestModel),
    policy: { capture: x.mode, decision: gov === undefined || gov.decision === 'flag' ? 'allow' : gov.decision, name: x.policyName, reasons: gov?.reasons ?? [], risk: gov?.risk ?? 0 },
    request,
    response,
    trace,
    usage,
  };
}
