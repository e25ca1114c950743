// Entry lines: what the writer writes is what the verifier recomputes, by the fast byte path and by
// the general JCS path alike, for any JSON payload (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEntry, checkLine, isLineProblem, type CheckedLine } from './entry.ts';
import { canonicalJson } from './jcs.ts';
import { sha256 } from './hash.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from './test-support.ts';
import { parseSignerKey } from './signed-note.ts';
import type { EntryPayload } from './types.ts';

const signer = parseSignerKey(testKeys().signerKey);
const at = { seq: 3, ts: '2026-01-01T00:00:00.000Z', origin: TEST_ORIGIN, prevHash: 'a'.repeat(64) };

function specHash(line: string): string {
  const { hash: _h, sig: _s, ...rest } = JSON.parse(line) as Record<string, unknown>;
  return sha256(canonicalJson(rest)).toString('hex');
}

function checked(line: string): CheckedLine {
  const c = checkLine(line);
  if (isLineProblem(c)) throw new Error(c.message);
  return c;
}

describe('entry lines', () => {
  it('the line is JCS with hash and sig before the final brace, and ends in a newline', () => {
    const b = buildEntry(samplePayload(1), at, signer);
    const text = b.line;
    expect(text.endsWith('"}\n')).toBe(true);
    const { hash, sig, ...rest } = JSON.parse(text) as Record<string, unknown>;
    expect(text.startsWith(canonicalJson(rest).slice(0, -1))).toBe(true);
    expect(hash).toBe(b.hash);
    expect(typeof sig).toBe('string');
  });

  it('for any JSON payload, the recomputed hash equals the written one, on the writer line and reformatted', () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig'].includes(k)), json, { maxKeys: 6 }), fc.boolean(), (extra, signed) => {
        const payload = { ...samplePayload(0, 5), ...extra } as EntryPayload;
        let b;
        try {
          b = buildEntry(payload, at, signed ? signer : null);
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

  it('a line that only looks canonical takes the general path (integer-like keys, -0, 1e400)', () => {
    for (const extra of [{ x: { '10': 1, '9': 2 } }, { x: -0 }, { x: [1.5e300, 2e-300] }]) {
      const b = buildEntry({ ...samplePayload(0, 5), ...extra } as EntryPayload, at, null);
      const line = b.line.slice(0, -1);
      expect(checked(line).computedHash.toString('hex')).toBe(b.hash);
    }
    // A hand-made line with a non-canonical number: the fast path must not hash its bytes.
    const b = buildEntry({ ...samplePayload(0, 5), x: 1 } as EntryPayload, at, null);
    const odd = b.line.slice(0, -1).replace('"x":1', '"x":1.0');
    const c = checked(odd);
    expect(c.computedHash.toString('hex')).toBe(specHash(odd));
  });

  it('reports lines that are not v1 entries as parse problems', () => {
    expect(checkLine('nope')).toMatchObject({ kind: 'parse' });
    expect(checkLine('[]')).toMatchObject({ kind: 'parse' });
    const line = buildEntry(samplePayload(0), at, null).line.slice(0, -1);
    expect(checkLine(line.replace('"v":1', '"v":2'))).toMatchObject({ kind: 'parse', message: expect.stringContaining('version') });
    expect(checkLine(line.replace('"seq":3', '"seq":-1'))).toMatchObject({ kind: 'parse' });
  });
});
