/**
 * A string builder with a byte bound (UTF-8), so a runaway stream cannot grow an accumulator
 * without limit (docs/architecture.md "Data flow of one exchange": capture is bounded). Past the bound, deltas are dropped
 * and `truncated` is set; the kept text never ends in half a surrogate pair.
 */
export interface TextBuffer {
  append(s: string): void;
  readonly text: string;
  readonly bytes: number;
  readonly truncated: boolean;
}

export function createTextBuffer(maxBytes: number): TextBuffer {
  const parts: string[] = [];
  let bytes = 0;
  let truncated = false;
  let joined: string | null = '';
  return {
    append(s) {
      if (s === '' || truncated) {
        if (s !== '') truncated = true;
        return;
      }
      const n = Buffer.byteLength(s, 'utf8');
      if (bytes + n <= maxBytes) {
        parts.push(s);
        bytes += n;
      } else {
        const kept = truncateUtf8(s, maxBytes - bytes);
        parts.push(kept);
        bytes += Buffer.byteLength(kept, 'utf8');
        truncated = true;
      }
      joined = null;
    },
    get text() {
      if (joined === null) {
        joined = parts.join('');
        parts.length = 0;
        parts.push(joined);
      }
      return joined;
    },
    get bytes() {
      return bytes;
    },
    get truncated() {
      return truncated;
    },
  };
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `maxBytes`, cut at a code point. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i) ?? 0;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += cp >= 0x10000 ? 2 : 1;
  }
  return s.slice(0, i);
}

/** Bounds an already complete string (from a non-streamed body); reports whether it was cut. */
export function boundText(s: string | null, maxBytes: number): { text: string | null; truncated: boolean } {
  if (s === null) return { text: null, truncated: false };
  const kept = truncateUtf8(s, maxBytes);
  return { text: kept, truncated: kept.length !== s.length };
}
