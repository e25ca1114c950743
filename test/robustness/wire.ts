/**
 * Raw HTTP/1.1 on both sides of the proxy, for inputs no well-behaved client or server library
 * would produce: a client that writes exact bytes (and can half-close, pause between parts, or
 * pipeline), and an upstream that reads a request and then does whatever its script says with
 * the socket (answer, garbage, reset at any phase).
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawResult {
  /** Complete responses, in order. */
  responses: RawResponse[];
  /** Bytes after the last complete response (a response cut short, or garbage). */
  rest: Buffer;
  /** The proxy closed the connection. */
  closed: boolean;
}

function parseOne(buf: Buffer, from: number, head: boolean): { res: RawResponse; end: number } | null {
  const he = buf.indexOf('\r\n\r\n', from);
  if (he === -1) return null;
  const lines = buf.subarray(from, he).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (m === null) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const status = Number(m[1]);
  let p = he + 4;
  if (head || status === 204 || status === 304 || status < 200) return { res: { status, headers, body: Buffer.alloc(0) }, end: p };
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked') === true) {
    const parts: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf('\r\n', p);
      if (le === -1) return null;
      const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
      if (!Number.isFinite(size)) return null;
      if (size === 0) {
        const te = buf.indexOf('\r\n\r\n', le);
        if (te === -1 && buf.indexOf('\r\n', le + 2) !== le + 2) return null;
        return { res: { status, headers, body: Buffer.concat(parts) }, end: te === -1 ? le + 4 : te + 4 };
      }
      if (buf.length < le + 2 + size + 2) return null;
      parts.push(buf.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (buf.length < p + n) return null;
    return { res: { status, headers, body: buf.subarray(p, p + n) }, end: p + n };
  }
  return null; // read-until-close bodies are completed by the caller on close
}

export function parseResponses(buf: Buffer, closed: boolean, head = false): RawResult {
  const responses: RawResponse[] = [];
  let p = 0;
  for (;;) {
    const r = parseOne(buf, p, head);
    if (r === null) break;
    responses.push(r.res);
    p = r.end;
  }
  return { responses, rest: buf.subarray(p), closed };
}

export interface RawSendOptions {
  /** Half-close (FIN) after the last part. */
  halfClose?: boolean;
  /** Stop waiting once this many complete responses arrived (default: wait for the close). */
  responses?: number;
  /** Pause between parts, ms (a slow client). */
  gapMs?: number;
  /** Give up (and fail) after this long. */
  timeoutMs?: number;
  /** The request is HEAD: responses have no body. */
  head?: boolean;
  /** Reset the connection (RST) `gapMs` after the last part: a client that goes away. */
  reset?: boolean;
}

/** Writes `parts` to the proxy and collects what comes back until it closes (or `responses` arrived). */
export function rawSend(port: number, parts: ReadonlyArray<string | Buffer>, opts: RawSendOptions = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s: Socket = connect(port, '127.0.0.1');
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(parseResponses(Buffer.concat(chunks), closed, opts.head === true));
    };
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      s.destroy();
      const got = parseResponses(Buffer.concat(chunks), false, opts.head === true);
      reject(new Error(`no close after ${opts.timeoutMs ?? 10_000} ms; got ${got.responses.map((r) => r.status).join(',') || 'nothing'}`));
    }, opts.timeoutMs ?? 10_000);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (opts.responses !== undefined && parseResponses(Buffer.concat(chunks), false, opts.head === true).responses.length >= opts.responses) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', () => {
      void (async () => {
        for (let i = 0; i < parts.length; i++) {
          if (done || s.destroyed) return;
          if (i > 0 && opts.gapMs !== undefined) await new Promise((r) => setTimeout(r, opts.gapMs));
          if (done || s.destroyed) return;
          s.write(parts[i] as string | Buffer);
        }
        if (opts.halfClose === true && !s.destroyed) s.end();
        if (opts.reset === true) {
          await new Promise((r) => setTimeout(r, opts.gapMs ?? 100));
          s.resetAndDestroy();
          finish(true);
        }
      })();
    });
  });
}

/** A request as the raw upstream read it. */
export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** What the raw upstream does with one request: write to the socket, end or reset it. */
export type UpstreamScript = (socket: Socket, req: UpstreamRequest) => unknown;

export interface RawUpstream {
  url: string;
  /** Requests read, in order. */
  requests: UpstreamRequest[];
  /** Picks the script of a request (default: `fallback`). */
  pick: (req: UpstreamRequest) => UpstreamScript;
  close(): Promise<void>;
}

function readRequest(socket: Socket, onRequest: (req: UpstreamRequest) => void): void {
  let buf = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    const he = buf.indexOf('\r\n\r\n');
    if (he === -1) return;
    const lines = buf.subarray(0, he).toString('latin1').split('\r\n');
    const [method = '', path = ''] = (lines[0] ?? '').split(' ');
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const rest = buf.subarray(he + 4);
    let body: Buffer | null = null;
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (rest.length >= n) body = rest.subarray(0, n);
    } else if (headers['transfer-encoding'] !== undefined) {
      if (rest.indexOf('0\r\n\r\n') !== -1 && (rest.indexOf('0\r\n\r\n') === 0 || rest.indexOf('\r\n0\r\n\r\n') !== -1)) body = dechunk(rest);
    } else body = Buffer.alloc(0);
    if (body === null) return;
    socket.off('data', onData);
    onRequest({ method, path, headers, body });
  };
  socket.on('data', onData);
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let p = 0;
  for (;;) {
    const le = b.indexOf('\r\n', p);
    const size = parseInt(b.subarray(p, le).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(out);
    out.push(b.subarray(le + 2, le + 2 + size));
    p = le + 2 + size + 2;
  }
}

/** A raw upstream on port 0: every connection serves one request with the picked script. */
export async function startRawUpstream(fallback: UpstreamScript): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const up: RawUpstream = {
    url: '',
    requests: [],
    pick: () => fallback,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    readRequest(socket, (req) => {
      up.requests.push(req);
      void Promise.resolve(up.pick(req)(socket, req)).catch(() => socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return up;
}

/** A complete HTTP/1.1 response with a Content-Length (the connection closes after it). */
export function httpResponse(status: number, headers: Record<string, string>, body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head = [`HTTP/1.1 ${status} X`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${b.length}`, 'connection: close', '', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

/** A chunked HTTP/1.1 response head (the body's chunks follow with `chunk()`). */
export function chunkedHead(status: number, headers: Record<string, string>): string {
  return [`HTTP/1.1 ${status} X`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'transfer-encoding: chunked', 'connection: close', '', ''].join('\r\n');
}

export function chunk(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
}

export const LAST_CHUNK = '0\r\n\r\n';

/** Resolves after `ms` (an upstream or client that is slow on purpose). */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
