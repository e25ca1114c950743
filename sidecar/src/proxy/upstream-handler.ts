/**
 * The undici dispatch handler of one exchange: relays the upstream response to the client as it
 * arrives and tees it into the capture and the adapter. Uses undici's controller API directly
 * (pause/resume/abort) — the pattern of undici `docs/examples/proxy/proxy.js` — so backpressure
 * is exact: when `res.write()` returns false the upstream socket is paused until 'drain'.
 *
 * `durability: strict` (docs/architecture.md "Proxy and capture": durability): the response goes out chunked (no
 * Content-Length); the final data chunk (see onResponseData) and res.end() — the terminating
 * chunk — wait for the entry's append, so a client never sees a complete response whose record
 * is not on disk.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { SidecarConfig } from '../config/schema.ts';
import { BodyCapture } from '../capture/body-capture.ts';
import { forwardResponseHeaders } from './hop-by-hop.ts';
import { proxyError } from './errors.ts';
import type { ProxyAdapter } from './adapter-port.ts';

export type UpstreamResult = { ok: true; err: null; handler: UpstreamHandler } | { ok: false; err: unknown; handler: UpstreamHandler | null };

const STREAM_TYPES = ['text/event-stream', 'application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/stream+json'];

export function isStreamContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const lower = ct.toLowerCase();
  return STREAM_TYPES.some((t) => lower.startsWith(t));
}

/** Stream bytes the adapter parses per turn of the event loop (about 25 typical SSE frames). */
export const ADAPTER_SLICE_BYTES = 4096;
/** Queued stream bytes beyond which the adapter catches up at once (memory stays bounded). */
export const ADAPTER_BACKLOG_BYTES = 256 * 1024;
const EMPTY = Buffer.alloc(0);

export class UpstreamHandler implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null;
  status = 0;
  headers: IncomingHttpHeaders = {};
  responseStarted = false;
  streamed = false;
  encoding: string | undefined;
  rawChunks = 0;
  firstByteMs: number | null = null;
  readonly capture: BodyCapture;
  readonly done: Promise<UpstreamResult>;
  private resolveDone!: (r: UpstreamResult) => void;
  private settled = false;
  private pendingAbort: Error | null = null;
  private waitingDrain = false;
  private readonly feedAdapter: boolean;
  private readonly strict: boolean;
  private held: Buffer | null = null;
  private flushScheduled = false;
  /** Stream chunks relayed but not yet parsed by the adapter (see onResponseData), from adapterHead on. */
  private adapterQueue: Buffer[] = [];
  private adapterHead = 0;
  private adapterQueued = 0; // bytes
  private adapterScheduled = false;
  /** Set by the first res.write(), which sends the headers with it (headersSent is already true after writeHead). */
  private wrote = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly adapter: ProxyAdapter | null,
    config: SidecarConfig,
    private readonly t0: number,
    /** Hold the end until the entry is appended: strict durability, or a writer that is behind. */
    holdEnd: boolean,
  ) {
    this.capture = new BodyCapture(config.capture.maxBodyBytes);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.feedAdapter = adapter !== null;
    this.strict = holdEnd;
  }

  private readonly flushHeaders = (): void => {
    if (!this.wrote && !this.res.writableEnded && !this.res.destroyed) this.res.flushHeaders();
  };

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.controller?.resume();
  };

  private settle(r: UpstreamResult): void {
    if (this.settled) return;
    this.settled = true;
    // The adapter sees every chunk before the exchange is recorded: what is still queued is parsed
    // now, before the response ends. Parsing after the end would overlap the client's next request
    // instead (ADR 0011).
    this.parseQueued(Infinity);
    if (this.waitingDrain) this.res.off('drain', this.onDrain);
    this.resolveDone(r);
  }

  /** Aborts the upstream exchange (client gone, total timeout, shutdown). */
  abort(reason: Error): void {
    if (this.settled) return;
    if (this.controller === null) {
      this.pendingAbort = reason;
      return;
    }
    this.controller.abort(reason);
  }

  /** A failure before dispatch (no dispatcher, invalid options). */
  fail(err: unknown): void {
    this.settle({ ok: false, err, handler: this });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort !== null) controller.abort(this.pendingAbort);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: not forwarded (Node answers 100-continue itself)
    this.status = statusCode;
    this.headers = headers;
    const ct = headers['content-type'];
    this.streamed = isStreamContentType(typeof ct === 'string' ? ct : undefined);
    const enc = headers['content-encoding'];
    this.encoding = typeof enc === 'string' && enc !== '' && enc.toLowerCase() !== 'identity' ? enc : undefined;
    this.adapter?.setResponse({ status: statusCode, contentType: typeof ct === 'string' ? ct : null });
    if (this.streamed && this.encoding === undefined && this.adapter !== null && this.adapter.api !== 'opaque' && statusCode < 300) this.capture.digestOnly();
    const out = forwardResponseHeaders(headers as Record<string, string | string[] | undefined>, this.strict);
    delete out['x-llmaudit-id'];
    try {
      this.res.writeHead(statusCode, out);
      // Streams: the headers go out in this turn of the event loop even when no data follows, so
      // the SDK sees the response begin as soon as the upstream's did. Not at once, though: undici
      // hands over the first frames of the same socket read right after this callback, and the
      // first res.write() then carries the headers with them in one write(2), which saves the
      // client a wake-up and a syscall before its first byte. Other bodies ride with their data.
      if (this.streamed) process.nextTick(this.flushHeaders);
    } catch (err) {
      // Node refuses header values it cannot send safely (ERR_INVALID_CHAR, RFC 9110 §5.5).
      controller.abort(proxyError('LLMAUDIT_E_UPSTREAM_BAD_RESPONSE', (err as Error).message, { cause: err }));
      return;
    }
    this.responseStarted = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.firstByteMs === null) this.firstByteMs = performance.now() - this.t0;
    this.rawChunks++;
    this.capture.push(chunk);
    if (this.feedAdapter && this.streamed && this.encoding === undefined) {
      // Parsed from the next turn on, not now: undici hands over a whole socket read (often many SSE
      // frames) chunk by chunk in one callback, and Node sends what res.write() queued only after
      // that callback returns (it corks the socket until process.nextTick). Parsing every frame
      // first would hold the client's first bytes back by the parse time of the whole read.
      this.adapterQueue.push(chunk);
      this.adapterQueued += chunk.length;
      if (!this.adapterScheduled) {
        this.adapterScheduled = true;
        setImmediate(this.feedSlice);
      }
    }
    if (this.strict) {
      // Hold each chunk for one turn of the event loop: if the upstream's end arrives in the same
      // read (undici parses a whole socket read at once, so the final frame — `[DONE]`,
      // `message_stop`, `done: true` — and the end usually come together), that last chunk stays
      // held until the entry is on disk; otherwise it is flushed on the next turn.
      if (this.held !== null) this.writeOut(controller, this.held);
      this.held = chunk;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushHeld);
      }
      return;
    }
    this.writeOut(controller, chunk);
  }

  /**
   * Parses up to one slice of the queued stream chunks, then yields: the next slice runs on the
   * next turn of the event loop, after its I/O. A socket read can hold hundreds of frames (a
   * 64 KiB read is ~1 ms of JSON.parse); in slices the loop stays free to forward other
   * exchanges' bytes meanwhile. What is left at the upstream's end is parsed in settle().
   */
  private readonly feedSlice = (): void => {
    this.adapterScheduled = false;
    // A queue that outgrew the backlog (an upstream faster than a slice per turn) is brought back
    // under it at once, so what waits for parsing stays bounded.
    this.parseQueued(Math.max(ADAPTER_SLICE_BYTES, this.adapterQueued - ADAPTER_BACKLOG_BYTES));
    if (this.adapterQueued > 0 && !this.settled) {
      this.adapterScheduled = true;
      setImmediate(this.feedSlice);
    }
  };

  /** Hands the adapter at most `budget` bytes of the queue (whole chunks, the last one split). */
  private parseQueued(budget: number): void {
    const q = this.adapterQueue;
    const adapter = this.adapter as ProxyAdapter;
    while (budget > 0 && this.adapterHead < q.length) {
      let c = q[this.adapterHead] as Buffer;
      if (c.length > budget) {
        // The parsers take bytes split anywhere, inside a frame or a UTF-8 sequence alike.
        q[this.adapterHead] = c.subarray(budget);
        c = c.subarray(0, budget);
      } else q[this.adapterHead++] = EMPTY;
      budget -= c.length;
      this.adapterQueued -= c.length;
      try {
        adapter.push(c);
      } catch {
        // An adapter bug must never break the relay; the entry records what the capture kept.
      }
    }
    if (this.adapterHead === q.length) {
      this.adapterQueue = [];
      this.adapterHead = 0;
    }
  }

  private writeOut(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.wrote = true;
    if (!this.res.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      controller.pause();
      this.res.once('drain', this.onDrain);
    }
  }

  private readonly flushHeld = (): void => {
    this.flushScheduled = false;
    if (this.settled || this.held === null || this.controller === null) return;
    const c = this.held;
    this.held = null;
    this.writeOut(this.controller, c);
  };

  /** The chunk held back under strict durability (null if none): written with res.end() after the append. */
  takeHeld(): Buffer | null {
    const c = this.held;
    this.held = null;
    return c;
  }

  onResponseEnd(): void {
    this.settle({ ok: true, err: null, handler: this });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settle({ ok: false, err, handler: this });
  }
}
