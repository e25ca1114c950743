import type { AppendResult, EntryPayload } from '../auditlog/types.ts';
import type { PayloadSource } from '../auditlog/log-thread-protocol.ts';

/** Where entries go. The audit log writer (`openLog(...)` in auditlog/index.ts) satisfies it. */
export interface AuditSink {
  /** `source`: the text of a large JSON request body, `payload.request.body` being its parse (auditlog/log-thread-protocol.ts). */
  append(payload: EntryPayload, source?: PayloadSource): Promise<AppendResult>;
  /**
   * True while the writer is so far behind (auditlog BACKLOG_ENTRIES not yet appended) that new
   * exchanges should wait for their entries as under `durability: strict`: under `batched` this
   * is what bounds the memory of a writer that cannot keep up.
   */
  behind?(): boolean;
  /**
   * True when the sink writes a refused payload's degraded form itself and says so in the
   * result's `degraded` (the writer thread's log opened with `degradeRefused`): the proxy then
   * keeps no payload for a retry while the entry is on its way.
   */
  readonly degradesRefused?: boolean;
}
