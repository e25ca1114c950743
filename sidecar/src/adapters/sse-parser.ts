/**
 * Incremental server-sent events parser, pure (no I/O): bytes in, dispatched events out.
 *
 * Follows the WHATWG HTML Living Standard, §9.2.6 "Interpreting an event stream":
 * - the stream is UTF-8; one leading U+FEFF BOM is ignored; invalid bytes decode to U+FFFD;
 * - lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next
 *   are one line end);
 * - a line starting with ':' is a comment; `field:value` with one optional space after the
 *   colon; a line without a colon is a field with an empty value;
 * - `data` lines append value + LF to the data buffer; `event` sets the type; `id` sets the last
 *   event id unless the value contains U+0000; `retry` sets the reconnection time if all digits;
 *   any other field is ignored;
 * - an empty line dispatches: nothing if the data buffer is empty, else one event with the data
 *   minus its last LF, type `message` unless `event` said otherwise;
 * - at end of stream an incomplete event (no final blank line) is NOT dispatched.
 * Chunks may split anywhere, including inside a multi-byte UTF-8 sequence (utf8-stream.ts carries
 * the partial sequence over, as a streaming TextDecoder does).
 *
 * Memory is bounded: a line or event larger than `maxEventChars` is dropped (counted in
 * `oversized`) instead of growing the buffers without limit.
 */

import { createUtf8StreamDecoder } from './utf8-stream.ts';

export interface SseEvent {
  type: string;
  data: string;
  lastEventId: string;
  retry?: number;
}

export interface SseParser {
  push(chunk: Uint8Array): SseEvent[];
  /** Flushes the decoder; returns events completed by the flush (an unterminated event is dropped). */
  end(): SseEvent[];
  /** Events dropped because they exceeded maxEventChars. */
  readonly oversized: number;
  /** True when end() found an event that never got its terminating blank line. */
  readonly truncatedAtEnd: boolean;
}

export interface SseParserOptions {
  /** Upper bound on one event's data (and one line), in UTF-16 code units. Default 16 Mi. */
  maxEventChars?: number;
}

const DEFAULT_MAX_EVENT_CHARS = 16 * 1024 * 1024;

export function createSseParser(options: SseParserOptions = {}): SseParser {
  const maxEventChars = options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS;
  const decoder = createUtf8StreamDecoder();
  let line = '';
  let pendingCr = false; // the previous text ended in CR: a following LF belongs to that line end
  let data = '';
  let hasData = false;
  let eventType = '';
  let lastEventId = '';
  let retry: number | undefined;
  let discarding = false; // the current event overflowed: skip to the next blank line
  let oversized = 0;
  let truncatedAtEnd = false;

  function processLine(text: string, out: SseEvent[]): void {
    if (text === '') {
      if (!discarding && hasData) {
        const ev: SseEvent = { type: eventType === '' ? 'message' : eventType, data, lastEventId };
        if (retry !== undefined) ev.retry = retry;
        out.push(ev);
      }
      data = '';
      hasData = false;
      eventType = '';
      retry = undefined;
      discarding = false;
      return;
    }
    if (discarding || text.charCodeAt(0) === 0x3a /* ':' comment */) return;
    const colon = text.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = text;
      value = '';
    } else {
      field = text.slice(0, colon);
      value = text.charCodeAt(colon + 1) === 0x20 ? text.slice(colon + 2) : text.slice(colon + 1);
    }
    switch (field) {
      case 'data':
        if (data.length + value.length + 1 > maxEventChars) {
          discarding = true;
          oversized += 1;
          data = '';
          hasData = false;
          return;
        }
        data = hasData ? `${data}\n${value}` : value;
        hasData = true;
        return;
      case 'event':
        eventType = value;
        return;
      case 'id':
        if (!value.includes('\u0000')) lastEventId = value;
        return;
      case 'retry':
        if (/^[0-9]+$/.test(value)) retry = Number(value);
        return;
      default:
        return; // unknown fields are ignored (§9.2.6)
    }
  }

  function feed(text: string, out: SseEvent[]): void {
    let start = 0;
    if (pendingCr && text.length > 0) {
      pendingCr = false;
      if (text.charCodeAt(0) === 0x0a) start = 1;
    }
    if (text.indexOf('\r', start) === -1) {
      // LF-only text (what providers send): line ends found by indexOf, not char by char.
      for (let i = text.indexOf('\n', start); i !== -1; i = text.indexOf('\n', start)) {
        const piece = text.slice(start, i);
        const full = line === '' ? piece : line + piece;
        line = '';
        processLine(full, out);
        start = i + 1;
      }
      keepRest(text, start);
      return;
    }
    for (let i = start; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const piece = text.slice(start, i);
      const full = line === '' ? piece : line + piece;
      line = '';
      processLine(full, out);
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) i += 1;
        } else {
          pendingCr = true;
        }
      }
      start = i + 1;
    }
    keepRest(text, start);
  }

  /** Keeps the text after the last line end as the start of the next line (bounded). */
  function keepRest(text: string, start: number): void {
    if (start < text.length) {
      const rest = text.slice(start);
      if (discarding) {
        line = ' '; // a non-empty marker, so this line's end is not read as the blank line
      } else if (line.length + rest.length > maxEventChars) {
        // A line without end that outgrows the cap: drop it and the event it belongs to.
        oversized += 1;
        discarding = true;
        data = '';
        hasData = false;
        line = ' ';
      } else {
        line += rest;
      }
    }
  }

  return {
    push(chunk) {
      const out: SseEvent[] = [];
      feed(decoder.decode(chunk), out);
      return out;
    },
    end() {
      const out: SseEvent[] = [];
      feed(decoder.end(), out);
      pendingCr = false;
      if (line !== '' || hasData) truncatedAtEnd = true;
      line = '';
      data = '';
      hasData = false;
      return out;
    },
    get oversized() {
      return oversized;
    },
    get truncatedAtEnd() {
      return truncatedAtEnd;
    },
  };
}
