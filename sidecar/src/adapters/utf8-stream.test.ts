import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitAt } from './test-support.ts';
import { createUtf8StreamDecoder, incompleteTail } from './utf8-stream.ts';

/** What a streaming TextDecoder gives for the same chunks: the reference. */
function reference(chunks: Uint8Array[]): string {
  const d = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
  let s = '';
  for (const c of chunks) s += d.decode(c, { stream: true });
  return s + d.decode();
}

function ours(chunks: Uint8Array[]): string {
  const d = createUtf8StreamDecoder();
  let s = '';
  for (const c of chunks) s += d.decode(c);
  return s + d.end();
}

// Bytes that make UTF-8 interesting: lead bytes of every length, continuation bytes, bytes that are
// never valid (C0, C1, F5-FF), the BOM's bytes, line ends; and whole characters of every length.
const byte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(0x0a, 0x0d, 0x41, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0xf5, 0xff),
);
const piece = fc.oneof(
  fc.array(byte, { maxLength: 6 }).map((a) => Uint8Array.from(a)),
  fc.string({ unit: 'grapheme', maxLength: 4 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
  fc.constant(Uint8Array.of(0xef, 0xbb, 0xbf)), // a BOM
);
const streamBytes = fc.array(piece, { maxLength: 24 }).map((ps) => new Uint8Array(Buffer.concat(ps)));

describe('the streaming UTF-8 decoder of the stream parsers', () => {
  it('gives what a streaming TextDecoder gives, for any bytes split anywhere (valid, invalid, BOMs)', () => {
    fc.assert(
      fc.property(streamBytes, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        expect(ours(splitAt(bytes, cuts))).toBe(reference(splitAt(bytes, cuts)));
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same one byte at a time', () => {
    fc.assert(
      fc.property(streamBytes, (bytes) => {
        const ones = Array.from(bytes, (b) => Uint8Array.of(b));
        expect(ours(ones)).toBe(reference(ones));
      }),
      { numRuns: 1000 },
    );
  });

  it('drops one leading BOM only, even when it is split across chunks', () => {
    const bom = [0xef, 0xbb, 0xbf];
    expect(ours([Uint8Array.of(0xef), Uint8Array.of(0xbb), Uint8Array.of(0xbf, 0x61, ...bom)])).toBe('a\ufeff');
    expect(ours([new Uint8Array(0), Uint8Array.of(...bom, ...bom)])).toBe('\ufeff');
  });

  it('carries only an incomplete last character, and at most three bytes of it', () => {
    const euro = [0xe2, 0x82, 0xac];
    expect(incompleteTail(Uint8Array.of(0x61, ...euro))).toBe(4);
    expect(incompleteTail(Uint8Array.of(0x61, 0xe2, 0x82))).toBe(1);
    expect(incompleteTail(Uint8Array.of(0x61, 0xf0, 0x9f, 0x98))).toBe(1);
    expect(incompleteTail(Uint8Array.of(0xf0, 0x9f, 0x98, 0x80))).toBe(4);
    expect(incompleteTail(Uint8Array.of(0x80, 0x80, 0x80, 0x80))).toBe(4); // stray continuation bytes are complete (each is U+FFFD)
    expect(incompleteTail(Uint8Array.of(0x0a))).toBe(1);
    expect(incompleteTail(new Uint8Array(0))).toBe(0);
  });

  it('does not keep the caller\'s chunk: a reused buffer does not change the carried bytes', () => {
    const d = createUtf8StreamDecoder();
    const chunk = Buffer.from([0x61, 0xe2, 0x82]);
    expect(d.decode(chunk)).toBe('a');
    chunk.fill(0x41);
    expect(d.decode(Uint8Array.of(0xac))).toBe('€');
  });
});
