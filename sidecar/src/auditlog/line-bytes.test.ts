// The verifier's byte check of writer-form lines against the general path (entry.ts checkLine):
// for any entry, v1 or v2, signed or not, erased or not, intact or with bytes changed, the byte
// check either leaves the line to the general path or gives exactly what the general path gives;
// and it takes every line the writer writes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEntry, checkLine, isLineProblem, type CheckedLine, type EntryVersion } from './entry.ts';
import { canonicalJson } from './jcs.ts';
import { checkWriterLine, type CheckedBytes } from './line-bytes.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from './test-support.ts';
import { parseSignerKey } from './signed-note.ts';
import type { EntryPayload } from './types.ts';

const signer = parseSignerKey(testKeys().signerKey);
const at = { seq: 7, ts: '2026-01-01T00:00:00.000Z', origin: TEST_ORIGIN, prevHash: 'a'.repeat(64) };
const ERASED = { erased: { at: '2026-01-02T00:00:00.000Z', reason: 'r', by: 'b' } };
const PARTS = ['/media', '/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256'] as const;

// Characters where byte-level and JSON-level readings differ: quotes, backslashes, control
// characters (escaped short or as \u00xx), DEL, non-ASCII of 2, 3 and 4 UTF-8 bytes, U+2028, and
// U+E000/U+FFFF against U+1F600 (UTF-16 and UTF-8 order them differently).
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'Z', '0', '9', ' ', '/', '~', '_') },
  { weight: 2, arbitrary: fc.constantFrom('"', '\\', '\n', '\t', '\b', '\f', '\r', '\u0000', '\u0001', '\u001f', '\u007f', 'é', '€', '\u2028', '\uE000', '\uFFFF', '😀', '\uD800') },
);
const text = fc.string({ unit, maxLength: 8 });
const json = fc.jsonValue({ maxDepth: 3, stringUnit: unit });

type Alteration = { kind: 'none' } | { kind: 'set' | 'insert'; at: number; byte: number } | { kind: 'delete'; at: number };
const alteration: fc.Arbitrary<Alteration> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  fc.record({ kind: fc.constantFrom('set' as const, 'insert' as const), at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x20, 0x22, 0x2c, 0x30, 0x5c, 0x7b, 0x7d, 0x80, 0xed)) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function alter(line: Buffer, a: Alteration): Buffer {
  if (a.kind === 'none') return line;
  const i = a.at % line.length;
  if (a.kind === 'delete') return Buffer.concat([line.subarray(0, i), line.subarray(i + 1)]);
  if (a.kind === 'insert') return Buffer.concat([line.subarray(0, i), Buffer.from([a.byte]), line.subarray(i)]);
  const out = Buffer.from(line);
  out[i] = a.byte;
  return out;
}

/** The byte check's result equals the general path's in everything the verifier reads. */
function expectSame(fast: CheckedBytes, general: CheckedLine): void {
  expect(fast.computedHash.toString('hex')).toBe(general.computedHash.toString('hex'));
  expect(fast.erased).toEqual(general.erased);
  expect(general.partMismatch).toBeNull();
  const g = general.entry as unknown as Record<string, unknown>;
  if (g.kind !== undefined) expect(fast.entry).toEqual(g);
  else {
    for (const k of ['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig', 'media']) expect(fast.entry[k]).toEqual(g[k]);
  }
}

/** A writer line (without its newline) for the entry, erased as the erasure tool erases: parts replaced by the marker, salts dropped. */
function writerLine(payload: EntryPayload, version: EntryVersion, signed: boolean, erase: readonly string[]): Buffer | null {
  let b;
  try {
    b = buildEntry(payload, at, signed ? signer : null, version);
  } catch {
    return null; // a value JCS refuses (a lone surrogate)
  }
  if (version === 1 || erase.length === 0) return Buffer.from(b.line.slice(0, -1));
  const e = JSON.parse(b.line) as Record<string, any>;
  for (const ptr of erase) {
    if (e.parts[ptr] === undefined) continue;
    const tokens = ptr.slice(1).split('/');
    const holder = tokens.length === 1 ? e : e[tokens[0] as string];
    holder[tokens.at(-1) as string] = ERASED;
    delete e.parts[ptr].salt;
  }
  const { hash, sig, ...rest } = e;
  return Buffer.from(`${canonicalJson(rest).slice(0, -1)},"hash":"${String(hash)}"${sig === undefined ? '' : `,"sig":"${String(sig)}"`}}`);
}

describe('byte check of writer-form lines', () => {
  it('gives what the general path gives for any entry, v1 or v2, erased or not, intact or with a byte changed, inserted or deleted; and takes every intact line', () => {
    let altered = 0;
    let alteredFast = 0;
    fc.assert(
      fc.property(
        fc.constantFrom<EntryVersion>(1, 2),
        fc.boolean(),
        fc.dictionary(text.filter((k) => k.length > 0 && !['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig', 'parts', 'kind'].includes(k)), json, { maxKeys: 4 }),
        json,
        json,
        fc.option(text, { nil: undefined }),
        fc.boolean(),
        fc.subarray([...PARTS]),
        alteration,
        (version, signed, extra, reqBody, resBody, kind, withMedia, erase, a) => {
          const payload = { ...samplePayload(2, 5), ...extra } as EntryPayload;
          payload.request = { ...payload.request, body: reqBody };
          payload.response = { ...payload.response, body: resBody };
          if (withMedia) payload.media = [{ sha256: 'cd'.repeat(32), path: `media/${'cd'.repeat(32)}.png`, mediaType: 'image/png', bytes: 4, pointer: '/request/body' }];
          if (kind !== undefined) payload.kind = kind;
          const intact = writerLine(payload, version, signed, erase);
          if (intact === null) return;
          const line = alter(intact, a);
          const fast = checkWriterLine(line);
          if (a.kind === 'none') expect(fast).not.toBeNull();
          else {
            altered++;
            if (fast !== null) alteredFast++;
          }
          if (fast === null) return;
          const general = checkLine(line.toString('utf8'));
          if (isLineProblem(general)) throw new Error(`the byte check passed a line the general path refuses: ${general.message}`);
          expectSame(fast, general);
        },
      ),
      { numRuns: 1500 },
    );
    // Alterations the byte check still passed are ones that keep the line in the writer's form
    // (a changed letter in a string): the verifier then finds the hash or the link broken.
    expect(alteredFast).toBeLessThan(altered);
  });

  it('leaves to the general path every line not in the writer form, and the general path says what is wrong', () => {
    const line = buildEntry({ ...samplePayload(1, 5), x: { a: 1, b: 'é' } } as EntryPayload, at, signer, 2).line.slice(0, -1);
    expect(checkWriterLine(Buffer.from(line))).not.toBeNull();
    const variants: Array<[string, string]> = [
      ['whitespace', line.replace('"x":{', '"x": {')],
      ['a raw tab in a string', line.replace('"b":"é"', '"b":"\t"')],
      ['an escape JCS does not write', line.replace('"b":"é"', '"b":"\\u00e9"')],
      ['an escaped slash', line.replace('"b":"é"', '"b":"\\/"')],
      ['\\u0008 for \\b', line.replace('"b":"é"', '"b":"\\u0008"')],
      ['upper-case hex in an escape', line.replace('"b":"é"', '"b":"\\u001F"')],
      ['members out of order', line.replace('"x":{"a":1,"b":"é"}', '"x":{"b":"é","a":1}')],
      ['a duplicate member', line.replace('"x":{"a":1,"b":"é"}', '"x":{"a":1,"a":1,"b":"é"}')],
      ['1.0', line.replace('"a":1,', '"a":1.0,')],
      ['-0', line.replace('"a":1,', '"a":-0,')],
      ['1e3', line.replace('"a":1,', '"a":1e3,')],
      ['a member named __proto__', line.replace('"x":{"a":1', '"x":{"__proto__":1,"a":1')],
      ['sig before hash', line.replace(/,"hash":("[0-9a-f]+"),"sig":("[^"]+")\}$/, ',"sig":$2,"hash":$1}')],
      ['a member after sig', line.replace(/\}$/, ',"z":1}')],
      ['trailing bytes', `${line} `],
      ['a salt of another length', line.replace(/"salt":"([A-Za-z0-9+/]{22})=="/, '"salt":"$1"')],
      ['a part digest that does not match', line.replace(/"digest":"[0-9a-f]{64}"/, `"digest":"${'0'.repeat(64)}"`)],
    ];
    for (const [what, v] of variants) {
      expect(v, what).not.toBe(line);
      expect(checkWriterLine(Buffer.from(v)), what).toBeNull();
    }
    expect(checkLine(variants[1]?.[1] as string)).toMatchObject({ kind: 'parse' }); // the raw tab: not JSON
    const mismatch = checkLine(variants.at(-1)?.[1] as string);
    expect(isLineProblem(mismatch) ? null : mismatch.partMismatch).toContain('does not match its salted digest');
    // Bytes that are not UTF-8: a lone continuation byte, and a surrogate encoded as UTF-8 (ED A0 80).
    for (const bad of [[0x80], [0xed, 0xa0, 0x80]]) {
      const b = Buffer.from(line);
      const i = b.indexOf('é');
      expect(checkWriterLine(Buffer.concat([b.subarray(0, i), Buffer.from(bad), b.subarray(i + 2)]))).toBeNull();
    }
  });

  it('orders member names as UTF-16 does, not as their UTF-8 bytes do (U+1F600 before U+E000)', () => {
    const b = buildEntry({ ...samplePayload(1, 5), x: { '\uE000': 1, '😀': 2, 'a\n': 3, 'a"': 4, a: 5 } } as EntryPayload, at, null, 2);
    const line = Buffer.from(b.line.slice(0, -1));
    expect(line.indexOf('😀')).toBeLessThan(line.indexOf('\uE000'));
    const fast = checkWriterLine(line);
    expect(fast?.computedHash.toString('hex')).toBe(b.hash);
    // In UTF-8 byte order instead: not canonical, left to the general path.
    const swapped = b.line.slice(0, -1).replace('"😀":2,"\uE000":1', '"\uE000":1,"😀":2');
    expect(swapped).not.toBe(b.line.slice(0, -1));
    expect(checkWriterLine(Buffer.from(swapped))).toBeNull();
  });

  it('reads a record (a line with kind) whole, as the general path does', () => {
    const b = buildEntry({ ...samplePayload(1, 5), kind: 'erasure', erasure: { entries: [[0, 3]] } } as EntryPayload, at, signer, 2);
    const line = b.line.slice(0, -1);
    const fast = checkWriterLine(Buffer.from(line));
    const general = checkLine(line);
    if (fast === null || isLineProblem(general)) throw new Error('both paths must pass the record');
    expectSame(fast, general);
    expect(fast.entry.erasure).toEqual({ entries: [[0, 3]] });
  });
});
