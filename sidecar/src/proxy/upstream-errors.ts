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

export function classifyUpstreamError(err: unknown, responseStarted: boolean): Classified {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'LLMAUDIT_E_CLIENT_ABORTED') return { code: 'LLMAUDIT_E_CLIENT_ABORTED', status: 499, reason: 'client_abort', errorType: 'client_abort' };
  if (typeof code === 'string' && TIMEOUTS.has(code)) return { code: 'LLMAUDIT_E_UPSTREAM_TIMEOUT', status: 504, reason: 'upstream_timeout', errorType: 'timeout' };
  if (code === 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE') return { code, status: 502, reason: 'upstream_unreachable', errorType: 'bad_response' };
  if (responseStarted) return { code: 'LLMAUDIT_E_UPSTREAM_RESET', status: 502, reason: 'upstream_reset', errorType: 'upstream_reset' };
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
