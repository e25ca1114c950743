/**
 * Incremental NDJSON parser, pure (no I/O): bytes in, one JSON value per line out.
 *
 * Ollama streams `application/x-ndjson`: one JSON object per line, LF-terminated (ollama
 * docs/api.md, "Streaming responses"). Lines may be split anywhere by the transport, including
 * inside a multi-byte UTF-8 sequence. A CR before the LF is tolerated, blank lines are skipped,
 * and a line that is not JSON is reported as `{ ok: false }`, never thrown, so one bad line
 * cannot lose the rest of the exchange. A final line without LF is parsed at end().
 */

import { createUtf8StreamDecoder } from './utf8-stream.ts';

export type NdjsonLine = { ok: true; value: unknown } | { ok: false; error: string; length: number };

export interface NdjsonParser {
  push(chunk: Uint8Array): NdjsonLine[];
  end(): NdjsonLine[];
}

export interface NdjsonParserOptions {
  /** A line longer than this (UTF-16 code units) is reported as an error, not buffered. Default 16 Mi. */
  maxLineChars?: number;
}

export function createNdjsonParser(options: NdjsonParserOptions = {}): NdjsonParser {
  const maxLineChars = options.maxLineChars ?? 16 * 1024 * 1024;
  const decoder = createUtf8StreamDecoder();
  let line = '';
  let overflow = 0; // length of an oversized line being skipped, 0 when none

  function parseLine(text: string, out: NdjsonLine[]): void {
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return;
    try {
      out.push({ ok: true, value: JSON.parse(trimmed) as unknown });
    } catch (err) {
      out.push({ ok: false, error: err instanceof Error ? err.message : String(err), length: trimmed.length });
    }
  }

  function feed(text: string, out: NdjsonLine[]): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      if (overflow > 0) {
        out.push({ ok: false, error: 'line exceeds the size limit', length: overflow + piece.length });
        overflow = 0;
      } else {
        parseLine(line === '' ? piece : line + piece, out);
      }
      line = '';
      start = nl + 1;
    }
    if (start < text.length) {
      const rest = text.slice(start);
      if (overflow > 0) overflow += rest.length;
      else if (line.length + rest.length > maxLineChars) {
        overflow = line.length + rest.length;
        line = '';
      } else line += rest;
    }
  }

  return {
    push(chunk) {
      const out: NdjsonLine[] = [];
      feed(decoder.decode(chunk), out);
      return out;
    },
    end() {
      const out: NdjsonLine[] = [];
      feed(decoder.end(), out);
      if (overflow > 0) out.push({ ok: false, error: 'line exceeds the size limit', length: overflow });
      else if (line !== '') parseLine(line, out);
      line = '';
      overflow = 0;
      return out;
    },
  };
}
