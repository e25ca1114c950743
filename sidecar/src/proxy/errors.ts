/**
 * The proxy's error codes (docs/style-guide.md "Errors and configuration"). These codes reach clients in
 * the API family's own error body (error-shapes.ts), the entry's `response.error.code` and pino.
 */
import { errorFactory, type ErrorRegistry } from '../errors.ts';

export const PROXY_ERRORS = {
  LLMAUDIT_E_NO_ROUTE: { message: 'no endpoint is configured for this path' },
  LLMAUDIT_E_UPSTREAM_UNREACHABLE: { message: 'the upstream could not be reached' },
  LLMAUDIT_E_UPSTREAM_TIMEOUT: { message: 'the upstream did not answer in time' },
  LLMAUDIT_E_UPSTREAM_RESET: { message: 'the upstream closed the connection mid-response' },
  LLMAUDIT_E_UPSTREAM_BAD_RESPONSE: { message: 'the upstream sent a response that cannot be relayed' },
  LLMAUDIT_E_CLIENT_ABORTED: { message: 'the client went away before the response ended' },
  LLMAUDIT_E_LOG_UNAVAILABLE: { message: 'the audit log cannot be written and the policy fails closed (onLogFailure: block)' },
  LLMAUDIT_E_BAD_REQUEST: { message: 'the request cannot be forwarded' },
  LLMAUDIT_E_POLICY_BLOCKED: { message: 'the governance policy refuses this request' },
  LLMAUDIT_E_RATE_LIMITED: { message: 'a rate limit of the governance policy is reached' },
  LLMAUDIT_E_BUDGET_EXCEEDED: { message: 'a spending budget of the governance policy is spent' },
  LLMAUDIT_E_RATE_LIMIT_UNAVAILABLE: { message: 'the shared rate-limit store cannot be reached and the policy fails closed' },
  LLMAUDIT_E_REQUEST_TIMEOUT: { message: 'the client did not send its request body in time' },
  LLMAUDIT_E_ENTRY_DEGRADED: { message: 'the entry could not be written as built; values the log cannot carry were replaced (entry field degraded)' },
  LLMAUDIT_E_LISTEN: { message: 'a proxy listener could not bind its address', exit: 1 },
  LLMAUDIT_E_CA_FILE: { message: 'the CA file of an https endpoint cannot be read', exit: 1 },
} as const satisfies ErrorRegistry;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;
export const proxyError = errorFactory(PROXY_ERRORS);
