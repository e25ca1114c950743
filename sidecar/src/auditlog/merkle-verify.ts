// Verification of RFC 9162 Merkle proofs, transcribed step by step from RFC 9162 §2.1.3.2
// (inclusion) and §2.1.4.2 (consistency) so that a reader can check it line by line against the
// RFC; C2SP merkle-tree "Verification" gives the same algorithms. Re-exported by merkle.ts.
import { HASH_SIZE, nodeHash } from './merkle-hash.ts';

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
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
