// Witness cosignatures, C2SP tlog-cosignature with Ed25519 (signature type 0x04): a witness (none
// is part of llmaudit yet; docs/architecture.md) signs "cosignature/v1\ntime <ts>\n<checkpoint text>" and returns a
// note signature line whose bytes are key ID || u64 timestamp || signature. Cosigner keys use the
// signed-note text forms with type byte 0x04 (C2SP tlog-cosignature "Format": "Ed25519 public keys
// MAY be encoded as vkeys with signature type 0x04").
import { cryptoError } from './crypto-errors.ts';
import { cosignatureMessage, formatCosignatureBytes, parseCosignatureBytes } from './cosignature-message.ts';
import { randomEd25519Seed } from './keys.ts';
import {
  SIG_TYPE_COSIGNATURE_V1,
  checkNoteText,
  formatSignatureLine,
  formatSignerKey,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  type NoteSignatureLine,
  type NoteVerifier,
} from './signed-note.ts';

export interface Cosigner {
  readonly name: string;
  readonly keyId: number;
  readonly verifierKey: string;
  /** The signature line (without newline) cosigning a checkpoint's note text at `timestamp` (POSIX seconds). */
  cosign(noteText: string, timestamp: number): string;
}

export function generateCosignerKey(name: string): { signerKey: string; verifierKey: string } {
  const signerKey = formatSignerKey(name, SIG_TYPE_COSIGNATURE_V1, randomEd25519Seed());
  return { signerKey, verifierKey: parseCosignerKey(signerKey).verifierKey };
}

/** Parses "PRIVATE+KEY+name+hexid+base64(0x04||seed)". Throws LLMAUDIT_E_KEY_INVALID. */
export function parseCosignerKey(text: string): Cosigner {
  const signer = parseSignerKey(text);
  if (signer.type !== SIG_TYPE_COSIGNATURE_V1) throw cryptoError('LLMAUDIT_E_KEY_INVALID', 'cosigner key must have signature type 0x04');
  return Object.freeze({
    name: signer.name,
    keyId: signer.keyId,
    verifierKey: signer.verifierKey,
    cosign(noteText: string, timestamp: number): string {
      checkNoteText(noteText);
      if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `cosignature timestamp ${timestamp}`);
      const sig = signer.sign(cosignatureMessage(noteText, timestamp));
      return formatSignatureLine(signer.name, signer.keyId, formatCosignatureBytes(timestamp, sig));
    },
  });
}

/** A type-0x04 verifier key; rejects other types (LLMAUDIT_E_KEY_INVALID). */
export function parseCosignatureVerifierKey(text: string): NoteVerifier {
  const v = parseVerifierKey(text);
  if (v.type !== SIG_TYPE_COSIGNATURE_V1) throw cryptoError('LLMAUDIT_E_KEY_INVALID', 'cosignature verifier key must have signature type 0x04');
  return v;
}

/** Timestamp (POSIX seconds) of a cosignature line; undefined if it is not a cosignature/v1. */
export function cosignatureTimestamp(line: Pick<NoteSignatureLine, 'signature'>): number | undefined {
  return parseCosignatureBytes(line.signature)?.timestamp;
}

export interface VerifiedCosignature {
  readonly name: string;
  readonly keyId: number;
  readonly timestamp: number;
}

/**
 * Checks the cosignatures of a signed checkpoint by the given witnesses (type 0x04 verifiers);
 * at least `quorum` of them must have cosigned (default 1). Signatures by other keys, including
 * the log's own, are ignored. Throws LLMAUDIT_E_SIGNATURE_INVALID.
 */
export function verifyCosignatures(note: string, witnesses: NoteVerifier[], quorum = 1): VerifiedCosignature[] {
  const opened = openNote(note, witnesses);
  const out: VerifiedCosignature[] = [];
  for (const s of opened.signatures) {
    if (!s.verified) continue;
    const ts = cosignatureTimestamp(s);
    if (ts !== undefined && !out.some((c) => c.name === s.name && c.keyId === s.keyId)) out.push({ name: s.name, keyId: s.keyId, timestamp: ts });
  }
  if (out.length < quorum) throw cryptoError('LLMAUDIT_E_SIGNATURE_INVALID', `${out.length} witness cosignature(s), ${quorum} required`);
  return out;
}
