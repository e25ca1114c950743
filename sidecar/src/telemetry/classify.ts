/**
 * Span classification (docs/tracing.md "Span types"): a pure function of the
 * finished exchange. The proxy writes the result into the entry's `trace.spanType` and the tracer
 * puts the same value on the span as `llmaudit.span_type`, so entry and span never disagree.
 */
import type { MessageSummary, NormalizedExchange } from '../adapters/types.ts';
import type { SpanType } from './types.ts';

export interface ClassifyInput {
  exchange: NormalizedExchange | null;
  status: number;
  /** Transport failure or timeout (set by the proxy), else null. */
  errorType: string | null;
}

/**
 * Finish reasons that mean the model stopped before it was done, across API families:
 * OpenAI chat / Ollama `length`; Anthropic `max_tokens`, `model_context_window_exceeded` and
 * `pause_turn` (the server paused a long turn: the client must continue it); Responses
 * `incomplete_details.reason` `max_output_tokens`. Such an exchange is not a final answer.
 */
const TRUNCATED = new Set(['length', 'max_tokens', 'max_output_tokens', 'model_context_window_exceeded', 'pause_turn', 'incomplete']);

/** Operations whose output is not a conversational turn (vectors, opaque bodies). */
const NON_CONVERSATIONAL = new Set(['embeddings', 'unknown']);

export function classifyExchange({ exchange, status, errorType }: ClassifyInput): SpanType {
  if (status >= 400 || errorType !== null) return 'ERROR';
  if (exchange === null) return 'FINAL_RESPONSE'; // opaque traffic that succeeded: nothing finer to say
  if (exchange.apiError !== null) return 'ERROR'; // e.g. an `error` event mid-stream after a 200
  // A stream that stopped before its protocol terminator ([DONE], message_stop, done:true) was cut.
  if (exchange.stream && !exchange.complete) return 'ERROR';
  if (exchange.toolCalls.length > 0) return 'TOOL_CALL';
  if (NON_CONVERSATIONAL.has(exchange.operation) || exchange.api === 'opaque' || exchange.api === 'openai.embeddings' || exchange.api === 'ollama.embed') {
    return 'FINAL_RESPONSE';
  }
  if (exchange.finishReasons.some((r) => TRUNCATED.has(r))) return 'AGENT_THINKING';
  if (exchange.outputText === null || exchange.outputText.trim() === '') return 'AGENT_THINKING'; // reasoning only, or empty
  return 'FINAL_RESPONSE';
}

/**
 * The request-side class: USER_PROMPT when the request opens a conversation — a user turn and no
 * assistant or tool turns before it (docs/tracing.md "Span types"). Null otherwise.
 */
export function requestClass(messages: MessageSummary | null | undefined): 'USER_PROMPT' | null {
  if (messages === null || messages === undefined) return null;
  if (messages.hasHistory) return null;
  const users = messages.roles['user'] ?? 0;
  return users > 0 || messages.firstUser !== null ? 'USER_PROMPT' : null;
}

/**
 * The `error.type` attribute for an ERROR exchange (OTel semconv: a low-cardinality class —
 * the proxy's own errorType, else the API's error type, else the HTTP status code as text).
 */
export function errorTypeOf({ exchange, status, errorType }: ClassifyInput): string | null {
  if (errorType !== null) return errorType;
  if (exchange?.apiError) return exchange.apiError.type || 'api_error';
  if (status >= 400) return String(status);
  if (exchange !== null && exchange.stream && !exchange.complete) return 'incomplete_stream';
  return null;
}
