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
import type { BodyCapture } from '../capture/body-capture.ts';

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
export async function readRequestHead(req: IncomingMessage, capture: BodyCapture, limit: number): Promise<RequestHead> {
  const cl = req.headers['content-length'];
  const expected = cl === undefined ? -1 : Number(cl);
  if (expected === 0 || (expected > 0 && expected <= limit && req.headers['transfer-encoding'] === undefined)) {
    await null;
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
    if (bytes === expected) return { ended: true, chunks, bytes };
    return readByEvents(req, capture, limit, chunks, bytes);
  }
  return readByEvents(req, capture, limit, [], 0);
}

function readByEvents(req: IncomingMessage, capture: BodyCapture, limit: number, chunks: Buffer[], already: number): Promise<RequestHead> {
  return new Promise((resolve, reject) => {
    let bytes = already;
    if (req.complete && req.readableLength === 0 && req.readableEnded) {
      resolve({ ended: true, chunks, bytes });
      return;
    }
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
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
  });
}

/** The body to forward after readRequestHead() stopped at the limit: head chunks, then the rest. */
export async function* streamRest(req: IncomingMessage, head: Buffer[], capture: BodyCapture): AsyncGenerator<Buffer> {
  for (const c of head) yield c;
  head.length = 0;
  for await (const c of req) {
    capture.push(c as Buffer);
    yield c as Buffer;
  }
}
