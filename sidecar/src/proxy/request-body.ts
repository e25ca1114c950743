/**
 * Reads the start of a request body before forwarding. The tracer needs the request (model,
 * messages) to pick the trace id and its `traceparent` must be on the upstream request, so the
 * body is read up to a parse limit first (the larger of the capture cap and the decoded-size cap:
 * long-context prompts beyond the storage cap are still understood, only not stored). LLM requests are almost always smaller than that:
 * they go upstream as one buffer with an exact Content-Length. A larger body goes upstream as a
 * stream: the part read so far, then the rest piped from the client as it arrives, every chunk
 * hashed on the way (memory stays bounded by the cap).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { BodyCapture } from '../capture/body-capture.ts';
import { proxyError } from './errors.ts';

/**
 * Bounds the time a request body takes (`timeouts.requestBodyMs` in all, `timeouts.requestIdleMs`
 * between two chunks) and lets a parse error of its framing, seen by the HTTP server, interrupt
 * the read. A slow-body client is answered 408 instead of holding the exchange forever.
 */
export class BodyGuard {
  failed: Error | null = null;
  private onFail: ((err: Error) => void) | null = null;
  private total: NodeJS.Timeout | null = null;
  private idle: NodeJS.Timeout | null = null;

  constructor(
    private readonly totalMs: number,
    private readonly idleMs: number,
  ) {
    if (totalMs > 0) {
      this.total = setTimeout(() => this.fail(proxyError('LLMAUDIT_E_REQUEST_TIMEOUT', `the body took longer than ${totalMs} ms`)), totalMs);
      this.total.unref();
    }
    this.activity();
  }

  /** A chunk arrived: the idle clock starts over. */
  activity(): void {
    if (this.idleMs <= 0 || this.failed !== null) return;
    if (this.idle === null) {
      this.idle = setTimeout(() => this.fail(proxyError('LLMAUDIT_E_REQUEST_TIMEOUT', `no body byte for ${this.idleMs} ms`)), this.idleMs);
      this.idle.unref();
    } else this.idle.refresh();
  }

  /** Who is told when the body fails (the reader, then the stream forwarding it). */
  listen(f: ((err: Error) => void) | null): void {
    this.onFail = f;
    if (f !== null && this.failed !== null) f(this.failed);
  }

  fail(err: Error): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.stop();
    this.onFail?.(err);
  }

  /** The body is whole (or the exchange over): no more clocks. */
  stop(): void {
    if (this.total !== null) clearTimeout(this.total);
    if (this.idle !== null) clearTimeout(this.idle);
    this.total = null;
    this.idle = null;
  }
}

/** The request whose body a connection is reading, and its guard (create-proxy.ts routes the server's parse errors here). */
export const readingBody = new WeakMap<Socket, { req: IncomingMessage; guard: BodyGuard }>();

export interface RequestHead {
  /** The whole body was read (ended) or only the first part (over the limit). */
  ended: boolean;
  /** Chunks read so far, in order (to forward). */
  chunks: Buffer[];
  bytes: number;
}

/**
 * The request handler runs while Node's parser is still inside the socket read that carried the
 * headers; the body of a small request usually came in that same read and sits in the request's
 * buffer once the parser returns. So: one microtask, then take what is buffered; when a
 * Content-Length says that is all of it, the body is whole without waiting for the stream's
 * resume/'data'/'end' round of process.nextTick hops (a few microseconds before every forward).
 * Anything else (chunked bodies, bodies still arriving, over the limit) goes the event way below.
 */
export async function readRequestHead(req: IncomingMessage, capture: BodyCapture, limit: number, guard: BodyGuard): Promise<RequestHead> {
  const cl = req.headers['content-length'];
  const expected = cl === undefined ? -1 : Number(cl);
  if (expected === 0 || (expected > 0 && expected <= limit && req.headers['transfer-encoding'] === undefined)) {
    await Promise.resolve();
    const chunks: Buffer[] = [];
    let bytes = 0;
    if (req.readableLength > 0) {
      const c = req.read() as Buffer | null;
      if (c !== null) {
        chunks.push(c);
        bytes = c.length;
        capture.push(c);
      }
    }
    if (bytes === expected && guard.failed === null) return { ended: true, chunks, bytes };
    return readByEvents(req, capture, limit, chunks, bytes, guard);
  }
  return readByEvents(req, capture, limit, [], 0, guard);
}

function readByEvents(req: IncomingMessage, capture: BodyCapture, limit: number, chunks: Buffer[], already: number, guard: BodyGuard): Promise<RequestHead> {
  return new Promise((resolve, reject) => {
    let bytes = already;
    if (guard.failed !== null) {
      reject(guard.failed);
      return;
    }
    if (req.complete && req.readableLength === 0 && req.readableEnded) {
      resolve({ ended: true, chunks, bytes });
      return;
    }
    const cleanup = () => {
      guard.listen(null);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      guard.activity();
      chunks.push(c);
      bytes += c.length;
      capture.push(c);
      if (bytes > limit) {
        req.pause();
        cleanup();
        resolve({ ended: false, chunks, bytes });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ ended: true, chunks, bytes });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(Object.assign(new Error('client closed the request before its body ended'), { code: 'ECONNRESET' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    guard.listen((err) => {
      cleanup();
      req.pause();
      reject(err);
    });
  });
}

/**
 * The body to forward after readRequestHead() stopped at the limit: head chunks, then the rest as
 * it arrives, hashed on the way, with backpressure from the upstream. It fails (and with it the
 * upstream request) as soon as the guard does — a body that stalls or whose framing breaks — or
 * the client leaves before the body ended.
 */
export function streamRest(req: IncomingMessage, head: Buffer[], capture: BodyCapture, guard: BodyGuard): Readable {
  const onData = (c: Buffer) => {
    guard.activity();
    capture.push(c);
    if (!out.push(c)) req.pause();
  };
  const onEnd = () => {
    guard.stop();
    out.push(null);
  };
  const onClose = () => {
    if (!req.complete) out.destroy(guard.failed ?? proxyError('LLMAUDIT_E_CLIENT_ABORTED', 'the client closed the request before its body ended'));
  };
  const detach = () => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    req.off('error', onClose);
    guard.listen(null);
  };
  const out = new Readable({
    read() {
      req.resume();
    },
    destroy(err, cb) {
      detach();
      req.pause();
      cb(err);
    },
  });
  for (const c of head) out.push(c);
  head.length = 0;
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
  req.on('error', onClose);
  guard.listen((err) => out.destroy(err));
  if (req.readableEnded) onEnd();
  return out;
}
