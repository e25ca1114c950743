// What `llmaudit verify --witness-key` adds to the verification of a log (docs/witness.md "What an
// auditor checks"): the witness cosignatures (C2SP tlog-cosignature) on the log's checkpoints and
// on the --since checkpoint. The checkpoints themselves are checked against the log's tree by
// verifyLog (every file in checkpoints/ must match the tree at its size), so the newest cosigned
// one found here is consistent with the log once verifyLog passed.
import { readFile } from 'node:fs/promises';
import { verifyCosignatures, type VerifiedCosignature } from '../auditlog/cosignature.ts';
import { listCheckpoints } from '../auditlog/layout.ts';
import { parseCheckpointBody } from '../auditlog/checkpoint.ts';
import type { NoteVerifier } from '../auditlog/signed-note.ts';

export interface WitnessedCheckpoint {
  size: number;
  /** The newest cosignature on it by a given witness key. */
  cosignature: VerifiedCosignature;
}

export type WitnessCheck = { ok: true; newest: WitnessedCheckpoint | null; since: WitnessedCheckpoint | null } | { ok: false; exit: 5; code: 'LLMAUDIT_E_VERIFY_SIGNATURE'; message: string };

function newestOf(cs: VerifiedCosignature[]): VerifiedCosignature {
  return cs.reduce((a, b) => (b.timestamp > a.timestamp ? b : a));
}

/** Cosignatures by the witnesses on a note: [] when it has none; throws on a cosignature that does not verify. */
function cosignaturesOf(note: string, witnesses: NoteVerifier[]): VerifiedCosignature[] {
  try {
    return verifyCosignatures(note, witnesses);
  } catch (err) {
    const reason = (err as { details?: { reason?: string } }).details?.reason;
    if (reason === 'unknown-key' || /0 witness cosignature/.test((err as Error).message)) return [];
    throw err;
  }
}

export async function checkWitnessed(dir: string, witnesses: NoteVerifier[], since?: string): Promise<WitnessCheck> {
  const fail = (message: string): WitnessCheck => ({ ok: false, exit: 5, code: 'LLMAUDIT_E_VERIFY_SIGNATURE', message });
  let sinceResult: WitnessedCheckpoint | null = null;
  if (since !== undefined) {
    let cs: VerifiedCosignature[];
    try {
      cs = cosignaturesOf(since, witnesses);
    } catch (err) {
      return fail(`the --since checkpoint: ${(err as Error).message}`);
    }
    if (cs.length === 0) return fail('the --since checkpoint carries no cosignature by the given witness key');
    const body = since.slice(0, since.lastIndexOf('\n\n') + 1);
    sinceResult = { size: parseCheckpointBody(body).size, cosignature: newestOf(cs) };
  }
  const files = await listCheckpoints(dir);
  for (const f of files.reverse()) {
    let cs: VerifiedCosignature[];
    try {
      cs = cosignaturesOf(await readFile(f.path, 'utf8'), witnesses);
    } catch (err) {
      return fail(`checkpoints/${f.name}: ${(err as Error).message}`);
    }
    if (cs.length > 0) return { ok: true, newest: { size: f.size, cosignature: newestOf(cs) }, since: sinceResult };
  }
  if (sinceResult === null) return fail('no checkpoint of the log is cosigned by the given witness key');
  return { ok: true, newest: null, since: sinceResult };
}
