export {
  API_VERSION,
  API_FAMILIES,
  ACCESS_MODES,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
  AuditPolicySpec,
  AuditPolicyStatus,
  ConditionSchema,
  EndpointSpec,
  type AuditPolicy,
  type ApiFamily,
  type Condition,
} from './audit-policy.ts';
export { auditPolicyCrd, auditPolicyCrdYaml, auditPolicySchema, PRINTER_COLUMNS } from './crd.ts';
export { parseAuditPolicy, crossFieldProblems } from './parse-policy.ts';
export {
  ANNOTATION_ENV_KEPT,
  ANNOTATION_INJECTED,
  CONFIG_FILE_KEY,
  CONFIG_MOUNT_DIR,
  DEFAULT_RUN_AS_USER,
  LABEL_INJECT,
  LABEL_POLICY,
  LOG_MOUNT_DIR,
  SIDECAR_CONTAINER_NAME,
  SIGNING_FILE,
  SIGNING_MOUNT_DIR,
  VOLUME_NAMES,
  policyResourceNames,
  type PolicyResourceNames,
} from './names.ts';
