// The witness's decision on one `add-checkpoint` request, as a pure function of the request, the
// log's verifier key and the head the witness holds for that origin (C2SP tlog-witness
// "add-checkpoint", checked in the order the spec lists):
//   malformed body or checkpoint                              → 400
//   no signature by the policy's key                          → 403
//   old size above the checkpoint's size                      → 400
//   old size ≠ the size of the head the witness holds         → 409, body: that size
//   same size, other root hash                                → 409 (a fork)
//   consistency proof old → new does not verify               → 422
//   otherwise                                                 → 200 + cosignature, new head
// Refusals that are evidence against the log (a smaller tree than one already witnessed, a fork,
// a proof that fails) carry a Refusal the shell records on the head and reports.
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { verifyCheckpoint, verifyConsistency, type NoteVerifier } from '@llmaudit/sidecar/auditlog';
import { MalformedRequest, parseAddCheckpoint } from '@llmaudit/sidecar/witness/add-checkpoint';
import { RECENT_HEADS, podOfOrigin, type Refusal, type WitnessedHead } from './heads.ts';

export type WitnessOutcome =
  | { status: 200; origin: string; head: WitnessedHead; text: string; note: string; cosignature?: string }
  | { status: 409; origin: string; knownSize: number; message: string; refusal?: Refusal }
  | { status: 422; origin: string; message: string; refusal?: Refusal }
  | { status: 400 | 403; message: string; origin?: string };

export interface WitnessInputs {
  /** The policy's log verifier key (signed-note, type 0x01). */
  verifier: NoteVerifier;
  /** The head held for this origin; looked up once the origin is known. */
  headOf: (origin: string) => WitnessedHead | undefined;
  policy: string;
  /** RFC 3339 (seconds). */
  now: string;
}

export function decideAddCheckpoint(body: Uint8Array, inputs: WitnessInputs): WitnessOutcome {
  let oldSize: number;
  let proof: Buffer[];
  let note: string;
  try {
    ({ oldSize, proof, note } = parseAddCheckpoint(body));
  } catch (err) {
    if (err instanceof MalformedRequest) return { status: 400, message: err.message };
    throw err;
  }
  let cp: ReturnType<typeof verifyCheckpoint>;
  try {
    cp = verifyCheckpoint(note, inputs.verifier);
  } catch (err) {
    if (isLlmauditError(err, 'LLMAUDIT_E_SIGNATURE_INVALID') || isLlmauditError(err, 'LLMAUDIT_E_KEY_INVALID')) return { status: 403, message: err.message };
    if (isLlmauditError(err)) return { status: 400, message: err.message };
    throw err;
  }
  const { origin, size } = cp;
  const root = cp.rootHash.toString('base64');
  if (oldSize > size) return { status: 400, origin, message: `old size ${oldSize} is above the checkpoint's size ${size}` };
  const head = inputs.headOf(origin);
  const known = head?.size ?? 0;
  const refusal = (kind: Refusal['kind'], message: string): Refusal => ({ kind, time: inputs.now, size, rootHash: root, message });

  if (oldSize !== known) {
    const message = `old size ${oldSize} does not match the witnessed size ${known}`;
    // A smaller tree than one already cosigned: the log went back (truncated, restored from a
    // backup), unless it is a late retry of a head the witness held before.
    const replay = head !== undefined && ((head.size === size && head.rootHash === root) || head.recent.some((r) => r.size === size && r.rootHash === root));
    if (head !== undefined && size < head.size && !replay) {
      return { status: 409, origin, knownSize: known, message, refusal: refusal('rollback', `checkpoint of size ${size} is smaller than the witnessed size ${head.size}: the log was rolled back or truncated`) };
    }
    if (head !== undefined && size === head.size && head.rootHash !== root) {
      return { status: 409, origin, knownSize: known, message, refusal: refusal('fork', `checkpoint of size ${size} has another root hash than the one witnessed at that size: the log forked`) };
    }
    return { status: 409, origin, knownSize: known, message };
  }
  if (head !== undefined && size === head.size) {
    if (head.rootHash !== root) {
      return { status: 409, origin, knownSize: known, message: `root hash differs from the witnessed one at size ${size}`, refusal: refusal('fork', `checkpoint of size ${size} has another root hash than the one witnessed at that size: the log forked`) };
    }
    if (proof.length !== 0) return { status: 422, origin, message: 'a proof between equal sizes must be empty' };
  } else if (head === undefined) {
    if (proof.length !== 0) return { status: 422, origin, message: 'the proof must be empty when the old size is 0' };
  } else if (!verifyConsistency(head.size, size, Buffer.from(head.rootHash, 'base64'), cp.rootHash, proof)) {
    return {
      status: 422,
      origin,
      message: `the consistency proof from size ${head.size} to ${size} does not verify`,
      refusal: refusal('inconsistent', `checkpoint of size ${size} is not consistent with the witnessed checkpoint of size ${head.size}: the log was rewritten or forked`),
    };
  }
  const recent = head === undefined || (head.size === size && head.rootHash === root) ? (head?.recent ?? []) : [{ size: head.size, rootHash: head.rootHash }, ...head.recent].slice(0, RECENT_HEADS);
  const next: WitnessedHead = {
    origin,
    size,
    rootHash: root,
    time: inputs.now,
    ...podOfOrigin(origin),
    policy: inputs.policy,
    recent,
    ...(head?.refused === undefined ? {} : { refused: head.refused }),
  };
  // The note as stored: the log's signature only (cosignatures of other witnesses are not ours to vouch for).
  const own = cp.signatures.filter((x) => x.verified).map((x) => `${x.line}\n`).join('');
  return { status: 200, origin, head: next, text: cp.text, note: `${cp.text}\n${own}` };
}
