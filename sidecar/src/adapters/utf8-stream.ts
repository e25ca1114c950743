/**
 * A streaming UTF-8 decoder for the stream parsers (sse-parser.ts, ndjson-parser.ts): the text it
 * gives for a stream's chunks, concatenated, is exactly what `new TextDecoder('utf-8')` gives with
 * `decode(chunk, { stream: true })` and a final `decode()` (WHATWG Encoding: one U+FFFD per maximal
 * invalid subpart, one leading BOM dropped), however the bytes are split.
 *
 * Why not TextDecoder: a streaming `decode` call costs ~400-600 ns on a one-frame chunk of ~300
 * bytes here, Buffer's native UTF-8 slice ~120 ns, and the parsers call it once per frame of every
 * recorded stream (`npm run bench -- stream-frames`). The complete characters of each chunk go
 * through the slice; only the bytes of a character split across chunks (at most three) are
 * carried to the next one.
 *
 * One difference in timing, none in text: TextDecoder emits the U+FFFD of an invalid sequence at
 * the end of a chunk as soon as it is invalid, this decoder with the next chunk (or `end()`).
 * The parsers split lines on the concatenated text, and no carried byte is a line end.
 */

export interface Utf8StreamDecoder {
  /** The text of the chunk's complete characters (and of the bytes carried from the chunk before). */
  decode(chunk: Uint8Array): string;
  /** The text of the bytes still carried (U+FFFD for an incomplete last character). */
  end(): string;
}

/** Where a character that the bytes do not complete begins at the end of `buf`, else buf.length. */
export function incompleteTail(buf: Uint8Array): number {
  const n = buf.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    if (b < 0xc0) return n; // ASCII: everything before it is complete
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return n - i < need ? i : n;
  }
  return n;
}

export function createUtf8StreamDecoder(): Utf8StreamDecoder {
  let carry: Buffer | null = null;
  let atStart = true;

  function text(buf: Buffer, end: number): string {
    let s = buf.toString('utf8', 0, end);
    if (atStart && s.length > 0) {
      atStart = false;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    return s;
  }

  return {
    decode(chunk) {
      let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (carry !== null) {
        buf = Buffer.concat([carry, buf]);
        carry = null;
      }
      const cut = incompleteTail(buf);
      // A copy: the caller may reuse its chunk's memory.
      if (cut < buf.length) carry = Buffer.from(buf.subarray(cut));
      return text(buf, cut);
    },
    end() {
      const c = carry;
      carry = null;
      return c === null ? '' : text(c, c.length);
    },
  };
}
