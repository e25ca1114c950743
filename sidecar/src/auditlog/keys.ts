// Raw Ed25519 keys as node:crypto KeyObjects. Signing goes through OpenSSL (node:crypto), which is
// several times faster than a pure-JS implementation (docs/adr/0002-log-format-standards.md).
// node:crypto takes no raw 32-byte keys, so we wrap them in the fixed DER prefixes of RFC 8410:
// PKCS#8 for the private seed (§7) and SubjectPublicKeyInfo for the public key (§4).
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { cryptoError } from './crypto-errors.ts';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const ED25519_SEED_SIZE = 32;
export const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;

export interface Ed25519PrivateKey {
  readonly seed: Buffer;
  readonly publicKey: Buffer;
  readonly keyObject: KeyObject;
}

export function ed25519PrivateKeyFromSeed(seed: Uint8Array): Ed25519PrivateKey {
  if (seed.length !== ED25519_SEED_SIZE) throw cryptoError('LLMAUDIT_E_KEY_INVALID', `Ed25519 seed must be ${ED25519_SEED_SIZE} bytes, got ${seed.length}`);
  const keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  return { seed: Buffer.from(seed), publicKey: Buffer.from(spki.subarray(SPKI_PREFIX.length)), keyObject };
}

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) throw cryptoError('LLMAUDIT_E_KEY_INVALID', `Ed25519 public key must be ${ED25519_PUBLIC_KEY_SIZE} bytes, got ${publicKey.length}`);
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch (err) {
    throw cryptoError('LLMAUDIT_E_KEY_INVALID', 'not an Ed25519 public key', { cause: err });
  }
}

export function randomEd25519Seed(): Buffer {
  return randomBytes(ED25519_SEED_SIZE);
}

/** Ed25519 (RFC 8032, pure: no prehash) signature of msg. */
export function ed25519Sign(key: KeyObject, msg: Uint8Array): Buffer {
  return sign(null, msg, key);
}

/** False (never throws) for a signature of the wrong length or one that does not verify. */
export function ed25519Verify(key: KeyObject, msg: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  try {
    return verify(null, msg, key, signature);
  } catch {
    return false;
  }
}
