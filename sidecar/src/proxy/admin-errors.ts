/**
 * Error codes of the admin server (/healthz, /readyz, /metrics, /v1/...). They are the `code` of
 * its JSON error bodies `{"error":{"code","message"}}`; docs/errors.md "Admin server".
 */
import { errorFactory, type ErrorRegistry } from '../errors.ts';

export const ADMIN_ERRORS = {
  LLMAUDIT_E_ADMIN_LISTEN: { message: 'the admin server could not bind its address', exit: 1 },
  LLMAUDIT_E_ADMIN_NOT_FOUND: { message: 'no such admin path' },
  LLMAUDIT_E_ADMIN_METHOD: { message: 'method not allowed on this admin path' },
  LLMAUDIT_E_ADMIN_BAD_QUERY: { message: 'a query parameter is missing or invalid' },
  LLMAUDIT_E_ADMIN_NO_CHECKPOINT: { message: 'the log has no checkpoint yet' },
  LLMAUDIT_E_ADMIN_PROOF_RANGE: { message: 'no proof for the requested range' },
  LLMAUDIT_E_ADMIN_LOG_UNAVAILABLE: { message: 'the audit log is not open' },
} as const satisfies ErrorRegistry;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;
export const adminError = errorFactory(ADMIN_ERRORS);
