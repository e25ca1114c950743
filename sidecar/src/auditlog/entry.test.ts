// Entry lines: what the writer writes is what the verifier recomputes, by the fast byte path and by
// the general JCS path alike, for any JSON payload (fast-check), in both entry formats; v2's salted
// digests and erased parts against an implementation written from the spec.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEntry, checkLine, checkV2WriterLine, hashEntryObject, isLineProblem, type CheckedLine, type EntryVersion } from './entry.ts';
import { mediaRefsOf } from './media-verify.ts';
import { canonicalJson } from './jcs.ts';
import { sha256 } from './hash.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from './test-support.ts';
import { parseSignerKey, parseVerifierKey } from './signed-note.ts';
import type { EntryPayload } from './types.ts';

const signer = parseSignerKey(testKeys().signerKey);
const at = { seq: 3, ts: '2026-01-01T00:00:00.000Z', origin: TEST_ORIGIN, prevHash: 'a'.repeat(64) };

/** docs/audit-log-format.md "Hashing", written from the text: v1 over the entry, v2 over its hashed view. */
function specHash(line: string): string {
  const { hash: _h, sig: _s, ...rest } = JSON.parse(line) as Record<string, unknown>;
  if (rest.v === 2) {
    const parts = rest.parts as Record<string, { digest: string; salt?: string }>;
    for (const [pointer, p] of Object.entries(parts)) {
      const tokens = pointer.slice(1).split('/');
      let holder = rest;
      for (const t of tokens.slice(0, -1)) holder = (holder[t] = { ...(holder[t] as Record<string, unknown>) });
      const last = tokens.at(-1) as string;
      if (p.salt !== undefined) expect(sha256(Buffer.concat([Buffer.from(p.salt, 'base64'), Buffer.from(canonicalJson(holder[last]))])).toString('hex')).toBe(p.digest);
      delete holder[last];
    }
    rest.parts = Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, { digest: p.digest }]));
  }
  return sha256(canonicalJson(rest)).toString('hex');
}

const VERSIONS: EntryVersion[] = [1, 2];

interface V2Vectors {
  logVerifierKey: string;
  line: string;
  hash: string;
  parts: Record<string, { salt: string; canonicalPart: string; digest: string }>;
  hashedView: string;
  erasedLine: string;
}
const readVectors = (name: string): V2Vectors => JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as V2Vectors;
const vectors = readVectors('entry-v2-vectors.json');
// A v2 log written before the wire digests and the media list were parts: it must still verify.
const bodiesOnly = readVectors('entry-v2-bodies-only-vectors.json');

function checked(line: string): CheckedLine {
  const c = checkLine(line);
  if (isLineProblem(c)) throw new Error(c.message);
  return c;
}

describe('entry lines', () => {
  it.each(VERSIONS)('v%i: the line is JCS with hash and sig before the final brace, and ends in a newline', (v) => {
    const b = buildEntry(samplePayload(1), at, signer, v);
    const text = b.line;
    expect(text.endsWith('"}\n')).toBe(true);
    const { hash, sig, ...rest } = JSON.parse(text) as Record<string, unknown>;
    expect(text.startsWith(canonicalJson(rest).slice(0, -1))).toBe(true);
    expect(hash).toBe(b.hash);
    expect(specHash(text)).toBe(b.hash);
    expect(typeof sig).toBe('string');
  });

  it.each(VERSIONS)('v%i: for any JSON payload, the recomputed hash equals the written one, on the writer line and reformatted', (v) => {
    const json = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig', 'parts'].includes(k)), json, { maxKeys: 6 }), fc.boolean(), json, (extra, signed, body) => {
        const payload = { ...samplePayload(0, 5), ...extra } as EntryPayload;
        payload.response = { ...payload.response, body };
        let b;
        try {
          b = buildEntry(payload, at, signed ? signer : null, v);
        } catch {
          return; // values JSON/JCS refuse (e.g. -0 is fine, but lone surrogates are not)
        }
        const line = b.line.slice(0, -1);
        expect(checked(line).computedHash.toString('hex')).toBe(b.hash);
        expect(specHash(line)).toBe(b.hash);
        // jq-style reformatting (other key order, whitespace) keeps the values: still the same hash.
        const obj = JSON.parse(line) as Record<string, unknown>;
        const reordered = JSON.stringify(Object.fromEntries(Object.entries(obj).reverse()), null, 1).replace(/\n/g, ' ');
        expect(checked(reordered).computedHash.toString('hex')).toBe(b.hash);
      }),
      { numRuns: 300 },
    );
  });

  it.each(VERSIONS)('v%i: a payload setting a chain field is refused, also right after payloads with the same other members', (v) => {
    for (const field of ['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig', 'parts']) {
      for (let i = 0; i < 3; i++) buildEntry(samplePayload(i), at, null, v);
      expect(() => buildEntry({ ...samplePayload(9), [field]: 1 } as EntryPayload, at, null, v)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' }));
      const { id: _id, ...rest } = samplePayload(9);
      expect(() => buildEntry({ [field]: 'x', ...rest } as EntryPayload, at, null, v)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' }));
    }
    expect(checked(buildEntry(samplePayload(1), at, null, v).line.slice(0, -1)).computedHash).toBeInstanceOf(Buffer);
  });

  it('a line that only looks canonical takes the general path (integer-like keys, -0, 1e400)', () => {
    for (const extra of [{ x: { '10': 1, '9': 2 } }, { x: -0 }, { x: [1.5e300, 2e-300] }]) {
      const b = buildEntry({ ...samplePayload(0, 5), ...extra } as EntryPayload, at, null, 1);
      const line = b.line.slice(0, -1);
      expect(checked(line).computedHash.toString('hex')).toBe(b.hash);
    }
    // A hand-made line with a non-canonical number: the fast path must not hash its bytes.
    const b = buildEntry({ ...samplePayload(0, 5), x: 1 } as EntryPayload, at, null, 1);
    const odd = b.line.slice(0, -1).replace('"x":1', '"x":1.0');
    const c = checked(odd);
    expect(c.computedHash.toString('hex')).toBe(specHash(odd));
  });

  it('reports lines that are not v1 or v2 entries as parse problems', () => {
    expect(checkLine('nope')).toMatchObject({ kind: 'parse' });
    expect(checkLine('[]')).toMatchObject({ kind: 'parse' });
    const line = buildEntry(samplePayload(0), at, null, 1).line.slice(0, -1);
    expect(checkLine(line.replace('"v":1', '"v":3'))).toMatchObject({ kind: 'parse', message: expect.stringContaining('version') });
    expect(checkLine(line.replace('"seq":3', '"seq":-1'))).toMatchObject({ kind: 'parse' });
    const v2 = buildEntry(samplePayload(0), at, null).line.slice(0, -1);
    expect(checkLine(v2.replace(/"salt":"[^"]+"/, '"salt":"short"'))).toMatchObject({ kind: 'parse', message: expect.stringContaining('salt') });
    expect(checkLine(v2.replace('"parts":{', '"parts":{"/x":1,'))).toMatchObject({ kind: 'parse' });
  });

  it('v2: each body is committed through its salted digest; a changed body or digest is a mismatch, an erased one is not', () => {
    const b = buildEntry(samplePayload(4), at, signer);
    const e = JSON.parse(b.line) as Record<string, any>;
    expect(Object.keys(e.parts as object).sort()).toEqual(['/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256']);
    expect(Buffer.from(e.parts['/request/body'].salt as string, 'base64')).toHaveLength(16);
    expect(e.parts['/request/body'].salt).not.toBe(buildEntry(samplePayload(4), at, signer).line.match(/"salt":"([^"]+)"/)?.[1]);
    const changed = structuredClone(e);
    changed.request.body.messages[0].content = 'something else';
    expect(checked(JSON.stringify(changed)).partMismatch).toContain('/request/body');
    const redigested = structuredClone(e);
    redigested.parts['/response/body'].digest = 'f'.repeat(64);
    expect(checked(JSON.stringify(redigested)).partMismatch).toContain('/response/body');
    const erased = structuredClone(e);
    erased.request.body = { erased: { at: '2026-01-02T00:00:00.000Z', reason: 'gdpr', by: 'dpo' } };
    delete erased.parts['/request/body'].salt;
    const c = checked(JSON.stringify(erased));
    expect(c).toMatchObject({ partMismatch: null, erased: ['/request/body'] });
    expect(c.computedHash.toString('hex')).toBe(b.hash);
    // Text put back in place of an erased part, with or without a made-up salt.
    const readded = structuredClone(erased);
    readded.request.body = e.request.body;
    expect(checked(JSON.stringify(readded)).partMismatch).toContain('no salt');
    readded.parts['/request/body'].salt = Buffer.alloc(16, 7).toString('base64');
    expect(checked(JSON.stringify(readded)).partMismatch).toContain('salted digest');
  });

  it('v2: a body that is the only member of its object, or follows other members, is cut out of the hashed view correctly', () => {
    for (const [request, response] of [
      [{ body: { q: 1 } }, { aa: 1, body: 'text', zz: [1] }],
      [{ aaa: 'x', body: [1, 2] }, { body: { erased: 'looks like a marker' } }],
    ]) {
      const p = { ...samplePayload(2), request, response } as unknown as EntryPayload;
      const b = buildEntry(p, at, signer);
      expect(specHash(b.line)).toBe(b.hash);
      expect(checked(b.line)).toMatchObject({ partMismatch: null, erased: [] });
    }
  });

  it('v2: a null or absent body, or an empty media list, is not a part and is hashed as it stands', () => {
    const p = samplePayload(1);
    p.request.body = null;
    const b = buildEntry(p, at, null);
    const e = JSON.parse(b.line) as Record<string, any>;
    expect(Object.keys(e.parts as object)).toEqual(['/request/bodySha256', '/response/body', '/response/bodySha256']);
    expect(e.media).toEqual([]);
    e.request.body = 'added later';
    expect(checked(JSON.stringify(e)).computedHash.toString('hex')).not.toBe(b.hash);
  });

  it.each([
    ['entry-v2-vectors.json', vectors, ['/media', '/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256']],
    ['entry-v2-bodies-only-vectors.json', bodiesOnly, ['/request/body', '/response/body']],
  ] as const)('v2 test vectors (testdata/%s): digests, hashed view, hash, signature, and the erased line', (_name, vec, pointers) => {
    expect(Object.keys(vec.parts)).toEqual(pointers);
    for (const p of Object.values(vec.parts)) {
      expect(sha256(Buffer.concat([Buffer.from(p.salt, 'base64'), Buffer.from(p.canonicalPart, 'utf8')])).toString('hex')).toBe(p.digest);
    }
    expect(sha256(vec.hashedView).toString('hex')).toBe(vec.hash);
    expect(specHash(vec.line)).toBe(vec.hash);
    const c = checked(vec.line);
    expect(c.computedHash.toString('hex')).toBe(vec.hash);
    const sig = (JSON.parse(vec.line) as { sig: string }).sig;
    expect(parseVerifierKey(vec.logVerifierKey).verify(c.computedHash, Buffer.from(sig, 'base64'))).toBe(true);
    const erased = checked(vec.erasedLine);
    expect(erased.computedHash.toString('hex')).toBe(vec.hash);
    expect(erased.erased).toEqual(pointers);
    expect(erased.partMismatch).toBeNull();
    expect(vec.erasedLine).not.toContain('4111');
  });

  it('v2 test vector: after erasure no unsalted digest of the content remains (wire digests, media digests)', () => {
    const e = JSON.parse(vectors.line) as Record<string, any>;
    const secrets = [e.request.bodySha256, e.response.bodySha256, ...(e.media as Array<{ sha256: string }>).map((m) => m.sha256)] as string[];
    expect(secrets).toHaveLength(3);
    for (const s of secrets) {
      expect(vectors.line).toContain(s);
      expect(vectors.erasedLine).not.toContain(s);
      expect(vectors.hashedView).not.toContain(s);
    }
  });

  it('v2: the media list is a part; erased, the entry names no media and keeps its hash', () => {
    const p = samplePayload(5);
    const sha = 'ab'.repeat(32);
    p.media = [{ sha256: sha, path: `media/${sha}.png`, mediaType: 'image/png', bytes: 10, pointer: '/request/body/messages/0/content' }];
    const b = buildEntry(p, at, signer);
    const e = JSON.parse(b.line) as Record<string, any>;
    expect(Object.keys(e.parts as object)).toContain('/media');
    expect(mediaRefsOf(e, 3)).toHaveLength(1);
    for (const ptr of Object.keys(e.parts as object)) {
      const tokens = ptr.slice(1).split('/');
      const holder = tokens.length === 1 ? e : e[tokens[0] as string];
      holder[tokens.at(-1) as string] = { erased: { at: '2026-01-02T00:00:00.000Z', reason: 'r', by: 'b' } };
      delete e.parts[ptr].salt;
    }
    const line = JSON.stringify(e);
    expect(line).not.toContain(sha);
    const c = checked(line);
    expect(c).toMatchObject({ partMismatch: null, erased: ['/media', '/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256'] });
    expect(c.computedHash.toString('hex')).toBe(b.hash);
    expect(mediaRefsOf(e, 3)).toEqual([]);
    // A wire digest put back in place of its erased part is caught.
    e.request.bodySha256 = '0'.repeat(64);
    expect(checked(JSON.stringify(e)).partMismatch).toContain('/request/bodySha256');
  });

  it('v2: the fast path for writer lines gives exactly what the general path gives, for any payload, intact, erased or altered', () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    const erasedMarker = { erased: { at: '2026-01-02T00:00:00.000Z', reason: 'r', by: 'b' } };
    let fastHits = 0;
    fc.assert(
      fc.property(json, json, fc.array(fc.constantFrom('/media', '/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256')), fc.nat(4), (reqBody, resBody, erase, alter) => {
        const payload = samplePayload(1, 5);
        payload.request = { ...payload.request, body: reqBody };
        payload.response = { ...payload.response, body: resBody };
        payload.media = [{ sha256: 'cd'.repeat(32), path: `media/${'cd'.repeat(32)}.png`, mediaType: 'image/png', bytes: 4, pointer: '/request/body' }];
        let b;
        try {
          b = buildEntry(payload, at, signer);
        } catch {
          return;
        }
        const e = JSON.parse(b.line) as Record<string, any>;
        for (const ptr of erase) {
          if (e.parts[ptr] === undefined) continue;
          const tokens = ptr.slice(1).split('/');
          const holder = tokens.length === 1 ? e : e[tokens[0] as string];
          holder[tokens.at(-1) as string] = erasedMarker;
          delete e.parts[ptr].salt;
        }
        if (alter === 1) e.request.bodySha256 = 'ee'.repeat(32);
        if (alter === 2) e.model = 'other';
        if (alter === 3 && e.parts['/response/body'] !== undefined) e.parts['/response/body'].digest = 'f'.repeat(64);
        const { hash, sig, ...rest } = e;
        const line = `${canonicalJson(rest).slice(0, -1)},"hash":"${String(hash)}","sig":"${String(sig)}"}`;
        if (checkV2WriterLine(line, JSON.parse(line) as Record<string, unknown>) !== null) fastHits++;
        const fast = checkLine(line);
        const general = hashEntryObject(JSON.parse(line) as Record<string, unknown>);
        expect(isLineProblem(fast)).toBe(isLineProblem(general));
        if (isLineProblem(fast) || isLineProblem(general)) return;
        expect(fast.computedHash.toString('hex')).toBe(general.computedHash.toString('hex'));
        expect(fast.erased).toEqual(general.erased);
        expect(fast.partMismatch).toBe(general.partMismatch);
        if (alter === 0) expect(fast.computedHash.toString('hex')).toBe(b.hash);
      }),
      { numRuns: 300 },
    );
    // The fast path did take most lines (it leaves integer-like keys and altered lines to the general one).
    expect(fastHits).toBeGreaterThan(100);
  });
});
