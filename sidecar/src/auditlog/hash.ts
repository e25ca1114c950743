// SHA-256 helpers for entry hashes (docs/audit-log-format.md "Hashing").
import { hash } from 'node:crypto';
import { canonicalJson } from './jcs.ts';

/**
 * SHA-256 of bytes, or of a string's UTF-8 encoding. One-shot crypto.hash: no Hash object. The
 * digest comes back as a latin1 string, one character per byte, copied into a pooled Buffer:
 * crypto.hash's own 'buffer' output allocates an ArrayBuffer of its own for every 32 bytes, which
 * costs more than hashing a short input (docs/adr/0023-writer-cpu-per-entry.md).
 */
export function sha256(data: Uint8Array | string): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'latin1');
}

/** SHA-256 as lowercase hex, and the same digest as bytes (a pooled Buffer), from one hashing. */
export function sha256HexAndBytes(data: Uint8Array | string): { hex: string; bytes: Buffer } {
  const hex = hash('sha256', data, 'hex');
  return { hex, bytes: Buffer.from(hex, 'hex') };
}

/**
 * The 32 hash bytes of an entry: SHA-256 of the UTF-8 bytes of its RFC 8785 canonical JSON.
 * The caller passes the entry WITHOUT `hash` and `sig` (they are not part of what is hashed).
 */
export function entryHashBytes(entryWithoutHashAndSig: object): Buffer {
  return sha256(canonicalJson(entryWithoutHashAndSig));
}

/** `prevHash` of the first entry: hex SHA-256 of "llmaudit genesis\n" + origin (binds the chain to its origin). */
export function genesisPrevHash(origin: string): string {
  return sha256(`llmaudit genesis\n${origin}`).toString('hex');
}
