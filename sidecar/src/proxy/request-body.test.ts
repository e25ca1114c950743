// readRequestHead over a real HTTP server and a raw socket client: the buffered fast path (the whole
// Content-Length body came with the headers), a body still arriving when the handler runs, an empty
// body, a chunked body, and one over the limit.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyCapture } from '../capture/body-capture.ts';
import { BodyGuard, readRequestHead, type RequestHead } from './request-body.ts';

let server: Server | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (server !== null) {
    server.closeAllConnections();
    await new Promise<void>((r) => server?.close(() => r()));
    server = null;
  }
});

/** A server whose handler reads the head, then answers; `entered` resolves when the handler runs. */
async function start(limit: number): Promise<{ port: number; entered: Promise<void>; head: Promise<{ head: RequestHead; capture: BodyCapture }> }> {
  let onEnter: () => void = () => undefined;
  const entered = new Promise<void>((r) => (onEnter = r));
  let onHead: (v: { head: RequestHead; capture: BodyCapture }) => void = () => undefined;
  let onFail: (e: unknown) => void = () => undefined;
  const head = new Promise<{ head: RequestHead; capture: BodyCapture }>((resolve, reject) => {
    onHead = resolve;
    onFail = reject;
  });
  server = createServer((req: IncomingMessage, res) => {
    onEnter();
    const capture = new BodyCapture(1 << 20);
    readRequestHead(req, capture, limit, new BodyGuard(0, 0)).then(
      (h) => {
        onHead({ head: h, capture });
        if (h.ended) res.end('ok');
        else {
          req.resume();
          req.on('end', () => res.end('ok'));
        }
      },
      (err: unknown) => {
        onFail(err);
        res.destroy();
      },
    );
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, entered, head };
}

function client(port: number): Socket {
  const s = connect(port, '127.0.0.1');
  sockets.push(s);
  return s;
}

const text = (h: RequestHead) => Buffer.concat(h.chunks).toString();

describe('readRequestHead', () => {
  it('takes a Content-Length body that came with the headers at once', async () => {
    const { port, head } = await start(1024);
    const body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
    client(port).write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const { head: h, capture } = await head;
    expect(h).toMatchObject({ ended: true, bytes: body.length });
    expect(text(h)).toBe(body);
    expect(capture.finish().buf?.toString()).toBe(body);
  });

  it('waits for the rest of a Content-Length body still arriving when the handler runs', async () => {
    const { port, entered, head } = await start(1024);
    const body = '{"model":"m","messages":[{"role":"user","content":"a body sent in two parts"}]}';
    const c = client(port);
    c.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    await entered; // the handler runs with 10 bytes of the body: the rest is sent only now
    c.write(body.slice(10));
    const { head: h, capture } = await head;
    expect(h).toMatchObject({ ended: true, bytes: body.length });
    expect(text(h)).toBe(body);
    expect(capture.finish()).toMatchObject({ bytes: body.length, truncated: false });
  });

  it('reads an empty body (Content-Length: 0) and a chunked one', async () => {
    const a = await start(1024);
    client(a.port).write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    expect((await a.head).head).toEqual({ ended: true, chunks: [], bytes: 0 });
    server?.closeAllConnections();
    await new Promise<void>((r) => server?.close(() => r()));
    const b = await start(1024);
    client(b.port).write('POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    const { head: h } = await b.head;
    expect(h.ended).toBe(true);
    expect(text(h)).toBe('hello world');
  });

  it('stops at the limit and leaves the rest to stream', async () => {
    const { port, head } = await start(16);
    const body = 'x'.repeat(64);
    client(port).write(`POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const { head: h } = await head;
    expect(h.ended).toBe(false);
    expect(h.bytes).toBeGreaterThan(16);
  });
});
