/**
 * The audit log's contract (docs/audit-log-format.md is the spec).
 * The proxy, the CLI and the operator program against these types only.
 */

/** What the caller (the proxy) hands to append(): everything but the chain fields. */
export interface EntryPayload {
  id: string;
  endpoint: string;
  api: string;
  model: string | null;
  request: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body: unknown; // JSON value, a string for non-JSON text, or null (metadata mode, capped, binary)
    bodySha256: string;
    bytes: number;
    truncated?: boolean;
    encoding?: string;
    /** The body parsed as JSON but is stored as the text sent (docs/audit-log-format.md "Stored bodies"): why. */
    rawReason?: string;
    /** The body is not stored for want of memory (docs/audit-log-format.md "Stored bodies"): "memory_budget". */
    omittedReason?: string;
  };
  response: {
    status: number;
    headers: Record<string, string>;
    body: unknown;
    bodySha256: string;
    bytes: number;
    streamed: boolean;
    chunks: number;
    ttfbMs: number | null;
    durationMs: number;
    complete: boolean;
    truncated?: boolean;
    encoding?: string;
    rawReason?: string;
    omittedReason?: string;
    error?: { code: string; message: string };
  };
  usage: { inputTokens: number | null; outputTokens: number | null; cacheReadTokens?: number; cacheCreationTokens?: number; reasoningTokens?: number; costUsd?: number };
  trace: {
    traceId: string;
    spanId: string;
    parentSpanId?: string;
    spanType: string;
    requestType?: string;
    conversationId: string | null;
    toolCalls: Array<{ id: string; name: string }>;
    toolResults: Array<{ callId: string; name?: string }>;
  };
  policy: { name: string; decision: 'allow' | 'redact' | 'block'; reasons: string[]; risk: number; capture: 'full' | 'redacted' | 'metadata' };
  media: Array<{ sha256: string; path: string; mediaType: string; bytes: number; pointer: string }>;
  /** Forward compatible: later fields are hashed like any other. */
  [extra: string]: unknown;
}

/**
 * A line of the log as written: payload + chain fields. In an erased v2 entry each content part
 * (`request.body`, `request.bodySha256`, `response.body`, `response.bodySha256`, `media`) holds
 * an erased marker `{"erased": {at, reason, by}}` instead (entry.ts `isErasedMarker`).
 */
export interface Entry extends EntryPayload {
  v: 1 | 2;
  seq: number;
  ts: string; // RFC 3339 UTC with milliseconds, assigned by the writer
  origin: string;
  prevHash: string; // hex
  /** v2: per content part (JSON pointer), its salted digest and, unless erased, its salt (base64). */
  parts?: Record<string, { digest: string; salt?: string }>;
  hash: string; // hex SHA-256 of JCS(entry without hash and sig; v2: parts by their digests)
  sig?: string; // base64 Ed25519 over the 32 hash bytes
}

export type Durability = 'strict' | 'batched';

export interface AppendResult {
  seq: number;
  hash: string;
  ts: string;
  /**
   * Set when the log refused the payload as built and wrote its degraded form instead
   * (auditlog/degrade-entry.ts; only a log opened with `degradeRefused`): why it was refused, and
   * whether the bodies were dropped too because the degraded form was refused as well.
   */
  degraded?: { reason: string; withoutBodies: boolean };
}

export interface LogStats {
  size: number;
  queueDepth: number;
  segment: number;
  bytesWritten: number;
  /** fdatasyncs of segment files so far: under strict one per group commit, however many entries it covers. */
  syncs: number;
  lastCheckpointAt: string | null;
}

/** Proof of one entry against a signed checkpoint; the `--json` output of `llmaudit prove`. */
export interface InclusionProofBundle {
  index: number;
  entry: Entry;
  entryHash: string; // hex
  treeSize: number;
  rootHash: string; // base64
  inclusionProof: string[]; // base64, RFC 9162 §2.1.3 order (leaf to root)
  checkpoint: string; // signed note text
  tlogProof?: string; // C2SP tlog-proof text
}

export interface ConsistencyProofBundle {
  fromSize: number;
  toSize: number;
  proof: string[]; // base64
  checkpoint: string;
}
