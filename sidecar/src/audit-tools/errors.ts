// Error codes of the auditor's tools: export, packs, replay and report (docs/errors.md "Auditor's
// tools"). A pack's own failures carry the verification exit statuses (docs/audit-log-format.md
// "Verification"): 2 a listed file is missing, 3 a file differs from its manifest digest, 4 the
// pack is not readable. Replay errors exit 2 or more, since 1 means "the answer differs".
import { errorFactory, type ErrorRegistry } from '../errors.ts';

export const AUDIT_TOOL_ERRORS = {
  LLMAUDIT_E_EXPORT_EMPTY: { message: 'the selection matches no entry covered by a signed checkpoint', exit: 1 },
  LLMAUDIT_E_PACK_INVALID: { message: 'not a readable audit pack (gzip, tar or manifest.json malformed, or an unsafe file name)', exit: 4 },
  LLMAUDIT_E_PACK_TAMPERED: { message: 'a file in the pack does not match its manifest (another SHA-256, or not listed)', exit: 3 },
  LLMAUDIT_E_PACK_INCOMPLETE: { message: 'a file the pack manifest lists is missing from the pack', exit: 2 },
  LLMAUDIT_E_REPLAY_UNSUPPORTED: { message: 'the recorded exchange cannot be replayed', exit: 2 },
  LLMAUDIT_E_REPLAY_CREDENTIALS: { message: 'the environment variable named by --key-env is not set', exit: 2 },
  LLMAUDIT_E_REPLAY_UPSTREAM: { message: 'the upstream could not be reached or did not answer', exit: 3 },
  LLMAUDIT_E_REPORT_NO_BROWSER: { message: 'no Chromium found for --pdf', exit: 1 },
  LLMAUDIT_E_REPORT_PDF: { message: 'printing the report to PDF failed', exit: 1 },
} as const satisfies ErrorRegistry;

export type AuditToolErrorCode = keyof typeof AUDIT_TOOL_ERRORS;
export const auditToolError = errorFactory(AUDIT_TOOL_ERRORS);
