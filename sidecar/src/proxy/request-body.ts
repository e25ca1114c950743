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

export function readRequestHead(req: IncomingMessage, capture: BodyCapture, limit: number): Promise<RequestHead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
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
