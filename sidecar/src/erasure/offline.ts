// Erasure on a stopped log (docs/erasure.md "Offline"): opens the chain with the writer, which takes
// the log's lock (a live writer's lock refuses it: use the sidecar's POST /v1/erase instead),
// erases, and closes (a final checkpoint, the lock released).
import { listSegments } from '../auditlog/layout.ts';
import { readFirstLine } from '../auditlog/line-reader.ts';
import { openLog } from '../auditlog/log-writer.ts';
import { logError } from '../auditlog/log-errors.ts';
import { eraseEntries, type EraseOptions, type EraseResult } from './erase.ts';
import { erasureError } from './errors.ts';
import { readLatestCheckpoint } from '../auditlog/checkpoint-store.ts';
import { verifyCheckpoint } from '../auditlog/checkpoint.ts';
import { parseVerifierKey, type NoteSigner } from '../auditlog/signed-note.ts';

/** The origin of the chain in `dir`, from its first entry. */
export async function chainOrigin(dir: string): Promise<string> {
  const first = (await listSegments(dir))[0];
  const line = first === undefined ? null : await readFirstLine(first.path);
  if (line === null) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `${dir} holds no entries`);
  const origin = (JSON.parse(line) as { origin?: unknown }).origin;
  if (typeof origin !== 'string') throw logError('LLMAUDIT_E_LOG_PARSE', `${first?.name ?? ''} line 1 has no origin`);
  return origin;
}

export async function eraseOffline(dir: string, signer: NoteSigner, opts: EraseOptions): Promise<EraseResult> {
  const origin = await chainOrigin(dir);
  // The log's key is the one its checkpoints are signed with.
  const latest = await readLatestCheckpoint(dir);
  if (latest !== null) {
    try {
      verifyCheckpoint(latest.note, parseVerifierKey(signer.verifierKey));
    } catch (err) {
      throw erasureError('LLMAUDIT_E_ERASE_KEY', `the key ${signer.name} does not verify the log's newest checkpoint (size ${latest.size})`, { cause: err });
    }
  }
  const log = await openLog({ dir, origin, signerKey: signer, durability: 'strict' });
  try {
    return await eraseEntries(log, opts);
  } finally {
    await log.close();
  }
}
