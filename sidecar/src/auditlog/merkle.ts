// The Merkle tree of RFC 6962 §2.1 / RFC 9162 §2.1 (and C2SP merkle-tree) over the entries'
// hashes: leaf = SHA-256(0x00 || entry hash bytes), node = SHA-256(0x01 || left || right),
// empty tree = SHA-256(""). Proofs are generated from complete-subtree hashes only (what
// C2SP tlog-tiles store), read through a HashReader, and verified with the algorithms of
// RFC 9162 §2.1.3.2 and §2.1.4.2.
import { cryptoError } from './crypto-errors.ts';
import { EMPTY_ROOT, HASH_SIZE, nodeHash } from './merkle-hash.ts';

export { EMPTY_ROOT, HASH_SIZE, leafHash, nodeHash } from './merkle-hash.ts';
export { verifyConsistency, verifyInclusion } from './merkle-verify.ts';

/**
 * Hash of the complete subtree of height `level` covering leaves [index·2^level, (index+1)·2^level).
 * Level 0 is the leaf hashes. Only subtrees inside the tree may be asked for.
 */
export type HashReader = (level: number, index: number) => Promise<Buffer>;

/** Largest power of two strictly smaller than n (n >= 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function allHashes(hashes: Uint8Array[]): boolean {
  return hashes.every((h) => h.length === HASH_SIZE);
}

/**
 * MTH of leaves [start, end) where [start, end) is a subtree that occurs in the RFC recursion
 * (start is a multiple of a power of two >= end - start). A range that is not itself complete is
 * folded from its complete parts, largest first, which is exactly MTH's left-balanced split.
 */
async function rangeHash(start: number, end: number, hashAt: HashReader): Promise<Buffer> {
  const parts: Promise<Buffer>[] = [];
  let pos = start;
  let rest = end - start;
  for (let h = 52; h >= 0; h--) {
    const bit = 2 ** h;
    if (rest >= bit) {
      parts.push(hashAt(h, pos / bit));
      pos += bit;
      rest -= bit;
    }
  }
  const hashes = await Promise.all(parts);
  let acc = hashes[hashes.length - 1] as Buffer;
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i] as Buffer, acc);
  return acc;
}

/** Root of the tree of the first `size` leaves, from complete-subtree hashes. */
export async function rootFromReader(size: number, hashAt: HashReader): Promise<Buffer> {
  if (!isSize(size)) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `tree size ${size}`);
  return size === 0 ? EMPTY_ROOT : rangeHash(0, size, hashAt);
}

/** PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf to root. */
export async function inclusionProof(index: number, size: number, hashAt: HashReader): Promise<Buffer[]> {
  if (!isSize(size) || !isSize(index) || index >= size) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `leaf ${index} in a tree of size ${size}`);
  const siblings: Promise<Buffer>[] = [];
  let start = 0;
  let n = size;
  let m = index;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      siblings.push(rangeHash(start + k, start + n, hashAt));
      n = k;
    } else {
      siblings.push(rangeHash(start, start + k, hashAt));
      start += k;
      m -= k;
      n -= k;
    }
  }
  return (await Promise.all(siblings)).reverse();
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1; empty for m = 0 or m = n. */
export async function consistencyProof(m: number, n: number, hashAt: HashReader): Promise<Buffer[]> {
  if (!isSize(m) || !isSize(n) || m > n) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `consistency from ${m} to ${n}`);
  if (m === 0 || m === n) return [];
  const items: Promise<Buffer>[] = [];
  let start = 0;
  let size = n;
  let mm = m;
  let b = true;
  while (mm !== size) {
    const k = splitPoint(size);
    if (mm <= k) {
      items.push(rangeHash(start + k, start + size, hashAt));
      size = k;
    } else {
      items.push(rangeHash(start, start + k, hashAt));
      start += k;
      mm -= k;
      size -= k;
      b = false;
    }
  }
  // SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree's root is not a node of the new tree's
  // path, so it is sent; SUBPROOF(m, D[m], true) = {} (the verifier has it).
  if (!b) items.push(rangeHash(start, start + size, hashAt));
  return (await Promise.all(items)).reverse();
}

/**
 * The right edge of the tree ("compact range"): one hash per set bit of the size, O(log n)
 * memory. The verifier streams leaves through it; the writer uses it for the live root.
 */
export class MerkleAccumulator {
  // peaks[h] = root of the complete subtree of height h on the right edge, if bit h of size is set.
  #peaks: (Buffer | undefined)[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(leaf: Uint8Array): void {
    let h: Buffer = Buffer.from(leaf);
    let height = 0;
    for (let p = this.#peaks[height]; p !== undefined; p = this.#peaks[height]) {
      h = nodeHash(p, h);
      this.#peaks[height] = undefined;
      height++;
    }
    this.#peaks[height] = h;
    this.#size++;
  }

  root(): Buffer {
    let r: Buffer | undefined;
    for (const p of this.#peaks) if (p !== undefined) r = r === undefined ? p : nodeHash(p, r);
    return r ?? EMPTY_ROOT;
  }

  /** The right-edge hashes, largest subtree first (the compact range [0, size)). */
  peaks(): Buffer[] {
    const out: Buffer[] = [];
    for (let h = this.#peaks.length - 1; h >= 0; h--) {
      const p = this.#peaks[h];
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  /** Resumes from a size and its right-edge hashes (largest first), e.g. read from tiles. */
  static fromPeaks(size: number, peaks: Uint8Array[]): MerkleAccumulator {
    if (!isSize(size)) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `tree size ${size}`);
    const acc = new MerkleAccumulator();
    const heights: number[] = [];
    for (let h = 52; h >= 0; h--) if (Math.floor(size / 2 ** h) % 2 === 1) heights.push(h);
    if (heights.length !== peaks.length || !allHashes(peaks)) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `size ${size} needs ${heights.length} edge hashes, got ${peaks.length}`);
    heights.forEach((h, i) => (acc.#peaks[h] = Buffer.from(peaks[i] as Uint8Array)));
    acc.#size = size;
    return acc;
  }

  /** Resumes from a HashReader (the tiles) without reading any leaf. */
  static async fromReader(size: number, hashAt: HashReader): Promise<MerkleAccumulator> {
    if (!isSize(size)) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `tree size ${size}`);
    const reads: Promise<Buffer>[] = [];
    let pos = 0;
    for (let h = 52; h >= 0; h--) {
      const bit = 2 ** h;
      if (Math.floor(size / bit) % 2 === 1) {
        reads.push(hashAt(h, pos / bit));
        pos += bit;
      }
    }
    return MerkleAccumulator.fromPeaks(size, await Promise.all(reads));
  }
}

/** MTH(D[n]) straight from RFC 9162 §2.1.1's recursion over leaf hashes; a reference for tests. */
export function rootOfLeaves(leafHashes: Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  if (leafHashes.length === 1) return Buffer.from(leafHashes[0] as Uint8Array);
  const k = splitPoint(leafHashes.length);
  return nodeHash(rootOfLeaves(leafHashes.slice(0, k)), rootOfLeaves(leafHashes.slice(k)));
}

/** A HashReader over leaf hashes held in memory (every level precomputed): tests and small trees. */
export function memoryHashReader(leafHashes: Uint8Array[]): HashReader {
  const levels: Buffer[][] = [leafHashes.map((h) => Buffer.from(h))];
  for (let row = levels[0] as Buffer[]; row.length > 1; ) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < row.length; i += 2) next.push(nodeHash(row[i] as Buffer, row[i + 1] as Buffer));
    levels.push(next);
    row = next;
  }
  return (level, index) => {
    const h = levels[level]?.[index];
    if (h === undefined) return Promise.reject(cryptoError('LLMAUDIT_E_TREE_RANGE', `no complete subtree at level ${level} index ${index}`));
    return Promise.resolve(h);
  };
}
