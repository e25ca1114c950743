// Error codes of the audit-log writer, reader and verifier (docs/errors.md "Audit log: writer and
// verifier"). The verifier's codes carry the verification exit status of docs/audit-log-format.md
// ("Verification"): 1 file error, 2 chain broken, 3 entry tampered, 4 parse error, 5 signature
// invalid or wrong key, 6 inconsistent with an earlier checkpoint.
import { errorFactory, type ErrorRegistry } from '../errors.ts';

export const LOG_ERRORS = {
  LLMAUDIT_E_LOG_LOCKED: { message: 'the chain directory is locked by another live writer', exit: 1 },
  LLMAUDIT_E_LOG_CLOSED: { message: 'the audit log is closed', exit: 1 },
  LLMAUDIT_E_LOG_DISK_FULL: { message: 'the audit log volume is full', exit: 1 },
  LLMAUDIT_E_LOG_READONLY: { message: 'the audit log volume is read-only or not writable', exit: 1 },
  LLMAUDIT_E_LOG_WRITE: { message: 'writing the audit log failed', exit: 1 },
  LLMAUDIT_E_LOG_FAILED: { message: 'the audit log writer stopped after an unrecoverable I/O error; reopen it', exit: 1 },
  LLMAUDIT_E_LOG_CORRUPT: { message: 'the existing chain fails its recovery check; the writer refuses to continue it', exit: 3 },
  LLMAUDIT_E_LOG_ORIGIN_MISMATCH: { message: 'the chain directory holds a chain of another origin', exit: 1 },
  LLMAUDIT_E_LOG_PAYLOAD_INVALID: { message: 'the entry payload cannot be recorded', exit: 1 },
  LLMAUDIT_E_LOG_NOT_FOUND: { message: 'no such entry or checkpoint in the log', exit: 1 },
  LLMAUDIT_E_VERIFY_FILE: { message: 'the log cannot be read', exit: 1 },
  LLMAUDIT_E_CHAIN_BROKEN: { message: 'chain broken: an entry or segment is missing, duplicated or out of order', exit: 2 },
  LLMAUDIT_E_ENTRY_TAMPERED: { message: 'entry tampered: content does not match its hash, link or signature', exit: 3 },
  LLMAUDIT_E_LOG_PARSE: { message: 'parse error: a line, checkpoint or proof is not in the expected format', exit: 4 },
  LLMAUDIT_E_VERIFY_SIGNATURE: { message: 'signature invalid or made with another key', exit: 5 },
  LLMAUDIT_E_CHECKPOINT_INCONSISTENT: { message: 'the log is inconsistent with the given earlier checkpoint (rolled back, truncated or forked)', exit: 6 },
  LLMAUDIT_E_MEDIA_TAMPERED: { message: 'a media file does not match the SHA-256 its entry records', exit: 3 },
  LLMAUDIT_E_MEDIA_MISSING: { message: 'a media file an entry references is missing (--strict-media)', exit: 2 },
  LLMAUDIT_E_VERIFY_NO_CHAIN: { message: 'no chain directory (seg-NNNNNN.jsonl) in or under the directory', exit: 1 },
} as const satisfies ErrorRegistry;

export type LogErrorCode = keyof typeof LOG_ERRORS;
export const logError = errorFactory(LOG_ERRORS);

/** A payload the log cannot build (what a degraded entry answers: auditlog/degrade-entry.ts). */
export function isPayloadInvalid(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'LLMAUDIT_E_LOG_PAYLOAD_INVALID';
}

/** Maps an I/O error of a write path to the writer's typed error (docs/audit-log-format.md "Segments": failures while writing). */
export function ioErrorToLogError(err: unknown, what: string): ReturnType<typeof logError> {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return logError('LLMAUDIT_E_LOG_DISK_FULL', `${what}: ${code}`, { cause: err });
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return logError('LLMAUDIT_E_LOG_READONLY', `${what}: ${code}`, { cause: err });
  return logError('LLMAUDIT_E_LOG_WRITE', `${what}: ${code ?? String(err)}`, { cause: err });
}
