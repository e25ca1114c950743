import type { AppendResult, EntryPayload } from '../auditlog/types.ts';

/** Where entries go. The audit log writer (`openLog(...)` in auditlog/index.ts) satisfies it. */
export interface AuditSink {
  append(payload: EntryPayload): Promise<AppendResult>;
}
