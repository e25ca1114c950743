// Single-entry proofs an auditor can check offline with nothing but the log's verifier key
// (docs/audit-log-format.md "Proofs"): the JSON InclusionProofBundle (`llmaudit prove --json`) and
// the same proof as C2SP tlog-proof text (https://c2sp.org/tlog-proof), whose `extra` line carries
// the entry (base64 of its JSON) so the text alone is enough to recompute the leaf.
import { leafHash, verifyInclusion, verifyConsistency } from './merkle.ts';
import { parseCheckpointBody, verifyCheckpoint } from './checkpoint.ts';
import { cryptoError } from './crypto-errors.ts';
import { logError } from './log-errors.ts';
import { findEntry } from './log-reader.ts';
import { readCheckpointAt } from './checkpoint-store.ts';
import { ioErrorToLogError } from './log-errors.ts';
import { hashEntryObject, isLineProblem } from './entry.ts';
import type { NoteVerifier } from './signed-note.ts';
import type { TileStore } from './tiles.ts';
import type { ConsistencyProofBundle, Entry, InclusionProofBundle } from './types.ts';

const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

function noteText(note: string): string {
  const end = note.indexOf('\n\n');
  return end === -1 ? note : note.slice(0, end + 1);
}

/** What an inclusion proof is read from: the writer's TileStore, or a reader's tiles on disk. */
export interface ProofTree {
  inclusionProof(index: number, size: number): Promise<Buffer[]>;
}

export async function buildInclusionBundle(input: { entry: Entry; note: string; tree: ProofTree }): Promise<InclusionProofBundle> {
  const cp = parseCheckpointBody(noteText(input.note));
  const index = input.entry.seq;
  const proof = (await input.tree.inclusionProof(index, cp.size)).map((h) => h.toString('base64'));
  const bundle: InclusionProofBundle = {
    index,
    entry: input.entry,
    entryHash: input.entry.hash,
    treeSize: cp.size,
    rootHash: cp.rootHash.toString('base64'),
    inclusionProof: proof,
    checkpoint: input.note,
  };
  bundle.tlogProof = formatTlogProof(bundle);
  return bundle;
}

/** The writer's state a proof is served from (log-writer.ts hands it over on its loop). */
export interface ProofSource {
  dir: string;
  segmentStarts: Array<number | null>;
  /** Entries written. */
  size: number;
  latest: { size: number; note: string } | null;
  tiles: TileStore;
  /** Signs and stores a checkpoint at `size` (or returns the one there). */
  checkpoint: () => Promise<string>;
}

/** The proof of entry `seq` against the newest checkpoint covering it (signing one if none does). */
export async function serveInclusionProof(src: ProofSource, seq: number): Promise<InclusionProofBundle> {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq >= src.size) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `seq ${seq} (the log has ${src.size} entries)`);
  const note = src.latest !== null && src.latest.size > seq ? src.latest.note : await src.checkpoint();
  const entry = await findEntry(src.dir, src.segmentStarts, seq);
  return buildInclusionBundle({ entry, note, tree: src.tiles });
}

/**
 * From `fromSize` to `toSize` (default: the current size, signing a checkpoint there if needed).
 * A smaller `toSize` needs a checkpoint signed at exactly that size (checkpoints/ keeps them all).
 */
export async function serveConsistencyProof(src: ProofSource, fromSize: number, toSize?: number): Promise<ConsistencyProofBundle> {
  let note: string | null;
  if (toSize === undefined || toSize === src.size) note = src.latest !== null && src.latest.size === src.size ? src.latest.note : await src.checkpoint();
  else {
    note = Number.isSafeInteger(toSize) && toSize >= 0 && toSize < src.size ? await readCheckpointAt(src.dir, toSize).catch((err: unknown) => Promise.reject(ioErrorToLogError(err, `reading the checkpoint at size ${toSize}`))) : null;
    if (note === null) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `no checkpoint signed at size ${toSize} (the log has ${src.size} entries)`);
  }
  return buildConsistencyBundle({ fromSize, note, tiles: src.tiles });
}

export async function buildConsistencyBundle(input: { fromSize: number; note: string; tiles: TileStore }): Promise<ConsistencyProofBundle> {
  const cp = parseCheckpointBody(noteText(input.note));
  if (!Number.isSafeInteger(input.fromSize) || input.fromSize < 0 || input.fromSize > cp.size) {
    throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `no consistency proof from size ${input.fromSize} to ${cp.size}`);
  }
  const proof = input.fromSize === 0 ? [] : await input.tiles.consistencyProof(input.fromSize, cp.size);
  return { fromSize: input.fromSize, toSize: cp.size, proof: proof.map((h) => h.toString('base64')), checkpoint: input.note };
}

export function formatTlogProof(b: InclusionProofBundle): string {
  const extra = Buffer.from(JSON.stringify(b.entry), 'utf8').toString('base64');
  return [TLOG_PROOF_HEADER, `extra ${extra}`, `index ${b.index}`, ...b.inclusionProof, '', b.checkpoint].join('\n');
}

function parseError(what: string): Error {
  return logError('LLMAUDIT_E_LOG_PARSE', `proof: ${what}`);
}

/** Parses tlog-proof text (with our entry in `extra`) into a bundle. */
export function parseTlogProof(text: string): InclusionProofBundle {
  const lines = text.split('\n');
  if (lines[0] !== TLOG_PROOF_HEADER) throw parseError(`first line is not ${TLOG_PROOF_HEADER}`);
  let i = 1;
  let entry: Entry | null = null;
  if (lines[i]?.startsWith('extra ') === true) {
    try {
      entry = JSON.parse(Buffer.from((lines[i] as string).slice(6), 'base64').toString('utf8')) as Entry;
    } catch {
      throw parseError('extra is not a base64 JSON entry');
    }
    i++;
  }
  if (entry === null) throw parseError('no entry (extra line) in the proof');
  const m = /^index (0|[1-9]\d*)$/.exec(lines[i] ?? '');
  if (m === null) throw parseError('missing index line');
  i++;
  const proof: string[] = [];
  while (i < lines.length && lines[i] !== '') proof.push(lines[i++] as string);
  if (i >= lines.length) throw parseError('no checkpoint after the inclusion proof (truncated?)');
  const note = lines.slice(i + 1).join('\n');
  const cp = parseCheckpointBody(noteText(note));
  return { index: Number(m[1]), entry, entryHash: String(entry.hash), treeSize: cp.size, rootHash: cp.rootHash.toString('base64'), inclusionProof: proof, checkpoint: note };
}

/** Reads a proof file's text: the JSON bundle or C2SP tlog-proof text. */
export function parseProof(text: string): InclusionProofBundle {
  if (text.startsWith(TLOG_PROOF_HEADER)) return parseTlogProof(text);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw parseError(`not JSON and not tlog-proof text (${(err as Error).message}); truncated?`);
  }
  const b = v as Partial<InclusionProofBundle>;
  if (
    v === null ||
    typeof v !== 'object' ||
    typeof b.index !== 'number' ||
    typeof b.treeSize !== 'number' ||
    typeof b.rootHash !== 'string' ||
    typeof b.entryHash !== 'string' ||
    typeof b.checkpoint !== 'string' ||
    !Array.isArray(b.inclusionProof) ||
    b.entry === null ||
    typeof b.entry !== 'object'
  ) {
    throw parseError('missing fields: index, entry, entryHash, treeSize, rootHash, inclusionProof, checkpoint');
  }
  return b as InclusionProofBundle;
}

export interface VerifiedProof {
  index: number;
  treeSize: number;
  origin: string;
  entryHash: string;
  entry: Entry;
}

function b64(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw parseError(`${what} is not base64`);
  return Buffer.from(s, 'base64');
}

/**
 * Checks a proof offline: the checkpoint's signature with one of `verifiers`, the entry's hash
 * (recomputed from its content), its signature if it has one, and the Merkle inclusion of its leaf
 * in the checkpoint's tree (RFC 9162 §2.1.3.2).
 */
export function verifyProofBundle(b: InclusionProofBundle, verifiers: NoteVerifier[]): VerifiedProof {
  let cp: { origin: string; size: number; rootHash: Buffer } | null = null;
  let sigErr: unknown = null;
  for (const v of verifiers) {
    try {
      cp = verifyCheckpoint(b.checkpoint, v);
      break;
    } catch (err) {
      sigErr = err;
    }
  }
  if (cp === null) throw sigErr ?? cryptoError('LLMAUDIT_E_SIGNATURE_INVALID', 'no verifier key given');
  if (b.treeSize !== cp.size || b.rootHash !== cp.rootHash.toString('base64')) {
    throw cryptoError('LLMAUDIT_E_PROOF_INVALID', 'treeSize/rootHash differ from the signed checkpoint');
  }
  const { hash, sig } = b.entry;
  if (b.entry === null || typeof b.entry !== 'object') throw parseError('entry is not an object');
  const checked = hashEntryObject(b.entry as unknown as Record<string, unknown>);
  if (isLineProblem(checked)) throw parseError(`entry: ${checked.message}`);
  if (checked.partMismatch !== null) throw cryptoError('LLMAUDIT_E_PROOF_INVALID', `the entry does not match its hash: ${checked.partMismatch}`);
  const computed = checked.computedHash;
  if (computed.toString('hex') !== hash || hash !== b.entryHash) throw cryptoError('LLMAUDIT_E_PROOF_INVALID', 'the entry does not match its hash');
  if (b.entry.origin !== cp.origin) throw cryptoError('LLMAUDIT_E_PROOF_INVALID', `entry origin ${String(b.entry.origin)} is not the checkpoint origin ${cp.origin}`);
  if (b.index !== b.entry.seq) throw cryptoError('LLMAUDIT_E_PROOF_INVALID', `index ${b.index} is not the entry's seq ${String(b.entry.seq)}`);
  if (sig !== undefined && !verifiers.some((v) => v.verify(computed, b64(sig, 'entry sig')))) {
    throw cryptoError('LLMAUDIT_E_SIGNATURE_INVALID', `entry seq ${b.index}: signature does not verify`);
  }
  const proof = b.inclusionProof.map((h, i) => b64(h, `inclusionProof[${i}]`));
  if (!verifyInclusion(b.index, cp.size, leafHash(computed), proof, cp.rootHash)) {
    throw cryptoError('LLMAUDIT_E_PROOF_INVALID', `entry seq ${b.index} is not included in the tree of size ${cp.size}`);
  }
  return { index: b.index, treeSize: cp.size, origin: cp.origin, entryHash: hash, entry: b.entry };
}

/** Checks a consistency bundle against an older checkpoint (both signed by one of `verifiers`). */
export function verifyConsistencyBundle(older: string, b: ConsistencyProofBundle, verifiers: NoteVerifier[]): boolean {
  const open = (note: string): { origin: string; size: number; rootHash: Buffer } => {
    let last: unknown = null;
    for (const v of verifiers) {
      try {
        return verifyCheckpoint(note, v);
      } catch (err) {
        last = err;
      }
    }
    throw last ?? cryptoError('LLMAUDIT_E_SIGNATURE_INVALID', 'no verifier key given');
  };
  const a = open(older);
  const n = open(b.checkpoint);
  if (a.origin !== n.origin || a.size !== b.fromSize || n.size !== b.toSize) return false;
  if (a.size === 0) return true;
  return verifyConsistency(a.size, n.size, a.rootHash, n.rootHash, b.proof.map((h, i) => b64(h, `proof[${i}]`)));
}
