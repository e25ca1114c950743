// Where the verifier starts when it does not start at seq 0 (docs/audit-log-format.md "Pruned
// logs"): after a prune (retention/prune.ts) the first segment holds seq S > 0, and with
// `--from-seq` the verification starts at a chosen seq. The Merkle tree of the entries [0, S) is
// then taken from the hash tiles: the accumulator resumes from the tiles' right edge at S, and the
// signed checkpoints after S, which the kept entries must reproduce, authenticate it. Everything
// before S is checked against that tree only through proofs: a checkpoint below S by a consistency
// proof to S, the first kept entry's prevHash by an inclusion proof of leaf S - 1, a prune record's
// root at its cut likewise. Pure helpers; the verifier decides what a failure means.
import { TileStore } from './tiles.ts';
import { EMPTY_ROOT, MerkleAccumulator, leafHash, verifyConsistency, verifyInclusion } from './merkle.ts';

export interface Head {
  /** The first seq verified. */
  start: number;
  /** The tree's root at `start` (from the tiles). */
  root: Buffer;
  tiles: TileStore;
}

/**
 * The tiles of `dir` and the tree at `wanted`, or at the tiles' reach if that is earlier but not
 * before `earliest` (the first seq present); null when that is 0 (start at the genesis); or why the
 * tiles cannot give it.
 */
export async function openHead(dir: string, wanted: number, earliest: number): Promise<{ head: Head; acc: MerkleAccumulator } | null | string> {
  let tiles: TileStore;
  try {
    tiles = await TileStore.open(dir, { readOnly: true });
  } catch (err) {
    return `the hash tiles cannot be read: ${(err as Error).message}`;
  }
  if (tiles.size < earliest) return `the hash tiles cover ${tiles.size} entries, not the ${earliest} before the first one present`;
  const start = Math.max(earliest, Math.min(wanted, tiles.size));
  if (start === 0) return null;
  try {
    const acc = await MerkleAccumulator.fromReader(start, tiles.hashAt);
    return { head: { start, root: acc.root(), tiles }, acc };
  } catch (err) {
    return `the hash tiles cannot give the tree at size ${start}: ${(err as Error).message}`;
  }
}

/** True when the tree at size `m` <= start with root `rootM` is a prefix of the tree at `start` (a consistency proof from the tiles). */
export async function consistentBelow(head: Head, m: number, rootM: Uint8Array): Promise<boolean> {
  if (m === head.start) return head.root.equals(rootM);
  if (m === 0) return EMPTY_ROOT.equals(rootM);
  try {
    const proof = await head.tiles.consistencyProof(m, head.start);
    return verifyConsistency(m, head.start, rootM, head.root, proof);
  } catch {
    return false;
  }
}

/** True when the entry hash `prevHashHex` is leaf `start - 1` of the tree at `start` (an inclusion proof from the tiles). */
export async function linksToHead(head: Head, prevHashHex: string): Promise<boolean> {
  if (head.start === 0) return false;
  try {
    const proof = await head.tiles.inclusionProof(head.start - 1, head.start);
    return verifyInclusion(head.start - 1, head.start, leafHash(Buffer.from(prevHashHex, 'hex')), proof, head.root);
  } catch {
    return false;
  }
}

/** The fields of a prune record the verifier checks. */
export interface PruneFields {
  seq: number;
  firstKept: number;
  rootHash: Buffer;
  prevHash: string;
  segments: [number, number];
  /** Set by the verifier: signed, or covered by a checkpoint. */
  authenticated: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;
const B64_32 = /^[A-Za-z0-9+/]{43}=$/;

function isRange(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) && (v[0] as number) <= (v[1] as number);
}

/** A prune record's fields, or why it is not in the format (docs/audit-log-format.md "Prune records"). */
export function pruneFields(e: Record<string, unknown>): PruneFields | string {
  const p = e.prune as Record<string, unknown> | undefined;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return 'prune is not an object';
  for (const k of ['at', 'reason', 'by'] as const) if (typeof p[k] !== 'string') return `prune.${k} is not a string`;
  const { firstKept, treeSize, rootHash, prevHash, segments, entries, bytes } = p;
  if (!Number.isSafeInteger(firstKept) || (firstKept as number) < 1) return 'prune.firstKept is not a positive integer';
  if (treeSize !== firstKept) return 'prune.treeSize differs from prune.firstKept';
  if ((firstKept as number) > (e.seq as number)) return 'prune.firstKept is after the record itself';
  if (typeof rootHash !== 'string' || !B64_32.test(rootHash)) return 'prune.rootHash is not the base64 of 32 bytes';
  if (typeof prevHash !== 'string' || !HEX64.test(prevHash)) return 'prune.prevHash is not 64 lowercase hex digits';
  if (!isRange(segments) || segments[0] < 1) return 'prune.segments is not a range of segment numbers';
  if (!isRange(entries) || entries[1] !== (firstKept as number) - 1) return 'prune.entries is not a range ending before prune.firstKept';
  if (!Number.isSafeInteger(bytes) || (bytes as number) < 0) return 'prune.bytes is not a non-negative integer';
  return { seq: e.seq as number, firstKept: firstKept as number, rootHash: Buffer.from(rootHash, 'base64'), prevHash, segments, authenticated: false };
}
