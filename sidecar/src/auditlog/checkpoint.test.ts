import { readFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { appendCosignatures, formatCheckpointBody, parseCheckpointBody, signCheckpoint, verifyCheckpoint } from './checkpoint.ts';
import { cosignatureTimestamp, generateCosignerKey, parseCosignatureVerifierKey, parseCosignerKey, verifyCosignatures } from './cosignature.ts';
import { cosignatureMessage } from './cosignature-message.ts';
import { EMPTY_ROOT } from './merkle.ts';
import { formatVerifierKey, generateSignerKey, keyId, parseSignerKey, parseVerifierKey, signNote, splitNote } from './signed-note.ts';

interface CosigVectors {
  checkpointText: string;
  note: string;
  cosignatureTimestamp: number;
  signedMessage: string;
}
const V = JSON.parse(readFileSync(new URL('./testdata/cosignature-vectors.json', import.meta.url), 'utf8')) as CosigVectors;
const code = (c: string) => expect.objectContaining({ code: c });

const ORIGIN = 'llmaudit.dev/default/agent-7f9c/3b1e6a52-0d2c-4c55-9d0e-1f2a3b4c5d6e';
const log = generateSignerKey(ORIGIN);
const signer = parseSignerKey(log.signerKey);
const verifier = parseVerifierKey(log.verifierKey);
const root = Buffer.alloc(32, 7);

describe('checkpoint body (C2SP tlog-checkpoint)', () => {
  it('formats origin, decimal size and base64 root, one per line', () => {
    expect(formatCheckpointBody({ origin: ORIGIN, size: 0, rootHash: EMPTY_ROOT })).toBe(`${ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n`);
    const text = formatCheckpointBody({ origin: ORIGIN, size: 1234, rootHash: root });
    expect(parseCheckpointBody(text)).toEqual({ origin: ORIGIN, size: 1234, rootHash: root, extensions: [] });
  });

  it('parses the spec example and keeps extension lines of other logs', () => {
    expect(parseCheckpointBody(V.checkpointText)).toMatchObject({ origin: 'example.com/behind-the-sofa', size: 20852163 });
    const withExt = `${V.checkpointText}ext one\next two\n`;
    expect(parseCheckpointBody(withExt).extensions).toEqual(['ext one', 'ext two']);
  });

  it.each([
    ['no final newline', `${ORIGIN}\n1\n${root.toString('base64')}`],
    ['two lines', `${ORIGIN}\n1\n`],
    ['empty origin', `\n1\n${root.toString('base64')}\n`],
    ['leading zero', `${ORIGIN}\n01\n${root.toString('base64')}\n`],
    ['negative size', `${ORIGIN}\n-1\n${root.toString('base64')}\n`],
    ['size beyond 2^53', `${ORIGIN}\n18446744073709551615\n${root.toString('base64')}\n`],
    ['short root', `${ORIGIN}\n1\n${Buffer.alloc(31).toString('base64')}\n`],
    ['root not base64', `${ORIGIN}\n1\n${'!'.repeat(44)}\n`],
    ['empty extension line', `${ORIGIN}\n1\n${root.toString('base64')}\n\n`],
  ])('rejects %s with LLMAUDIT_E_CHECKPOINT_PARSE', (_, text) => {
    expect(() => parseCheckpointBody(text)).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
  });
});

describe('signCheckpoint / verifyCheckpoint', () => {
  const note = signCheckpoint({ origin: ORIGIN, size: 42, rootHash: root }, signer);

  it('round-trips and returns the parsed fields', () => {
    expect(note.startsWith(`${ORIGIN}\n42\n${root.toString('base64')}\n\n\u2014 ${ORIGIN} `)).toBe(true);
    const c = verifyCheckpoint(note, verifier);
    expect(c).toMatchObject({ origin: ORIGIN, size: 42, rootHash: root, extensions: [], note });
    expect(c.text).toBe(formatCheckpointBody({ origin: ORIGIN, size: 42, rootHash: root }));
    expect(signCheckpoint(c.text, signer)).toBe(note);
  });

  it('another key: signature invalid (exit 5), "wrong key"', () => {
    const other = parseVerifierKey(generateSignerKey(ORIGIN).verifierKey);
    expect(() => verifyCheckpoint(note, other)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_SIGNATURE_INVALID', exitCode: 5 }));
    expect(() => verifyCheckpoint(note, other)).toThrow(/wrong key/);
  });

  it('an edited size or root breaks the signature', () => {
    expect(() => verifyCheckpoint(note.replace('\n42\n', '\n43\n'), verifier)).toThrow(/invalid signature/);
    const other = Buffer.alloc(32, 8).toString('base64');
    expect(() => verifyCheckpoint(note.replace(root.toString('base64'), other), verifier)).toThrow(code('LLMAUDIT_E_SIGNATURE_INVALID'));
  });

  it('a validly signed note that is not a checkpoint is a parse error (exit 4)', () => {
    const hello = signNote('hello\n', signer);
    expect(() => verifyCheckpoint(hello, verifier)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_CHECKPOINT_PARSE', exitCode: 4 }));
    expect(() => verifyCheckpoint('garbage', verifier)).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
  });

  it("verifies another log's checkpoint with extension lines and preserves them", () => {
    const ext = signCheckpoint({ origin: ORIGIN, size: 5, rootHash: root, extensions: ['timestamp 1700000000'] }, signer);
    expect(verifyCheckpoint(ext, verifier).extensions).toEqual(['timestamp 1700000000']);
  });
});

describe('cosignatures (C2SP tlog-cosignature, type 0x04)', () => {
  const witnessKeys = generateCosignerKey('witness.llmaudit.dev/operator');
  const witness = parseCosignerKey(witnessKeys.signerKey);
  const witnessVerifier = parseCosignatureVerifierKey(witnessKeys.verifierKey);
  const note = signCheckpoint({ origin: ORIGIN, size: 42, rootHash: root }, signer);
  const body = verifyCheckpoint(note, verifier).text;
  const ts = 1_763_800_000;

  it('reads the timestamp of the spec example cosignature and builds its signed message', () => {
    const line = splitNote(V.note).lines[1];
    expect(line?.name).toBe('witness.example.com/w1');
    expect(cosignatureTimestamp(line as { signature: Buffer })).toBe(V.cosignatureTimestamp);
    expect(cosignatureMessage(V.checkpointText, V.cosignatureTimestamp).toString('utf8')).toBe(V.signedMessage);
  });

  it('a witness cosignature appended to the checkpoint verifies, with its timestamp; the log signature still verifies', () => {
    const cosigned = appendCosignatures(note, [witness.cosign(body, ts)]);
    expect(cosigned.startsWith(note)).toBe(true);
    expect(verifyCosignatures(cosigned, [witnessVerifier])).toEqual([{ name: witness.name, keyId: witness.keyId, timestamp: ts }]);
    const c = verifyCheckpoint(cosigned, verifier);
    expect(c.size).toBe(42);
    expect(c.signatures.map((s) => s.verified)).toEqual([true, false]);
  });

  it('is Ed25519 over "cosignature/v1\\ntime <ts>\\n<body>" with key ID SHA-256(name || \\n || 0x04 || key)[:4] (checked with tweetnacl)', () => {
    const line = witness.cosign(body, ts);
    const raw = Buffer.from(line.split(' ').at(-1) as string, 'base64');
    expect(raw.length).toBe(4 + 8 + 64);
    expect(raw.readUInt32BE(0)).toBe(keyId(witness.name, 0x04, witnessVerifier.publicKey));
    expect(raw.readBigUInt64BE(4)).toBe(BigInt(ts));
    const msg = Buffer.from(`cosignature/v1\ntime ${ts}\n${body}`);
    expect(nacl.sign.detached.verify(msg, raw.subarray(12), witnessVerifier.publicKey)).toBe(true);
  });

  it('an edited timestamp, a cosignature of another checkpoint or a missing one fails', () => {
    const line = witness.cosign(body, ts);
    const raw = Buffer.from(line.split(' ').at(-1) as string, 'base64');
    raw.writeBigUInt64BE(BigInt(ts + 1), 4);
    const edited = `\u2014 ${witness.name} ${raw.toString('base64')}`;
    expect(() => verifyCosignatures(appendCosignatures(note, [edited]), [witnessVerifier])).toThrow(code('LLMAUDIT_E_SIGNATURE_INVALID'));
    const otherBody = formatCheckpointBody({ origin: ORIGIN, size: 43, rootHash: root });
    expect(() => verifyCosignatures(appendCosignatures(note, [witness.cosign(otherBody, ts)]), [witnessVerifier])).toThrow(/invalid signature/);
    expect(() => verifyCosignatures(note, [witnessVerifier])).toThrow(code('LLMAUDIT_E_SIGNATURE_INVALID'));
    const w2 = generateCosignerKey('witness2.example');
    expect(() => verifyCosignatures(appendCosignatures(note, [witness.cosign(body, ts)]), [witnessVerifier, parseCosignatureVerifierKey(w2.verifierKey)], 2)).toThrow(/1 witness cosignature/);
  });

  it('appendCosignatures skips duplicates, validates lines and caps the count', () => {
    const line = witness.cosign(body, ts);
    const once = appendCosignatures(note, [line]);
    expect(appendCosignatures(once, [`${line}\n`])).toBe(once);
    expect(() => appendCosignatures(note, ['not a signature line'])).toThrow(code('LLMAUDIT_E_CHECKPOINT_PARSE'));
    const many = Array.from({ length: 100 }, (_, i) => witness.cosign(body, ts + i));
    expect(() => appendCosignatures(note, many)).toThrow(/more than 100/);
  });

  it('keeps cosigner and log key types apart', () => {
    expect(() => parseCosignatureVerifierKey(log.verifierKey)).toThrow(code('LLMAUDIT_E_KEY_INVALID'));
    expect(() => parseCosignerKey(log.signerKey)).toThrow(code('LLMAUDIT_E_KEY_INVALID'));
    expect(witnessKeys.verifierKey).toMatch(/^witness\.llmaudit\.dev\/operator\+[0-9a-f]{8}\+B/);
    // The same public key as a type-0x01 key has another key ID (the type is hashed in): the
    // cosignature line is then by an unknown key, never misread as a plain note signature.
    const asNoteKey = parseVerifierKey(formatVerifierKey(witness.name, 0x01, witnessVerifier.publicKey));
    expect(asNoteKey.keyId).not.toBe(witnessVerifier.keyId);
    expect(() => verifyCheckpoint(appendCosignatures(note, [witness.cosign(body, ts)]), asNoteKey)).toThrow(/no signature by a known key/);
  });
});

describe('the worked example of docs/audit-log-format.md', () => {
  interface Example {
    logSignerKey: string;
    logVerifierKey: string;
    witnessSignerKey: string;
    witnessVerifierKey: string;
    cosignedCheckpoint: string;
    cosignatureTimestamp: number;
  }
  const E = JSON.parse(readFileSync(new URL('./testdata/format-example.json', import.meta.url), 'utf8')) as Example;

  it('verifies: log signature, witness cosignature, root of the RFC 6962 reference tree', () => {
    expect(parseSignerKey(E.logSignerKey).verifierKey).toBe(E.logVerifierKey);
    expect(parseCosignerKey(E.witnessSignerKey).verifierKey).toBe(E.witnessVerifierKey);
    const c = verifyCheckpoint(E.cosignedCheckpoint, parseVerifierKey(E.logVerifierKey));
    expect(c.size).toBe(8);
    expect(c.rootHash.toString('hex')).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
    expect(verifyCosignatures(E.cosignedCheckpoint, [parseCosignatureVerifierKey(E.witnessVerifierKey)])).toEqual([
      { name: 'witness.llmaudit.dev/default', keyId: 0xa3c3dc03, timestamp: E.cosignatureTimestamp },
    ]);
    // Ed25519 is deterministic: re-signing reproduces the example byte for byte.
    const resigned = signCheckpoint(c.text, parseSignerKey(E.logSignerKey));
    expect(appendCosignatures(resigned, [parseCosignerKey(E.witnessSignerKey).cosign(c.text, E.cosignatureTimestamp)])).toBe(E.cosignedCheckpoint);
  });
});
