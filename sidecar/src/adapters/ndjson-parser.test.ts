import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createNdjsonParser, type NdjsonLine } from './ndjson-parser.ts';
import { splitAt } from './test-support.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function parseChunks(chunks: Uint8Array[]): NdjsonLine[] {
  const p = createNdjsonParser();
  const out: NdjsonLine[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

describe('createNdjsonParser', () => {
  it('parses one value per line, tolerates CRLF, skips blank lines, parses a last line without LF', () => {
    expect(parseChunks([enc('{"a":1}\r\n\n{"b":"°"}\n[1]')])).toEqual([
      { ok: true, value: { a: 1 } },
      { ok: true, value: { b: '°' } },
      { ok: true, value: [1] },
    ]);
  });

  it('reports a bad line and keeps going', () => {
    const out = parseChunks([enc('{"a":1}\n{"broken\n{"c":3}\n')]);
    expect(out.map((l) => l.ok)).toEqual([true, false, true]);
    expect(out[1]).toMatchObject({ ok: false, length: 8 });
  });

  it('reports an oversized line without buffering it', () => {
    const p = createNdjsonParser({ maxLineChars: 8 });
    const out = [...p.push(enc('{"x":"12345')), ...p.push(enc('67890"}\n{"ok":1}\n'))];
    expect(out).toEqual([
      { ok: false, error: 'line exceeds the size limit', length: 18 },
      { ok: true, value: { ok: 1 } },
    ]);
  });

  it('gives the same values for any split of a stream into chunks (property)', () => {
    const value = fc.jsonValue({ maxDepth: 2 });
    const stream = fc.array(value, { maxLength: 10 }).map((vs) => enc(vs.map((v) => JSON.stringify(v)).join('\n') + '\n'));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        expect(parseChunks(splitAt(bytes, cuts))).toEqual(parseChunks([bytes]));
      }),
      { numRuns: 300 },
    );
  });
});
