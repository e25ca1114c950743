// The Merkle tree of RFC 6962 §2.1 / RFC 9162 §2.1 (and C2SP merkle-tree) over the entries'
// hashes: leaf = SHA-256(0x00 || entry hash bytes), node = SHA-256(0x01 || left || right),
// empty tree = SHA-256(""). Proofs are generated from complete-subtree hashes only (what
// C2SP tlog-tiles store), read through a HashReader, and verified with the algorithms of
// RFC 9162 §2.1.3.2 and §2.1.4.2.
import { hash } from 'node:crypto';
import { cryptoError } from './crypto-errors.ts';

export const HASH_SIZE = 32;

/** SHA-256(""), the root of the empty tree (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = hash('sha256', new Uint8Array(0), 'buffer');

// Scratch buffers: JS is single-threaded and nothing awaits between filling and hashing, so one
// buffer per shape avoids an allocation per hash on the append hot path.
const leafScratch = Buffer.alloc(1 + 64);
const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/** SHA-256(0x00 || entryHash). Any length is accepted (the RFC 6962 test vectors use short leaves). */
export function leafHash(entryHash: Uint8Array): Buffer {
  if (entryHash.length <= 64) {
    leafScratch[0] = 0x00;
    leafScratch.set(entryHash, 1);
    return hash('sha256', leafScratch.subarray(0, 1 + entryHash.length), 'buffer');
  }
  return hash('sha256', Buffer.concat([Buffer.of(0x00), entryHash]), 'buffer');
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeScratch.set(left, 1);
    nodeScratch.set(right, 1 + HASH_SIZE);
    return hash('sha256', nodeScratch, 'buffer');
  }
  return hash('sha256', Buffer.concat([Buffer.of(0x01), left, right]), 'buffer');
}

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

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
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

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function allHashes(proof: Uint8Array[]): boolean {
  return proof.every((p) => p.length === HASH_SIZE);
}

// fn and sn may exceed 2^32, so shifts are divisions (bitwise operators are 32-bit in JS).
const lsb = (x: number): boolean => x % 2 === 1;
const shr = (x: number): number => Math.floor(x / 2);

/** RFC 9162 §2.1.3.2, step by step. `leafHash` is the leaf's hash (leafHash(entryHash)). */
export function verifyInclusion(index: number, size: number, leafHashBytes: Uint8Array, proof: Uint8Array[], root: Uint8Array): boolean {
  if (!isSize(index) || !isSize(size) || root.length !== HASH_SIZE || leafHashBytes.length !== HASH_SIZE || !allHashes(proof)) return false;
  // 1. Compare leaf_index against tree_size. If leaf_index is greater than or equal to tree_size, fail.
  if (index >= size) return false;
  // 2. Set fn to leaf_index and sn to tree_size - 1.
  let fn = index;
  let sn = size - 1;
  // 3. Set r to hash.
  let r: Uint8Array = leafHashBytes;
  // 4. For each value p in the inclusion_path array:
  for (const p of proof) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0) return false;
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (lsb(fn) || fn === sn) {
      // i. Set r to HASH(0x01 || p || r).
      r = nodeHash(p, r);
      // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set or fn is 0.
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = shr(fn);
          sn = shr(sn);
        }
      }
    } else {
      // Otherwise: i. Set r to HASH(0x01 || r || p).
      r = nodeHash(r, p);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn = shr(fn);
    sn = shr(sn);
  }
  // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the root_hash are equal, then the log has proven the inclusion of hash.
  return sn === 0 && bytesEqual(r, root);
}

/**
 * RFC 9162 §2.1.4.2 for 0 < m < n, step by step; m = n and m = 0 as C2SP merkle-tree
 * "Verification" says (equal roots and an empty proof; any tree extends the empty one).
 */
export function verifyConsistency(m: number, n: number, rootM: Uint8Array, rootN: Uint8Array, proof: Uint8Array[]): boolean {
  if (!isSize(m) || !isSize(n) || m > n || !allHashes(proof)) return false;
  if (m === n) return proof.length === 0 && bytesEqual(rootM, rootN);
  if (m === 0) return proof.length === 0;
  if (rootM.length !== HASH_SIZE || rootN.length !== HASH_SIZE) return false;
  // 1. If consistency_path is an empty array, stop and fail the proof verification.
  if (proof.length === 0) return false;
  // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  // 3. Set fn to first - 1 and sn to second - 1.
  let fn = m - 1;
  let sn = n - 1;
  // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
  while (lsb(fn)) {
    fn = shr(fn);
    sn = shr(sn);
  }
  // 5. Set both fr and sr to the first value in the consistency_path array.
  let fr: Uint8Array = path[0] as Uint8Array;
  let sr: Uint8Array = fr;
  // 6. For each subsequent value c in the consistency_path array:
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0) return false;
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (lsb(fn) || fn === sn) {
      // i. Set fr to HASH(0x01 || c || fr). ii. Set sr to HASH(0x01 || c || sr).
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      // iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set or fn is 0.
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = shr(fn);
          sn = shr(sn);
        }
      }
    } else {
      // Otherwise: i. Set sr to HASH(0x01 || sr || c).
      sr = nodeHash(sr, c);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn = shr(fn);
    sn = shr(sn);
  }
  // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
  return sn === 0 && bytesEqual(fr, rootM) && bytesEqual(sr, rootN);
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
