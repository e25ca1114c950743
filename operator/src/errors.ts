import { errorFactory, type ErrorRegistry } from '@llmaudit/sidecar/errors';

/** Operator error codes (webhook, controllers, inject CLI). docs/errors.md "Operator". */
export const OPERATOR_ERRORS = {
  // controllers, watch loop, leader election, run flags
  LLMAUDIT_E_KUBE_API: { message: 'Kubernetes API request failed' },
  LLMAUDIT_E_KUBE_WATCH: { message: 'Kubernetes watch failed or stalled' },
  LLMAUDIT_E_POLICY_CONFIG_INVALID: { message: 'AuditPolicy does not render into a valid sidecar config' },
  LLMAUDIT_E_OPERATOR_CONFIG_INVALID: { message: 'operator flags or environment are invalid', exit: 1 },
  // AuditPolicy, injection, webhook, certificates, inject CLI
  LLMAUDIT_E_POLICY_INVALID: { message: 'AuditPolicy is invalid', exit: 1 },
  LLMAUDIT_E_POLICY_NOT_FOUND: { message: 'no AuditPolicy for this pod' },
  LLMAUDIT_E_INJECT_FAILED: { message: 'sidecar injection failed' },
  LLMAUDIT_E_ADMISSION_REVIEW_INVALID: { message: 'malformed AdmissionReview' },
  LLMAUDIT_E_WEBHOOK_TLS: { message: 'webhook TLS certificate cannot be loaded or renewed' },
  LLMAUDIT_E_MANIFEST_INVALID: { message: 'manifest or policy file cannot be read or parsed', exit: 1 },
  // witness (C2SP tlog-witness)
  LLMAUDIT_E_WITNESS_KEY: { message: 'the witness key Secret cannot be read' },
  LLMAUDIT_E_WITNESS_LISTEN: { message: 'the witness server cannot listen on its port' },
} as const satisfies ErrorRegistry;
export const operatorError = errorFactory(OPERATOR_ERRORS);
