// SHA-256 helpers for entry hashes (docs/audit-log-format.md "Hashing").
import { hash } from 'node:crypto';
import { canonicalJson } from './jcs.ts';

/** SHA-256 of bytes, or of a string's UTF-8 encoding. One-shot crypto.hash: no Hash object. */
export function sha256(data: Uint8Array | string): Buffer {
  return hash('sha256', data, 'buffer');
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
