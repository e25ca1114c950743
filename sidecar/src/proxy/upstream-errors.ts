/**
 * Maps a failed upstream exchange to our error code and the status the client gets: timeouts are
 * 504 (RFC 9110 §15.6.5), anything else that stops us reaching the upstream is 502 (§15.6.3).
 */
import type { ProxyErrorCode } from './errors.ts';
import type { FailureReason } from './metrics.ts';

export interface Classified {
  code: ProxyErrorCode;
  status: number;
  reason: FailureReason;
  errorType: string;
}

const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'LLMAUDIT_E_UPSTREAM_TIMEOUT']);
/** The connection was up and the request (or part of it) sent when it broke: not "unreachable". */
const RESETS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);
/** The upstream's bytes are not HTTP undici can parse, or do not match their own framing. */
const BAD_RESPONSES = new Set(['LLMAUDIT_E_UPSTREAM_BAD_RESPONSE', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE', 'UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_INFO']);

const BAD_RESPONSE: Classified = { code: 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE', status: 502, reason: 'upstream_unreachable', errorType: 'bad_response' };

export function classifyUpstreamError(err: unknown, responseStarted: boolean): Classified {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'LLMAUDIT_E_CLIENT_ABORTED') return { code: 'LLMAUDIT_E_CLIENT_ABORTED', status: 499, reason: 'client_abort', errorType: 'client_abort' };
  // The client's own request failed on the way (its body's framing, its body's time limit).
  if (code === 'LLMAUDIT_E_BAD_REQUEST') return { code, status: 400, reason: 'bad_request', errorType: 'bad_request' };
  if (code === 'LLMAUDIT_E_REQUEST_TIMEOUT') return { code, status: 408, reason: 'bad_request', errorType: 'request_timeout' };
  if (typeof code === 'string' && TIMEOUTS.has(code)) return { code: 'LLMAUDIT_E_UPSTREAM_TIMEOUT', status: 504, reason: 'upstream_timeout', errorType: 'timeout' };
  const message = err instanceof Error ? err.message : '';
  // The connection closed inside a body whose end the framing announced (a chunked body without its last chunk).
  const eof = code === 'HPE_INVALID_EOF_STATE' || (err instanceof Error && err.name === 'HTTPParserError' && /EOF/i.test(message));
  // llhttp's parse errors (HPE_*): a bad status line, a header with control characters, broken
  // chunked framing; undici's own "bad response" (e.g. a 100 Continue it did not ask for).
  if (!eof && ((typeof code === 'string' && (BAD_RESPONSES.has(code) || code.startsWith('HPE_'))) || (err instanceof Error && err.name === 'HTTPParserError') || (code === 'UND_ERR_SOCKET' && message === 'bad response'))) return BAD_RESPONSE;
  if (responseStarted || (typeof code === 'string' && RESETS.has(code))) return { code: 'LLMAUDIT_E_UPSTREAM_RESET', status: 502, reason: 'upstream_reset', errorType: 'upstream_reset' };
  return { code: 'LLMAUDIT_E_UPSTREAM_UNREACHABLE', status: 502, reason: 'upstream_unreachable', errorType: 'upstream_unreachable' };
}

/** Error message safe to return and log: the cause's text, never headers or bodies. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const c = (err as { code?: unknown }).code;
    return typeof c === 'string' && !err.message.includes(c) ? `${err.message} (${c})` : err.message;
  }
  return String(err);
}
