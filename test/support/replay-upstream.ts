/**
 * A fake LLM provider for proxy tests: a real HTTP server on port 0 that replays a scripted
 * response frame by frame (docs/style-guide.md "Tests": real servers, recorded wire frames, no sleeps).
 *
 * Pacing is controlled by the test, not by timers: `gate(i)` holds frame i until released, and
 * `sent(i)` resolves once frame i has been written, so a test can await "first frame sent" and
 * hold the rest. Modes cut the socket mid-stream, gzip the body, or answer an error.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ReplayScript {
  status?: number;
  headers?: Record<string, string>;
  frames: ReadonlyArray<string | Buffer>;
  /** Destroy the socket after this many frames were written (upstream reset mid-stream). */
  resetAfter?: number;
  /** Send the whole body gzip-compressed (Content-Encoding: gzip) in one write. */
  gzip?: boolean;
  /** Never answer (for header timeouts). */
  hang?: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

export interface ResponseTrack {
  /** Frames written so far. */
  written: number;
  /** Writes that returned false (the peer was not reading). */
  blockedWrites: number;
  /** Resolves when the response finished (ended, reset or the peer went away). */
  done: Promise<'ended' | 'reset' | 'peer-closed'>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export interface ReplayUpstream {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  readonly responses: ResponseTrack[];
  /** The script for the next requests: a fixed one, or chosen per request. */
  script(s: ReplayScript | ((req: RecordedRequest) => ReplayScript)): void;
  /** Hold frame `index` (of every response) until `release(index)`. */
  gate(index: number): void;
  release(index: number): void;
  /** Resolves when frame `index` of the next/current response has been written. */
  sent(index: number): Promise<void>;
  /** Resolves when `n` requests have arrived. */
  received(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReplayUpstream(initial?: ReplayScript): Promise<ReplayUpstream> {
  let chooser: (req: RecordedRequest) => ReplayScript = () => initial ?? { frames: ['{}'], headers: { 'content-type': 'application/json' } };
  const gates = new Map<number, Deferred<void>>();
  const sentWaiters = new Map<number, Deferred<void>>();
  const requests: RecordedRequest[] = [];
  const responses: ResponseTrack[] = [];
  const countWaiters: Array<{ n: number; d: Deferred<void> }> = [];
  const sockets = new Set<Socket>();

  const markSent = (i: number) => {
    let d = sentWaiters.get(i);
    if (d === undefined) {
      d = deferred();
      sentWaiters.set(i, d);
    }
    d.resolve();
  };

  const write = (res: ServerResponse, chunk: string | Buffer, track: ResponseTrack): Promise<void> => {
    if (res.write(chunk)) return Promise.resolve();
    track.blockedWrites++;
    return new Promise((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  };

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rec: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
    requests.push(rec);
    for (const w of countWaiters) if (requests.length >= w.n) w.d.resolve();
    const s = chooser(rec);
    const end = deferred<'ended' | 'reset' | 'peer-closed'>();
    const track: ResponseTrack = { written: 0, blockedWrites: 0, done: end.promise };
    responses.push(track);
    res.on('close', () => end.resolve(res.writableFinished ? 'ended' : 'peer-closed'));
    if (s.hang === true) return;
    const headers = { ...(s.headers ?? {}) };
    if (s.gzip === true) {
      const body = gzipSync(Buffer.concat(s.frames.map((f) => (typeof f === 'string' ? Buffer.from(f) : f))));
      res.writeHead(s.status ?? 200, { ...headers, 'content-encoding': 'gzip', 'content-length': String(body.length) });
      res.end(body);
      return;
    }
    res.writeHead(s.status ?? 200, headers);
    res.flushHeaders();
    for (let i = 0; i < s.frames.length; i++) {
      const g = gates.get(i);
      if (g !== undefined) await g.promise;
      if (res.destroyed) return;
      const frame = s.frames[i] as string | Buffer;
      if (i === s.frames.length - 1 && s.resetAfter === undefined) {
        // The last frame and the end of the body in one write, as servers usually send them.
        res.end(frame);
        track.written++;
        markSent(i);
        return;
      }
      await write(res, frame, track);
      track.written++;
      markSent(i);
      if (s.resetAfter !== undefined && track.written >= s.resetAfter) {
        // Let the written frames leave, then cut the TCP connection without a terminating chunk.
        await new Promise<void>((r) => setImmediate(r));
        end.resolve('reset');
        res.socket?.resetAndDestroy();
        return;
      }
    }
    res.end();
  };

  const server: Server = createServer((req, res) => {
    serve(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    responses,
    script(s) {
      chooser = typeof s === 'function' ? s : () => s;
    },
    gate(i) {
      if (!gates.has(i)) gates.set(i, deferred());
    },
    release(i) {
      gates.get(i)?.resolve();
      gates.delete(i);
    },
    sent(i) {
      let d = sentWaiters.get(i);
      if (d === undefined) {
        d = deferred();
        sentWaiters.set(i, d);
      }
      return d.promise;
    },
    received(n) {
      if (requests.length >= n) return Promise.resolve();
      const d = deferred();
      countWaiters.push({ n, d });
      return d.promise;
    },
    async close() {
      for (const g of gates.values()) g.resolve();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- wire fixtures (test/fixtures/wire, see its README) ----


export interface WireFixture {
  name: string;
  api: string;
  provider: string;
  method: string;
  path: string;
  status: number;
  contentType: string;
  request: unknown;
  /** The response bytes exactly as recorded. */
  body: Buffer;
  /** The body cut into frames as the provider sends them (SSE events, NDJSON lines). */
  frames: Buffer[];
  script: ReplayScript;
}

const WIRE_DIR = join(import.meta.dirname, '..', 'fixtures', 'wire');

/** Splits a recorded body after each SSE event ("\n\n" / "\r\n\r\n") or NDJSON line. */
export function splitFrames(body: Buffer, contentType: string): Buffer[] {
  const sep = contentType.includes('event-stream') ? '\n\n' : contentType.includes('ndjson') ? '\n' : null;
  if (sep === null) return [body];
  const frames: Buffer[] = [];
  let start = 0;
  for (;;) {
    const i = body.indexOf(sep, start);
    if (i === -1) break;
    frames.push(body.subarray(start, i + sep.length));
    start = i + sep.length;
  }
  if (start < body.length) frames.push(body.subarray(start));
  return frames;
}

export function loadWireFixture(name: string): WireFixture {
  const manifest = JSON.parse(readFileSync(join(WIRE_DIR, 'manifest.json'), 'utf8')) as Array<Record<string, unknown>>;
  const m = manifest.find((e) => e['name'] === name);
  if (m === undefined) throw new Error(`no wire fixture ${name}`);
  const body = readFileSync(join(WIRE_DIR, m['response'] as string));
  const contentType = m['contentType'] as string;
  const frames = splitFrames(body, contentType);
  return {
    name,
    api: m['api'] as string,
    provider: m['provider'] as string,
    method: m['method'] as string,
    path: m['path'] as string,
    status: m['status'] as number,
    contentType,
    request: JSON.parse(readFileSync(join(WIRE_DIR, m['request'] as string), 'utf8')) as unknown,
    body,
    frames,
    script: { status: m['status'] as number, headers: { 'content-type': contentType }, frames },
  };
}
