// C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys in the text formats of Go's
// golang.org/x/mod/sumdb/note, so that `note.NewVerifier`/`note.Open` and every other
// transparency-log tool read our keys and checkpoints:
//   verifier key  <name>+<hex key ID>+<base64(0x01 || 32-byte public key)>
//   signer key    PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>
//   key ID        first 4 bytes, big endian, of SHA-256(name || 0x0A || type || public key)
//   signed note   <text ending in \n>\n— <name> <base64(key ID || signature)>\n ...
// Type 0x04 verifier keys (witness cosignatures, C2SP tlog-cosignature) are accepted too; see
// cosignature.ts for what they sign.
import { sha256 } from './hash.ts';
import { cryptoError } from './crypto-errors.ts';
import { ED25519_PUBLIC_KEY_SIZE, ED25519_SEED_SIZE, ed25519PrivateKeyFromSeed, ed25519PublicKeyObject, ed25519Sign, ed25519Verify, randomEd25519Seed } from './keys.ts';
import { cosignatureMessage, parseCosignatureBytes } from './cosignature-message.ts';

/** Signature type identifiers (C2SP signed-note "Signature types"). */
export const SIG_TYPE_ED25519 = 0x01;
export const SIG_TYPE_COSIGNATURE_V1 = 0x04;

/** Verifiers SHOULD cap the signatures of a note (C2SP signed-note "Format"); Go's note.Open allows 100. */
export const MAX_NOTE_SIGNATURES = 100;

const SIG_PREFIX = '\u2014 '; // em dash, space

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  readonly type: number;
  readonly publicKey: Buffer;
  /** Signature bytes (without the key ID) over msg. */
  sign(msg: Uint8Array): Buffer;
  readonly verifierKey: string;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  readonly type: number;
  readonly publicKey: Buffer;
  /** Checks sig (the bytes after the key ID) over the note text msg. */
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
  readonly verifierKey: string;
}

export interface NoteSignatureLine {
  readonly name: string;
  readonly keyId: number;
  /** Signature bytes after the 4-byte key ID. */
  readonly signature: Buffer;
  /** The whole line without its newline: "— name base64". */
  readonly line: string;
  /** True when a given verifier checked it. */
  readonly verified: boolean;
}

export interface OpenedNote {
  readonly text: string;
  readonly verified: NoteVerifier[];
  readonly signatures: NoteSignatureLine[];
}

/** Key names are non-empty, without Unicode spaces or '+' (C2SP signed-note "Format"). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !name.includes('\u0085');
}

export function keyId(name: string, type: number, publicKey: Uint8Array): number {
  const buf = Buffer.allocUnsafe(Buffer.byteLength(name) + 2 + publicKey.length);
  let off = buf.write(name, 0, 'utf8');
  buf[off++] = 0x0a;
  buf[off++] = type;
  buf.set(publicKey, off);
  return sha256(buf).readUInt32BE(0);
}

export const hexKeyId = (id: number): string => id.toString(16).padStart(8, '0');

/** Strict RFC 4648 §4 base64: canonical padding, no whitespace, decodes and re-encodes identically. */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

function keyError(detail: string): Error {
  return cryptoError('LLMAUDIT_E_KEY_INVALID', detail);
}

/** Verifier key text for a raw public key (type 0x01 signer or 0x04 cosigner). */
export function formatVerifierKey(name: string, type: number, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw keyError(`invalid key name ${JSON.stringify(name)}`);
  return `${name}+${hexKeyId(keyId(name, type, publicKey))}+${Buffer.concat([Buffer.of(type), publicKey]).toString('base64')}`;
}

export function formatSignerKey(name: string, type: number, seed: Uint8Array): string {
  const { publicKey } = ed25519PrivateKeyFromSeed(seed);
  if (!isValidKeyName(name)) throw keyError(`invalid key name ${JSON.stringify(name)}`);
  return `PRIVATE+KEY+${name}+${hexKeyId(keyId(name, type, publicKey))}+${Buffer.concat([Buffer.of(type), seed]).toString('base64')}`;
}

/** A new Ed25519 note key (type 0x01) with a random seed, in both text forms. */
export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  const seed = randomEd25519Seed();
  const signerKey = formatSignerKey(name, SIG_TYPE_ED25519, seed);
  return { signerKey, verifierKey: parseSignerKey(signerKey).verifierKey };
}

/** name, key ID and key bytes of "name+hexid+base64", checking the ID against the key. */
function splitKey(text: string, what: string): { name: string; id: number; type: number; key: Buffer } {
  // The base64 key may itself contain '+': split at the first two only (as Go's note.NewVerifier).
  const a = text.indexOf('+');
  const b = a < 0 ? -1 : text.indexOf('+', a + 1);
  if (b < 0) throw keyError(`${what} must be name+keyid+base64key`);
  const name = text.slice(0, a);
  const hex = text.slice(a + 1, b);
  const b64 = text.slice(b + 1);
  if (!isValidKeyName(name)) throw keyError(`${what}: invalid key name`);
  if (!/^[0-9a-f]{8}$/.test(hex)) throw keyError(`${what}: key ID must be 8 lowercase hex digits`);
  const raw = decodeBase64Strict(b64);
  if (raw === undefined || raw.length < 1) throw keyError(`${what}: key is not base64`);
  return { name, id: parseInt(hex, 16), type: raw[0] as number, key: raw.subarray(1) };
}

/** Parses "PRIVATE+KEY+name+hexid+base64(0x01||seed)". Throws LLMAUDIT_E_KEY_INVALID. */
export function parseSignerKey(text: string): NoteSigner {
  const trimmed = text.trim();
  if (!trimmed.startsWith('PRIVATE+KEY+')) throw keyError('signer key must start with PRIVATE+KEY+');
  const { name, id, type, key } = splitKey(trimmed.slice('PRIVATE+KEY+'.length), 'signer key');
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) throw keyError(`signer key: unsupported signature type 0x${type.toString(16)}`);
  if (key.length !== ED25519_SEED_SIZE) throw keyError('signer key: Ed25519 seed must be 32 bytes');
  const priv = ed25519PrivateKeyFromSeed(key);
  if (keyId(name, type, priv.publicKey) !== id) throw keyError('signer key: key ID does not match the key');
  const keyObject = priv.keyObject;
  return Object.freeze({
    name,
    keyId: id,
    type,
    publicKey: priv.publicKey,
    sign: (msg: Uint8Array) => ed25519Sign(keyObject, msg),
    verifierKey: formatVerifierKey(name, type, priv.publicKey),
  });
}

/**
 * Parses "name+hexid+base64(type||pubkey)" for type 0x01 (note signatures) and 0x04 (C2SP
 * tlog-cosignature/v1: the signature carries a timestamp and signs a prefixed message).
 * Throws LLMAUDIT_E_KEY_INVALID.
 */
export function parseVerifierKey(text: string): NoteVerifier {
  const trimmed = text.trim();
  if (trimmed.startsWith('PRIVATE+')) throw keyError('this is a private signer key; give the verifier key (.vkey)');
  const { name, id, type, key } = splitKey(trimmed, 'verifier key');
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) throw keyError(`verifier key: unsupported signature type 0x${type.toString(16)}`);
  if (key.length !== ED25519_PUBLIC_KEY_SIZE) throw keyError('verifier key: Ed25519 public key must be 32 bytes');
  if (keyId(name, type, key) !== id) throw keyError('verifier key: key ID does not match the key');
  const keyObject = ed25519PublicKeyObject(key);
  const publicKey = Buffer.from(key);
  const verify =
    type === SIG_TYPE_ED25519
      ? (msg: Uint8Array, sig: Uint8Array) => ed25519Verify(keyObject, msg, sig)
      : (msg: Uint8Array, sig: Uint8Array) => {
          const parsed = parseCosignatureBytes(sig);
          return parsed !== undefined && ed25519Verify(keyObject, cosignatureMessage(Buffer.from(msg).toString('utf8'), parsed.timestamp), parsed.signature);
        };
  return Object.freeze({ name, keyId: id, type, publicKey, verify, verifierKey: `${name}+${hexKeyId(id)}+${Buffer.concat([Buffer.of(type), publicKey]).toString('base64')}` });
}

// Valid UTF-8 is guaranteed by JS strings except lone surrogates; control characters other than
// newline are forbidden (C2SP signed-note "Format").
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN = /[\u0000-\u0009\u000b-\u001f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function malformed(detail: string): Error {
  return cryptoError('LLMAUDIT_E_CHECKPOINT_PARSE', `malformed note: ${detail}`);
}

/** Checks note text: non-empty, ends in newline, no control characters but newline. */
export function checkNoteText(text: string): void {
  if (text.length === 0 || !text.endsWith('\n')) throw malformed('text must end with a newline');
  if (FORBIDDEN.test(text)) throw malformed('control character or invalid UTF-16 in text');
}

/** "— name base64(keyID||sig)" for a signature made by `name` / `id`. */
export function formatSignatureLine(name: string, id: number, signature: Uint8Array): string {
  const b = Buffer.allocUnsafe(4 + signature.length);
  b.writeUInt32BE(id, 0);
  b.set(signature, 4);
  return `${SIG_PREFIX}${name} ${b.toString('base64')}`;
}

/** Parses one signature line (without its newline). Throws LLMAUDIT_E_CHECKPOINT_PARSE. */
export function parseSignatureLine(line: string): { name: string; keyId: number; signature: Buffer; line: string } {
  if (!line.startsWith(SIG_PREFIX)) throw malformed('signature line must start with an em dash and a space');
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(' ');
  const name = sp < 0 ? rest : rest.slice(0, sp);
  const b64 = sp < 0 ? '' : rest.slice(sp + 1);
  const raw = decodeBase64Strict(b64);
  if (!isValidKeyName(name) || raw === undefined || raw.length < 5) throw malformed(`bad signature line ${JSON.stringify(line.slice(0, 80))}`);
  return { name, keyId: raw.readUInt32BE(0), signature: raw.subarray(4), line };
}

/** Signs note text (which must end in a newline) and returns the signed note. */
export function signNote(text: string, signer: NoteSigner): string {
  checkNoteText(text);
  const sig = signer.sign(Buffer.from(text, 'utf8'));
  return `${text}\n${formatSignatureLine(signer.name, signer.keyId, sig)}\n`;
}

/** Splits a signed note at its last blank line into text and signature lines (no checks of keys). */
export function splitNote(note: string): { text: string; lines: ReturnType<typeof parseSignatureLine>[] } {
  if (FORBIDDEN.test(note)) throw malformed('control character or invalid UTF-16');
  if (!note.endsWith('\n')) throw malformed('note must end with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const sigBlock = note.slice(split + 2);
  if (sigBlock.length === 0) throw malformed('no signature lines');
  const raw = sigBlock.slice(0, -1).split('\n');
  if (raw.length > MAX_NOTE_SIGNATURES) throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  return { text, lines: raw.map(parseSignatureLine) };
}

/**
 * Opens a signed note (C2SP signed-note "Signatures"): a signature whose name and key ID match a
 * given verifier must verify (else LLMAUDIT_E_SIGNATURE_INVALID, "invalid signature"); others are
 * kept unverified; at least one must verify (else LLMAUDIT_E_SIGNATURE_INVALID, "no signature by
 * a known key": the note was signed with another key). Malformed notes: LLMAUDIT_E_CHECKPOINT_PARSE.
 */
export function openNote(note: string, verifiers: NoteVerifier[]): OpenedNote {
  const { text, lines } = splitNote(note);
  const msg = Buffer.from(text, 'utf8');
  const verified: NoteVerifier[] = [];
  const seen = new Set<string>();
  const signatures: NoteSignatureLine[] = [];
  for (const l of lines) {
    const matches = verifiers.filter((v) => v.name === l.name && v.keyId === l.keyId);
    const distinct = new Set(matches.map((v) => v.verifierKey));
    if (distinct.size > 1) throw cryptoError('LLMAUDIT_E_KEY_INVALID', `ambiguous key ${l.name}+${hexKeyId(l.keyId)}`);
    const v = matches[0];
    if (v === undefined) {
      signatures.push({ ...l, verified: false });
      continue;
    }
    if (!v.verify(msg, l.signature)) {
      throw cryptoError('LLMAUDIT_E_SIGNATURE_INVALID', `invalid signature for key ${l.name}+${hexKeyId(l.keyId)}`, { details: { reason: 'bad-signature', key: `${l.name}+${hexKeyId(l.keyId)}` } });
    }
    signatures.push({ ...l, verified: true });
    const id = `${l.name}+${l.keyId}`;
    if (!seen.has(id)) {
      seen.add(id);
      verified.push(v);
    }
  }
  if (verified.length === 0) {
    const signers = [...new Set(lines.map((l) => `${l.name}+${hexKeyId(l.keyId)}`))].join(', ');
    const expected = verifiers.map((v) => `${v.name}+${hexKeyId(v.keyId)}`).join(', ') || 'none';
    throw cryptoError('LLMAUDIT_E_SIGNATURE_INVALID', `no signature by a known key: signed by ${signers}, expected ${expected} (wrong key?)`, { details: { reason: 'unknown-key', signers, expected } });
  }
  return { text, verified, signatures };
}
