/**
 * Errors the proxy makes itself (no route, upstream down, timeout, log unavailable) are answered
 * in the API family's own error shape, so the app's SDK raises its usual error type:
 * - OpenAI (and Azure, vLLM, Ollama's /v1): `{"error":{"message","type","code"}}`
 *   (https://platform.openai.com/docs/guides/error-codes)
 * - Anthropic: `{"type":"error","error":{"type","message"}}` (https://docs.anthropic.com/en/api/errors)
 * - Ollama native API: `{"error":"..."}` (ollama docs/api.md "Errors")
 */
import type { ApiKind } from '../adapters/types.ts';

export type ErrorFamily = 'openai' | 'anthropic' | 'ollama';

/** The family is taken from the detected API when known, else from the endpoint's configured api. */
export function errorFamily(kind: ApiKind | null, endpointApi: string | null, path: string): ErrorFamily {
  if (kind !== null && kind !== 'opaque') {
    if (kind.startsWith('anthropic.')) return 'anthropic';
    if (kind.startsWith('ollama.')) return 'ollama';
    return 'openai';
  }
  if (endpointApi === 'anthropic') return 'anthropic';
  if (endpointApi === 'ollama' && !path.startsWith('/v1/')) return 'ollama';
  return 'openai';
}

const ANTHROPIC_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

const OPENAI_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  429: 'rate_limit_error',
};

export function errorBody(family: ErrorFamily, status: number, code: string, message: string): string {
  switch (family) {
    case 'anthropic':
      return JSON.stringify({ type: 'error', error: { type: ANTHROPIC_TYPE[status] ?? 'api_error', message: `${message} (${code})` } });
    case 'ollama':
      return JSON.stringify({ error: `${message} (${code})` });
    default:
      return JSON.stringify({ error: { message, type: OPENAI_TYPE[status] ?? 'server_error', code } });
  }
}
