import { errorFactory, type ErrorRegistry } from '@llmaudit/sidecar/errors';

/** Operator error codes (webhook, controllers, inject CLI). docs/errors.md "Operator". */
export const OPERATOR_ERRORS = {
  // controllers, watch loop, leader election, run flags (helper G)
  LLMAUDIT_E_KUBE_API: { message: 'Kubernetes API request failed' },
  LLMAUDIT_E_KUBE_WATCH: { message: 'Kubernetes watch failed or stalled' },
  LLMAUDIT_E_SIGNING_SECRET_INVALID: { message: 'signing Secret has no usable signed-note key' },
  LLMAUDIT_E_POLICY_CONFIG_INVALID: { message: 'AuditPolicy does not render into a valid sidecar config' },
  LLMAUDIT_E_OPERATOR_CONFIG_INVALID: { message: 'operator flags or environment are invalid', exit: 1 },
} as const satisfies ErrorRegistry;
export const operatorError = errorFactory(OPERATOR_ERRORS);
