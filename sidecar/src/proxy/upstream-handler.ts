/**
 * The undici dispatch handler of one exchange: hands the upstream's response to the response
 * finisher as it arrives (which relays it to the client) and tees it into the capture and the
 * adapter feed. Uses undici's controller API directly (pause/resume/abort) — the pattern of undici
 * `docs/examples/proxy/proxy.js` — so backpressure is exact: when the client's socket is full the
 * upstream socket is paused until 'drain'. It never ends the client's response: `done` resolves
 * with an outcome value and the end of the exchange (record.ts, through the finisher) decides.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { SidecarConfig } from '../config/schema.ts';
import { BodyCapture } from '../capture/body-capture.ts';
import { forwardResponseHeaders } from './hop-by-hop.ts';
import type { AdapterFeed } from './adapter-feed.ts';
import type { ResponseFinisher } from './response-finisher.ts';

/** What the upstream did, once its side of the exchange is over. */
export interface UpstreamOutcome {
  /** The response arrived whole. */
  readonly ok: boolean;
  /** Why not (null when ok). */
  readonly err: unknown;
  /** The upstream's status; 0 when no (relayable) response head arrived. */
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly streamed: boolean;
  /** The response's Content-Encoding, when not identity. */
  readonly encoding: string | undefined;
  readonly rawChunks: number;
  readonly firstByteMs: number | null;
  /** The bounded copy of the response body. */
  readonly capture: BodyCapture;
}

const STREAM_TYPES = ['text/event-stream', 'application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/stream+json'];

export function isStreamContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const lower = ct.toLowerCase();
  return STREAM_TYPES.some((t) => lower.startsWith(t));
}

export class UpstreamHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private streamed = false;
  private encoding: string | undefined;
  private rawChunks = 0;
  private firstByteMs: number | null = null;
  private readonly capture: BodyCapture;
  readonly done: Promise<UpstreamOutcome>;
  private resolveDone!: (r: UpstreamOutcome) => void;
  private settled = false;
  private pendingAbort: Error | null = null;

  constructor(
    private readonly finisher: ResponseFinisher,
    private readonly feed: AdapterFeed,
    config: SidecarConfig,
    private readonly t0: number,
  ) {
    this.capture = new BodyCapture(config.capture.maxBodyBytes);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    finisher.flow(
      () => this.controller?.pause(),
      () => this.controller?.resume(),
    );
  }

  private settle(ok: boolean, err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.feed.drain();
    this.finisher.stop();
    this.resolveDone({
      ok,
      err: ok ? null : err,
      status: this.status,
      headers: this.headers,
      streamed: this.streamed,
      encoding: this.encoding,
      rawChunks: this.rawChunks,
      firstByteMs: this.firstByteMs,
      capture: this.capture,
    });
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
    this.settle(false, err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort !== null) controller.abort(this.pendingAbort);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: not forwarded (Node answers 100-continue itself)
    const ct = headers['content-type'];
    const streamed = isStreamContentType(typeof ct === 'string' ? ct : undefined);
    const out = forwardResponseHeaders(headers as Record<string, string | string[] | undefined>, this.finisher.holdEnd);
    delete out['x-llmaudit-id'];
    try {
      this.finisher.head(statusCode, out, streamed);
    } catch (err) {
      controller.abort(err as Error);
      return;
    }
    this.status = statusCode;
    this.headers = headers;
    this.streamed = streamed;
    const enc = headers['content-encoding'];
    this.encoding = typeof enc === 'string' && enc !== '' && enc.toLowerCase() !== 'identity' ? enc : undefined;
    if (this.feed.response(statusCode, typeof ct === 'string' ? ct : null, streamed, this.encoding !== undefined)) this.capture.digestOnly();
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.firstByteMs === null) this.firstByteMs = performance.now() - this.t0;
    this.rawChunks++;
    // Forwarded first, teed after: the client's bytes are queued (a stream's first ones sent)
    // before the copy hashes them and the adapter feed queues them.
    this.finisher.relay(chunk);
    this.capture.push(chunk);
    this.feed.chunk(chunk);
  }

  onResponseEnd(): void {
    this.settle(true, null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settle(false, err);
  }
}
