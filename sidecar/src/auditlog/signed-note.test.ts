import { readFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { generateSignerKey, keyId, openNote, parseSignerKey, parseVerifierKey, signNote, type NoteVerifier } from './signed-note.ts';

interface NoteVectors {
  peter: { signerKey: string; verifierKey: string; keyId: string; signatureLine: string };
  enoch: { verifierKey: string; signatureLine: string };
  text: string;
  signedNote: string;
  badVerifierKeys: string[];
}
const V = JSON.parse(readFileSync(new URL('./testdata/signed-note-vectors.json', import.meta.url), 'utf8')) as NoteVectors;
const peter = parseVerifierKey(V.peter.verifierKey);
const enoch = parseVerifierKey(V.enoch.verifierKey);
const { text } = V;
const peterSig = V.peter.signatureLine;
const enochSig = V.enoch.signatureLine;

const code = (c: string) => expect.objectContaining({ code: c });

/** Every proper substring and every one-character increment of a key must be rejected (Go's TestNewVerifier/TestNewSigner). */
function mangled(key: string): string[] {
  const out: string[] = [];
  for (let i = 0; i <= key.length; i++) for (let j = i + 1; j <= key.length; j++) if (i !== 0 || j !== key.length) out.push(key.slice(i, j));
  for (let i = 0; i < key.length; i++) out.push(key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1));
  return out;
}

describe('keys (golang.org/x/mod/sumdb/note formats)', () => {
  it('parses the PeterNeumann verifier key', () => {
    expect(peter.name).toBe('PeterNeumann');
    expect(peter.keyId).toBe(parseInt(V.peter.keyId, 16));
    expect(peter.verifierKey).toBe(V.peter.verifierKey);
    expect(keyId('PeterNeumann', 0x01, peter.publicKey)).toBe(0xc74f20a3);
  });

  it('derives the PeterNeumann verifier key from its signer key', () => {
    const signer = parseSignerKey(V.peter.signerKey);
    expect(signer.verifierKey).toBe(V.peter.verifierKey);
    expect(signer.keyId).toBe(0xc74f20a3);
  });

  it('rejects every mangling of the verifier key, wrong-length keys and unknown algorithms', () => {
    for (const k of [...mangled(V.peter.verifierKey), ...V.badVerifierKeys]) expect(() => parseVerifierKey(k), k).toThrow(code('LLMAUDIT_E_KEY_INVALID'));
  });

  it('rejects every mangling of the signer key', () => {
    for (const k of mangled(V.peter.signerKey)) expect(() => parseSignerKey(k), k).toThrow(code('LLMAUDIT_E_KEY_INVALID'));
  });

  it('says so when a private key is given where a verifier key belongs', () => {
    expect(() => parseVerifierKey(V.peter.signerKey)).toThrow(/private signer key/);
  });

  it('generates self-consistent keys: sign, verify, corrupt signature or message fails', () => {
    const { signerKey, verifierKey } = generateSignerKey('llmaudit.dev/ns/pod/uid');
    const s = parseSignerKey(signerKey);
    const v = parseVerifierKey(verifierKey);
    expect(s.keyId).toBe(v.keyId);
    expect(s.verifierKey).toBe(verifierKey);
    const msg = Buffer.from('hi');
    const sig = s.sign(msg);
    expect(v.verify(msg, sig)).toBe(true);
    sig[0] = (sig[0] as number) ^ 1;
    expect(v.verify(msg, sig)).toBe(false);
    sig[0] = (sig[0] as number) ^ 1;
    expect(v.verify(Buffer.from('ho'), sig)).toBe(false);
    expect(v.verify(msg, sig.subarray(1))).toBe(false);
  });
});

describe('tweetnacl interoperability (our keys and signatures are plain RFC 8032 Ed25519)', () => {
  it('tweetnacl verifies our signatures, and derives the same public key from our seed', () => {
    const { signerKey, verifierKey } = generateSignerKey('interop');
    const seed = Buffer.from(signerKey.split('+').slice(4).join('+'), 'base64').subarray(1);
    const pub = Buffer.from(verifierKey.split('+').slice(2).join('+'), 'base64').subarray(1);
    const pair = nacl.sign.keyPair.fromSeed(seed);
    expect(Buffer.from(pair.publicKey)).toEqual(pub);

    const msg = Buffer.from('llmaudit entry hash bytes 0123456789abcdef');
    const ours = parseSignerKey(signerKey).sign(msg);
    expect(nacl.sign.detached.verify(msg, ours, pub)).toBe(true);
    // Ed25519 is deterministic: both libraries give the same bytes, and we verify theirs.
    const theirs = nacl.sign.detached(msg, pair.secretKey);
    expect(Buffer.from(theirs)).toEqual(ours);
    expect(parseVerifierKey(verifierKey).verify(msg, theirs)).toBe(true);
  });

  it('tweetnacl verifies a signed note we produce with the PeterNeumann key', () => {
    const note = signNote(text, parseSignerKey(V.peter.signerKey));
    const line = note.slice(text.length + 1, -1);
    const sig = Buffer.from(line.split(' ').at(-1) as string, 'base64').subarray(4);
    expect(nacl.sign.detached.verify(Buffer.from(text), sig, peter.publicKey)).toBe(true);
  });
});

describe('signNote / openNote (C2SP signed-note)', () => {
  it('signs the Go test note to exactly the same bytes', () => {
    expect(signNote(text, parseSignerKey(V.peter.signerKey))).toBe(V.signedNote);
  });

  it('refuses to sign text without a final newline or with control characters', () => {
    const s = parseSignerKey(V.peter.signerKey);
    expect(() => signNote('abc', s)).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
    expect(() => signNote('a\tb\n', s)).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
  });

  it('one signature verified, one by an unknown key kept unverified', () => {
    const n = openNote(`${text}\n${peterSig}${enochSig}`, [peter]);
    expect(n.text).toBe(text);
    expect(n.verified).toEqual([peter]);
    expect(n.signatures.map((s) => [s.name, s.keyId, s.verified])).toEqual([
      ['PeterNeumann', 0xc74f20a3, true],
      ['EnochRoot', 0xaf0cfe78, false],
    ]);
  });

  it('both verified', () => {
    const n = openNote(`${text}\n${peterSig}${enochSig}`, [peter, enoch]);
    expect(n.verified).toEqual([peter, enoch]);
    expect(n.signatures.every((s) => s.verified)).toBe(true);
  });

  it('no signature by a known key: signature invalid, with a "wrong key" message distinct from a bad signature', () => {
    const other = parseVerifierKey(generateSignerKey('PeterNeumann').verifierKey);
    for (const verifiers of [[], [other], [enoch]]) {
      const note = `${text}\n${peterSig}`;
      expect(() => openNote(note, verifiers)).toThrow(code('LLMAUDIT_E_SIGNATURE_INVALID'));
      expect(() => openNote(note, verifiers)).toThrow(/no signature by a known key.*wrong key/);
    }
    try {
      openNote(`${text}\n${peterSig}`, [other]);
    } catch (err) {
      expect((err as { details: Record<string, unknown> }).details.reason).toBe('unknown-key');
      expect((err as { exitCode: number }).exitCode).toBe(5);
    }
  });

  it('a known key whose signature fails rejects the whole note', () => {
    // Go slices bytes: its peterSig[:60] is our [:58] (the em dash is 3 UTF-8 bytes, 1 UTF-16 unit).
    const bad = `${text}\n${peterSig.slice(0, 58)}ABCD${peterSig.slice(58)}`;
    expect(() => openNote(bad, [peter])).toThrow(code('LLMAUDIT_E_SIGNATURE_INVALID'));
    expect(() => openNote(bad, [peter])).toThrow(/invalid signature for key PeterNeumann\+c74f20a3/);
    expect(() => openNote(`${text}\n${enochSig}${peterSig}`, [peter, parseVerifierKey(generateSignerKey('EnochRoot').verifierKey)])).not.toThrow();
  });

  it('duplicated verified and unverified signatures', () => {
    const enochABCD = `${enochSig.slice(0, 58)}ABCD${enochSig.slice(58)}`;
    const n = openNote(`${text}\n${peterSig}${peterSig}${enochSig}${enochSig}${enochABCD}`, [peter]);
    expect(n.verified).toEqual([peter]);
    expect(n.signatures.filter((s) => s.verified)).toHaveLength(2);
    expect(n.signatures.filter((s) => !s.verified)).toHaveLength(3);
  });

  it('ambiguous verifiers (same name and key ID, different keys) are a key error', () => {
    const twin: NoteVerifier = { ...peter, verify: () => true, verifierKey: `${peter.verifierKey}X` };
    expect(() => openNote(`${text}\n${peterSig}`, [peter, twin])).toThrow(code('LLMAUDIT_E_KEY_INVALID'));
  });

  it('more than 100 signatures is malformed', () => {
    expect(() => openNote(`${text}\n${peterSig.repeat(101)}`, [peter])).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
    expect(() => openNote(`${text}\n${peterSig.repeat(100)}`, [peter])).not.toThrow();
  });

  it.each([
    ['text only', text],
    ['no signature lines', `${text}\n`],
    ['signature line without newline', `${text}\n${peterSig.slice(0, -1)}`],
    ['control character', `\u0001${text}\n${peterSig}`],
    ['lone surrogate', `\ud800${text}\n${peterSig}`],
    ['name with a space', `${text}\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`],
    ['unexpected line after the signatures', `${text}\n${peterSig}Unexpected line.\n`],
    ['hyphen instead of em dash', `${text}\n${peterSig.replace('\u2014', '-')}`],
    ['signature too short', `${text}\n\u2014 PeterNeumann AAAA\n`],
    ['non-canonical base64', `${text}\n${peterSig.replace('AM=\n', 'AN=\n')}`],
  ])('malformed: %s', (_, note) => {
    expect(() => openNote(note, [peter])).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
  });

  it('text may contain blank lines: the last blank line separates the signatures', () => {
    const s = parseSignerKey(V.peter.signerKey);
    const t = 'a\n\nb\n\n';
    const n = openNote(signNote(t, s), [peter]);
    expect(n.text).toBe(t);
  });
});
