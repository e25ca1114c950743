/**
 * The shapes every family adapter shares: a parsed stream frame in, a normalized exchange out.
 * Framing (SSE / NDJSON) happens before, in create-adapter.ts, so each family only sees JSON.
 */
import type { ApiKind, MessageSummary, NormalizedExchange, OperationName, ProviderName, Usage } from './types.ts';

/** One frame of a response stream, after SSE or NDJSON framing. */
export type StreamFrame =
  | { kind: 'json'; event: string | null; value: unknown }
  /** OpenAI-style `data: [DONE]` terminator. */
  | { kind: 'done' }
  /** A frame whose data was not JSON; counted, never fatal. */
  | { kind: 'malformed'; event: string | null };

export interface StreamAccumulator {
  push(frame: StreamFrame): void;
  /** `complete`: the transport delivered the whole body (no reset, abort or timeout). */
  finish(opts: { complete: boolean }): NormalizedExchange;
}

export interface AdapterOptions {
  /** gen_ai.provider.name; defaults to the family's own provider. */
  provider?: ProviderName;
  /** Bound on each accumulated text (output, reasoning, one tool call's arguments), in UTF-8 bytes. */
  maxTextBytes?: number;
}

export const DEFAULT_MAX_TEXT_BYTES = 1024 * 1024;
/** Bound on the number of tool calls / choices / content blocks one response may add. */
export const MAX_ITEMS = 1024;

/** What the request alone tells (the tracer needs it before the response arrives). */
export type RequestSide = Pick<NormalizedExchange, 'api' | 'provider' | 'operation' | 'requestModel' | 'stream' | 'messages' | 'toolResults'>;

export function emptySummary(): MessageSummary {
  return { count: 0, roles: {}, system: null, firstUser: null, hasHistory: false, toolDefinitions: [] };
}

export function emptyUsage(): Usage {
  return { inputTokens: null, outputTokens: null };
}

export function requestSide(api: ApiKind, provider: ProviderName, operation: OperationName, fields: Partial<RequestSide>): RequestSide {
  return {
    api,
    provider,
    operation,
    requestModel: fields.requestModel ?? null,
    stream: fields.stream ?? false,
    messages: fields.messages ?? emptySummary(),
    toolResults: fields.toolResults ?? [],
  };
}

/** The response-side defaults; each adapter overrides what it learned. */
export function baseExchange(req: RequestSide): NormalizedExchange {
  // Member by member rather than `...req`: a spread into a literal took about 10 µs of event loop
  // per exchange in bench/proxy.ts profiles; requestSide() makes every RequestSide with these keys.
  return {
    api: req.api,
    provider: req.provider,
    operation: req.operation,
    requestModel: req.requestModel,
    stream: req.stream,
    messages: req.messages,
    toolResults: req.toolResults,
    responseModel: null,
    responseId: null,
    toolCalls: [],
    outputText: null,
    reasoningText: null,
    finishReasons: [],
    usage: emptyUsage(),
    reconstructed: null,
    chunks: 0,
    apiError: null,
    complete: false,
  };
}

/** Adds the optional flags only when set, so exchanges stay small and comparable. */
export function withFlags(ex: NormalizedExchange, flags: { truncated: boolean; malformed: number; refusal?: string | null }): NormalizedExchange {
  // An empty string is no content (e.g. `content: ""` beside tool calls): say so with null.
  if (ex.outputText === '') ex.outputText = null;
  if (ex.reasoningText === '') ex.reasoningText = null;
  if (flags.truncated) ex.truncated = true;
  if (flags.malformed > 0) ex.malformedFrames = flags.malformed;
  if (flags.refusal != null && flags.refusal !== '') ex.refusal = flags.refusal;
  return ex;
}

/** Records a summary role count and keeps `hasHistory` in step (assistant or tool turns). */
export function countRole(summary: MessageSummary, role: string): void {
  summary.count += 1;
  summary.roles[role] = (summary.roles[role] ?? 0) + 1;
  if (role === 'assistant' || role === 'tool' || role === 'model') summary.hasHistory = true;
}

/** Appends system text (several system messages are joined by a blank line). */
export function addSystem(summary: MessageSummary, text: string | null): void {
  if (text === null) return;
  summary.system = summary.system === null ? text : `${summary.system}\n\n${text}`;
}

/** A message in the OpenTelemetry GenAI `gen_ai.input.messages` shape (role + typed parts). */
export interface SemconvMessage {
  role: string;
  parts: SemconvPart[];
}
export type SemconvPart =
  | { type: 'text'; content: string }
  | { type: 'reasoning'; content: string }
  | { type: 'tool_call'; id: string; name: string; arguments: unknown }
  | { type: 'tool_call_response'; id: string; response: unknown };

/** Reads the API's usage counts. Missing counts stay null: never estimated. */
export function usageFrom(input: unknown, output: unknown, extra: { cacheRead?: unknown; cacheCreation?: unknown; reasoning?: unknown } = {}): Usage {
  const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const u: Usage = { inputTokens: n(input), outputTokens: n(output) };
  const cr = n(extra.cacheRead);
  const cc = n(extra.cacheCreation);
  const r = n(extra.reasoning);
  if (cr !== null) u.cacheReadTokens = cr;
  if (cc !== null) u.cacheCreationTokens = cc;
  if (r !== null) u.reasoningTokens = r;
  return u;
}
