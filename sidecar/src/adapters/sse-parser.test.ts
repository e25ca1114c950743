import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSseParser, type SseEvent } from './sse-parser.ts';
import { splitAt } from './test-support.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function parseChunks(chunks: Uint8Array[]): SseEvent[] {
  const p = createSseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

describe('createSseParser (WHATWG HTML §9.2.6)', () => {
  it('dispatches data events with default type message and the event: type', () => {
    const ev = parseChunks([enc('data: {"a":1}\n\nevent: ping\ndata: {}\n\n')]);
    expect(ev).toEqual([
      { type: 'message', data: '{"a":1}', lastEventId: '' },
      { type: 'ping', data: '{}', lastEventId: '' },
    ]);
  });

  it('joins multi-line data with LF and strips only one leading space', () => {
    const ev = parseChunks([enc('data:  two spaces\ndata:x\ndata\n\n')]);
    expect(ev).toEqual([{ type: 'message', data: ' two spaces\nx\n', lastEventId: '' }]);
  });

  it('accepts CRLF, LF and CR line ends, including CR and LF in different chunks', () => {
    const ev = parseChunks([enc('data: a\r\n\r\ndata: b\r\rdata: c\r'), enc('\n\r'), enc('\n')]);
    expect(ev.map((e) => e.data)).toEqual(['a', 'b', 'c']);
  });

  it('ignores comments, unknown fields and a leading BOM; keeps id and retry', () => {
    const ev = parseChunks([enc('\uFEFF: keep-alive\nfoo: bar\nid: 7\nretry: 1500\nretry: x\ndata: hi\n\nid: a\u0000b\ndata: next\n\n')]);
    expect(ev).toEqual([
      { type: 'message', data: 'hi', lastEventId: '7', retry: 1500 },
      { type: 'message', data: 'next', lastEventId: '7' },
    ]);
  });

  it('does not dispatch an event without data, and resets the type after a blank line', () => {
    const ev = parseChunks([enc('event: lonely\n\ndata: x\n\n')]);
    expect(ev).toEqual([{ type: 'message', data: 'x', lastEventId: '' }]);
  });

  it('drops an unterminated last event and reports it', () => {
    const p = createSseParser();
    expect(p.push(enc('data: a\n\ndata: cut'))).toHaveLength(1);
    expect(p.end()).toEqual([]);
    expect(p.truncatedAtEnd).toBe(true);
  });

  it('decodes a multi-byte character split between chunks', () => {
    const bytes = enc('data: 18 °C ☀️ 🧥\n\n');
    for (let i = 0; i <= bytes.length; i += 1) {
      expect(parseChunks([bytes.subarray(0, i), bytes.subarray(i)])[0]?.data).toBe('18 °C ☀️ 🧥');
    }
  });

  it('drops an event larger than maxEventChars and carries on with the next', () => {
    const p = createSseParser({ maxEventChars: 16 });
    const out = [...p.push(enc(`data: ${'x'.repeat(10)}\ndata: ${'y'.repeat(10)}\n\n`)), ...p.push(enc(`data: ${'z'.repeat(40)}`)), ...p.push(enc('zz\n\ndata: ok\n\n'))];
    expect(out.map((e) => e.data)).toEqual(['ok']);
    expect(p.oversized).toBe(2);
  });

  it('parses LF-only text (its indexOf path) as the same text with CRLF line ends (property)', () => {
    const line = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => `data: ${s.replace(/[\r\n]/g, '')}`),
      fc.constantFrom('event: delta', ': comment', 'id: 3', 'retry: 10', 'data', 'unknown: x', ''),
    );
    const lines = fc.array(line, { maxLength: 20 });
    fc.assert(
      fc.property(lines, fc.array(fc.nat(), { maxLength: 8 }), (ls, cuts) => {
        const lf = enc(`${ls.join('\n')}\n\n`);
        const crlf = enc(`${ls.join('\r\n')}\r\n\r\n`);
        expect(parseChunks(splitAt(lf, cuts))).toEqual(parseChunks([crlf]));
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same events for any split of a stream into chunks (property)', () => {
    const line = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => `data: ${s.replace(/[\r\n]/g, '')}`),
      fc.constantFrom('event: delta', ': comment', 'id: 3', 'retry: 10', 'data', 'unknown: x', ''),
    );
    const eol = fc.constantFrom('\n', '\r\n', '\r');
    const stream = fc.array(fc.tuple(line, eol), { maxLength: 20 }).map((ls) => enc(`${ls.map(([l, e]) => l + e).join('')}\n\n`));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        expect(parseChunks(splitAt(bytes, cuts))).toEqual(parseChunks([bytes]));
      }),
      { numRuns: 300 },
    );
  });
});
