import { readFileSync } from 'node:fs';
import canonicalizeModule from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonOfPlain, canonicalStringText } from './jcs.ts';
import { entryHashBytes, genesisPrevHash, sha256 } from './hash.ts';

interface JcsVectors {
  cases: { name: string; source: string; input: string; output: string }[];
  numbers: { valid: [string, string][]; invalid: [string, string][] };
}
// The library our own serializer must agree with (ADR 0009); CommonJS, see jcs.ts.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;
const V = JSON.parse(readFileSync(new URL('./testdata/jcs-vectors.json', import.meta.url), 'utf8')) as JcsVectors;

function float64(bitsHex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bitsHex}`));
  return view.getFloat64(0);
}

describe('canonicalJson (RFC 8785)', () => {
  it.each(V.cases)('$name', ({ input, output }) => {
    expect(canonicalJson(JSON.parse(input))).toBe(output);
  });

  it.each(V.numbers.valid)('Appendix B: 0x%s serializes as %s', (bits, text) => {
    expect(canonicalJson(float64(bits))).toBe(text);
    expect(canonicalJson([float64(bits)])).toBe(`[${text}]`);
  });

  it.each(V.numbers.invalid)('Appendix B: 0x%s (%s) is rejected', (bits) => {
    expect(() => canonicalJson({ n: float64(bits) })).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_ENTRY_INVALID', exitCode: 4 }));
  });

  it.each([
    ['-Infinity', { a: -Infinity }],
    ['undefined member', { a: 1, b: undefined }],
    ['undefined array element', [1, undefined]],
    ['undefined at the top', undefined],
    ['BigInt', { a: 10n }],
    ['function', { f: () => 1 }],
    ['symbol', { s: Symbol('x') }],
    ['lone high surrogate', { s: 'a\ud800b' }],
    ['lone low surrogate in a key', { ['\udc00']: 1 }],
    ['Map', { m: new Map([[1, 2]]) }],
  ])('rejects %s with LLMAUDIT_E_ENTRY_INVALID', (_, value) => {
    expect(() => canonicalJson(value)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_ENTRY_INVALID' }));
  });

  it('names the path of the offending value', () => {
    expect(() => canonicalJson({ a: [1, { b: undefined }] })).toThrow(/\$\.a\[1\]\.b: undefined is not a JSON value/);
  });

  it('rejects cycles but accepts shared (acyclic) references', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_ENTRY_INVALID' }));
  });

  it('uses toJSON (Date) and accepts null-prototype objects and surrogate pairs', () => {
    expect(canonicalJson({ d: new Date(0) })).toBe('{"d":"1970-01-01T00:00:00.000Z"}');
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 1;
    o.a = '\ud83d\ude00';
    expect(canonicalJson(o)).toBe('{"a":"\ud83d\ude00","b":1}');
  });

  it('is idempotent over parse and independent of key order (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const once = canonicalJson(value);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
        const reversed = JSON.parse(once, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v)) as unknown;
        expect(canonicalJson(reversed)).toBe(once);
      }),
      { numRuns: 200 },
    );
  });
});

describe('canonicalJson agrees with the canonicalize library (ADR 0009)', () => {
  // Rebuilds every object of a JSON value with its members in reverse order, so the serializer's
  // sorting (not JSON.parse's insertion order) decides.
  const reversedKeys = (v: unknown): unknown =>
    v === null || typeof v !== 'object' ? v : Array.isArray(v) ? v.map(reversedKeys) : Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversedKeys(x)]));

  it('over random JSON, any string units (lone surrogates must be refused instead) (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 5 }), fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' })), (value) => {
        for (const v of [value, reversedKeys(value)]) {
          const expected = canonicalize(v) as string;
          if (/[\uD800-\uDFFF]/.test(expected) || /\\ud[89a-f]/.test(JSON.stringify(expected))) {
            // A lone surrogate somewhere (or one escaped by JSON.stringify): I-JSON refuses it.
            let refused = false;
            try {
              expect(canonicalJson(v)).toBe(expected);
            } catch (err) {
              refused = (err as { code?: string }).code === 'LLMAUDIT_E_ENTRY_INVALID';
              if (!refused) throw err;
            }
            continue;
          }
          expect(canonicalJson(v)).toBe(expected);
          expect(canonicalJsonOfPlain(v)).toBe(expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a string is its JSON.stringify text, short or long, whatever it holds; undefined with a lone surrogate (fast-check)', () => {
    const special = fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', '\u00e9', '\u65e5', '\uD83D\uDE00', '\uD800', '\uDFFF', 'a');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), special, fc.nat(3000), (s, c, pad) => {
        for (const v of [s, `${'x'.repeat(pad)}${c}${s}`, `${s}${'y'.repeat(pad)}`, c]) {
          const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v);
          expect(canonicalStringText(v)).toBe(lone ? undefined : JSON.stringify(v));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a member named __proto__ when members are reordered', () => {
    // Found by the property above: copying members into `{}` turned "__proto__" into a prototype.
    const v = JSON.parse('{"__proto__":false,"":""}') as unknown;
    expect(canonicalJson(v)).toBe('{"":"","__proto__":false}');
  });

  it('orders array-index-like member names by UTF-16 code units, not numerically', () => {
    const v = { b: 1, '10': 2, '9': 3, a: { '2': [], '100': null, '1x': true } };
    expect(canonicalJson(v)).toBe('{"10":2,"9":3,"a":{"100":null,"1x":true,"2":[]},"b":1}');
    expect(canonicalJson(v)).toBe(canonicalize(v));
  });

  it('keeps text that merely looks like an escaped surrogate, -0, and deep nesting exact', () => {
    const v = { s: '\\ud800 is text', z: -0, e: 1e21, small: 1e-7, pair: '\ud83d\ude00' };
    expect(canonicalJson(v)).toBe(canonicalize(v));
    let deep: unknown = { leaf: 'x' };
    for (let i = 0; i < 100; i++) deep = i % 2 === 0 ? [deep] : { z: 1, a: deep };
    expect(canonicalJson(deep)).toBe(canonicalize(deep));
  });

  it('serializes entry-shaped values without changing the objects passed in', () => {
    const v = { v: 1, seq: 3, request: { headers: { 'x-b': '1', 'content-type': 'application/json' }, body: { messages: [{ role: 'user', content: 'hi\n"there"' }] } } };
    const before = JSON.stringify(v);
    expect(canonicalJson(v)).toBe(canonicalize(v));
    expect(JSON.stringify(v)).toBe(before);
  });
});

describe('hashing', () => {
  it('sha256 hashes UTF-8 (FIPS 180-2 "abc" vector)', () => {
    expect(sha256('abc').toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256('\u20ac')).toEqual(sha256(Buffer.from([0xe2, 0x82, 0xac])));
  });

  it('entryHashBytes is SHA-256 of the canonical JSON', () => {
    const entry = { v: 1, seq: 0, b: 'x', a: [1.5, null] };
    expect(entryHashBytes(entry)).toEqual(sha256('{"a":[1.5,null],"b":"x","seq":0,"v":1}'));
    expect(entryHashBytes({ ...entry, seq: 1 })).not.toEqual(entryHashBytes(entry));
  });

  it('genesisPrevHash binds the origin', () => {
    expect(genesisPrevHash('llmaudit.dev/ns/pod/uid')).toBe(sha256('llmaudit genesis\nllmaudit.dev/ns/pod/uid').toString('hex'));
    expect(genesisPrevHash('a')).not.toBe(genesisPrevHash('b'));
  });
});

describe('canonicalJson: nesting', () => {
  it('refuses nesting past MAX_DEPTH with a typed error, never a stack overflow', () => {
    // 5,000 levels overflowed the recursive validation ("Maximum call stack size exceeded").
    for (const n of [5_000, 100_000]) {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = { a: v };
      expect(() => canonicalJson(v)).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_ENTRY_INVALID' }) as Error);
    }
    let ok: unknown = 1;
    for (let i = 0; i < 500; i++) ok = [ok];
    expect(canonicalJson(ok)).toBe(`${'['.repeat(500)}1${']'.repeat(500)}`);
  });
});
