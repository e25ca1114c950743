/**
 * The one path by which a response reaches the protocol adapter. An uncompressed stream is parsed
 * as it is relayed, in slices after the relay (ADR 0011); every other body (a JSON answer, a
 * compressed stream) is handed over whole, decoded, when the exchange is recorded. Nothing else
 * calls the adapter's push/pushBody/finish.
 */
import type { NormalizedExchange } from '../adapters/types.ts';
import type { ProxyAdapter } from './adapter-port.ts';

/** Stream bytes the adapter parses per turn of the event loop (about 25 typical SSE frames). */
export const ADAPTER_SLICE_BYTES = 4096;
/** Queued stream bytes beyond which the adapter catches up at once (memory stays bounded). */
export const ADAPTER_BACKLOG_BYTES = 256 * 1024;
const EMPTY = Buffer.alloc(0);

export class AdapterFeed {
  /** The response is parsed chunk by chunk as it is relayed (an uncompressed stream). */
  private live = false;
  private streamed = false;
  private finished = false;
  /** Stream chunks relayed but not yet parsed (see chunk()), from `head` on. */
  private queue: Buffer[] = [];
  private head = 0;
  private queued = 0; // bytes
  private scheduled = false;
  private stopped = false;

  constructor(readonly adapter: ProxyAdapter | null) {}

  /** The response head arrived. Returns true when the adapter reconstructs the stream itself (its raw frames need not be kept). */
  response(status: number, contentType: string | null, streamed: boolean, compressed: boolean): boolean {
    if (this.adapter === null) return false;
    this.streamed = streamed;
    this.live = streamed && !compressed;
    try {
      this.adapter.setResponse({ status, contentType });
    } catch {
      // An adapter bug must never break the relay.
    }
    return this.live && this.adapter.api !== 'opaque' && status < 300;
  }

  /**
   * One relayed chunk. Parsed from the next turn on, not now: undici hands over a whole socket
   * read (often many SSE frames) chunk by chunk in one callback, and Node sends what res.write()
   * queued only after that callback returns. Parsing every frame first would hold the client's
   * first bytes back by the parse time of the whole read.
   */
  chunk(c: Buffer): void {
    if (!this.live) return;
    this.queue.push(c);
    this.queued += c.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.feedSlice);
    }
  }

  /**
   * The upstream's side ended (either way): what is still queued is parsed now, before the
   * response ends. Parsing after the end would overlap the client's next request instead (ADR 0011).
   */
  drain(): void {
    this.stopped = true;
    if (this.live) this.parseQueued(Infinity);
  }

  /**
   * Parses up to one slice of the queued stream chunks, then yields: the next slice runs on the
   * next turn of the event loop, after its I/O, so the loop stays free to forward other exchanges'
   * bytes meanwhile.
   */
  private readonly feedSlice = (): void => {
    this.scheduled = false;
    // A queue that outgrew the backlog (an upstream faster than a slice per turn) is brought back
    // under it at once, so what waits for parsing stays bounded.
    this.parseQueued(Math.max(ADAPTER_SLICE_BYTES, this.queued - ADAPTER_BACKLOG_BYTES));
    if (this.queued > 0 && !this.stopped) {
      this.scheduled = true;
      setImmediate(this.feedSlice);
    }
  };

  /** Hands the adapter at most `budget` bytes of the queue (whole chunks, the last one split). */
  private parseQueued(budget: number): void {
    const q = this.queue;
    const adapter = this.adapter as ProxyAdapter;
    while (budget > 0 && this.head < q.length) {
      let c = q[this.head] as Buffer;
      if (c.length > budget) {
        // The parsers take bytes split anywhere, inside a frame or a UTF-8 sequence alike.
        q[this.head] = c.subarray(budget);
        c = c.subarray(0, budget);
      } else q[this.head++] = EMPTY;
      budget -= c.length;
      this.queued -= c.length;
      try {
        adapter.push(c);
      } catch {
        // An adapter bug must never break the relay; the entry records what the capture kept.
      }
    }
    if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  /**
   * The normalized exchange. `decoded`: the whole response body, decoded (null when there was
   * none, it was over the cap, or it could not be decoded); ignored for a stream parsed live.
   * Throws what the adapter throws (the caller records the response opaquely).
   */
  finish(decoded: Buffer | null, complete: boolean): NormalizedExchange | null {
    if (this.adapter === null || this.finished) return null;
    this.finished = true;
    this.drain();
    if (!this.live && decoded !== null) {
      if (this.streamed) this.adapter.push(decoded);
      else this.adapter.pushBody(decoded);
    }
    return this.adapter.finish({ complete });
  }
}
