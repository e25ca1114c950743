// Every sidecar-side error registry, in one place, so docs/errors.md can be checked against it.
// A component that adds a registry lists it here.
import { COMMON_ERRORS, type ErrorRegistry } from './errors.ts';
import { CONFIG_ERRORS } from './config/validate.ts';
import { PROXY_ERRORS } from './proxy/errors.ts';
import { ADMIN_ERRORS } from './proxy/admin-errors.ts';
import { CRYPTO_ERRORS } from './auditlog/crypto-errors.ts';
import { LOG_ERRORS } from './auditlog/log-errors.ts';
import { AUDIT_TOOL_ERRORS } from './audit-tools/errors.ts';
import { ERASURE_ERRORS } from './erasure/errors.ts';

export const SIDECAR_ERROR_REGISTRIES: Readonly<Record<string, ErrorRegistry>> = {
  common: COMMON_ERRORS,
  config: CONFIG_ERRORS,
  proxy: PROXY_ERRORS,
  admin: ADMIN_ERRORS,
  'auditlog-crypto': CRYPTO_ERRORS,
  'auditlog-log': LOG_ERRORS,
  'audit-tools': AUDIT_TOOL_ERRORS,
  erasure: ERASURE_ERRORS,
};
