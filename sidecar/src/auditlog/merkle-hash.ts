// The hash functions of the RFC 6962 §2.1 / RFC 9162 §2.1.1 Merkle tree (re-exported by merkle.ts).
import { hash } from 'node:crypto';

export const HASH_SIZE = 32;

/** SHA-256(""), the root of the empty tree (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = hash('sha256', new Uint8Array(0), 'buffer');

// Scratch buffers: JS is single-threaded and nothing awaits between filling and hashing, so one
// buffer per shape avoids an allocation per hash on the append hot path. A leaf hash comes back as
// a latin1 string copied into a pooled Buffer: cheaper than crypto.hash's 'buffer' output, which
// allocates an ArrayBuffer of its own per digest (hash.ts), and the writer copies it into its tile
// at once. A node hash keeps its own ArrayBuffer: a tile holds up to 255 of them for as long as it
// is the tree's edge, and a pooled slice would keep its whole 8 KiB pool slab alive that long.
const leafScratch = Buffer.alloc(1 + 64);
const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/** SHA-256(0x00 || entryHash). Any length is accepted (the RFC 6962 test vectors use short leaves). */
export function leafHash(entryHash: Uint8Array): Buffer {
  if (entryHash.length <= 64) {
    leafScratch[0] = 0x00;
    leafScratch.set(entryHash, 1);
    return Buffer.from(hash('sha256', leafScratch.subarray(0, 1 + entryHash.length), 'binary'), 'latin1');
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
