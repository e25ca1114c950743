// Forwarding through the proxy: routing, pass-through, streaming frame by frame, backpressure,
// resets, aborts and the proxy's own errors in each API family's shape (docs/errors.md).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, createServer as createNetServer, Socket, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadWireFixture, startReplayUpstream } from '../support/replay-upstream.ts';
import { useCleanups } from './harness.ts';

const { upstream, stack } = useCleanups();

function get(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers }, resolve);
    req.on('error', reject);
    req.end(init.body);
  });
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const SSE = { 'content-type': 'text/event-stream' };

/** One chunk of a chunked body (RFC 9112 §7.1). */
const chunk = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

describe('routing', () => {
  it('strips the endpoint prefix and joins the rest onto the upstream base path, query kept', async () => {
    const up = await upstream({ frames: ['{"ok":true}'], headers: { 'content-type': 'application/json' } });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: `${up.url}/base/v1`, api: 'openai' }] });
    const res = await get(`${s.base}/openai/chat/completions?x=1&y=2`, { method: 'POST', body: '{"model":"m"}', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect((await readAll(res)).toString()).toBe('{"ok":true}');
    expect(up.requests[0]?.url).toBe('/base/v1/chat/completions?x=1&y=2');
    expect(up.requests[0]?.headers.host).toBe(`127.0.0.1:${up.port}`);
    const id = res.headers['x-llmaudit-id'];
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await s.sink.count(1);
    expect(s.sink.entries[0]?.id).toBe(id);
    expect(s.sink.entries[0]?.endpoint).toBe('openai');
  });

  it('sends unprefixed paths to the listener default endpoint (Ollama port takeover)', async () => {
    const up = await upstream({ frames: ['{"models":[]}'], headers: { 'content-type': 'application/json' } });
    const s = await stack({ listeners: [{ port: 0, defaultEndpoint: 'ollama' }], endpoints: [{ name: 'ollama', upstream: up.url, api: 'ollama' }] });
    const res = await get(`${s.base}/api/tags`);
    expect(res.statusCode).toBe(200);
    await readAll(res);
    expect(up.requests[0]?.url).toBe('/api/tags');
  });

  it('answers an unknown prefix with a JSON 404 carrying LLMAUDIT_E_NO_ROUTE and forwards nothing', async () => {
    const up = await upstream();
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const res = await get(`${s.base}/nope/v1/models`);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-llmaudit-id']).toBeDefined();
    const body = JSON.parse((await readAll(res)).toString()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('LLMAUDIT_E_NO_ROUTE');
    expect(body.error.message).toContain('/nope/v1/models');
    expect(up.requests).toHaveLength(0);
  });

  it('does not match a prefix inside a longer segment (/openai-x is not /openai)', async () => {
    const up = await upstream();
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const res = await get(`${s.base}/openai-x/v1/models`);
    expect(res.statusCode).toBe(404);
    await readAll(res);
  });
});

describe('pass-through', () => {
  it('forwards method, headers minus hop-by-hop, status and response headers', async () => {
    const up = await upstream({ status: 201, frames: ['created'], headers: { 'content-type': 'text/plain', 'x-upstream': 'yes', 'keep-alive': 'timeout=5', 'x-hop': 'drop-me', connection: 'x-hop' } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const res = await get(`${s.base}/llm/thing`, {
      method: 'PUT',
      body: 'hello',
      headers: { 'x-custom': 'v', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': 'nope', te: 'trailers', 'proxy-authorization': 'Basic Zm9vOmJhcg==' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['x-hop']).toBeUndefined();
    expect((await readAll(res)).toString()).toBe('created');
    const r = up.requests[0];
    expect(r?.method).toBe('PUT');
    expect(r?.headers['x-custom']).toBe('v');
    expect(r?.headers['x-secret-hop']).toBeUndefined();
    expect(r?.headers['te']).toBeUndefined();
    expect(r?.headers['proxy-authorization']).toBeUndefined();
    expect(r?.body.toString()).toBe('hello');
  });

  it.each(['batched', 'strict'])('delivers the first SSE frame before the upstream sends the rest (%s)', async (durability) => {
    const up = await upstream({ headers: SSE, frames: ['data: {"n":0}\n\n', 'data: {"n":1}\n\n', 'data: [DONE]\n\n'] });
    up.gate(1);
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], log: { durability } });
    const res = await get(`${s.base}/llm/stream`, { method: 'POST', body: '{}' });
    const first = await new Promise<Buffer>((resolve) => res.once('data', resolve));
    expect(first.toString()).toBe('data: {"n":0}\n\n');
    expect(up.responses[0]?.written).toBe(1); // the upstream is still holding frame 1
    res.pause();
    up.release(1);
    res.resume();
    expect((await readAll(res)).toString()).toBe('data: {"n":1}\n\ndata: [DONE]\n\n');
    await s.sink.count(1);
    expect(s.sink.entries[0]?.response.complete).toBe(true);
    expect(s.sink.entries[0]?.response.streamed).toBe(true);
  });

  it('sends a stream\'s headers on their own when the upstream holds its first frame', async () => {
    // Regression guard for deferring the header flush: the SDK must see the response begin while
    // the model has not produced a token yet.
    const up = await upstream({ headers: SSE, frames: ['data: {"n":0}\n\n', 'data: [DONE]\n\n'] });
    up.gate(0);
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const res = await get(`${s.base}/llm/stream`, { method: 'POST', body: '{}' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(up.responses[0]?.written).toBe(0); // headers arrived, no frame sent yet
    up.release(0);
    expect((await readAll(res)).toString()).toBe('data: {"n":0}\n\ndata: [DONE]\n\n');
  });

  it('sends a stream\'s headers and the frames that came with them in one write', async () => {
    // The upstream sends its head and first frame in one TCP write, then holds the rest: the
    // client's first read holds both (one write(2) on the proxy's side, not two).
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const raw = createNetServer((sock) => {
      sock.once('data', () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n' + chunk('data: {"n":0}\n\n'));
        void held.then(() => sock.end(chunk('data: [DONE]\n\n') + '0\r\n\r\n'));
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const s = await stack({ endpoints: [{ name: 'llm', upstream: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, api: 'generic' }] });
    const client = connect(s.ports[0] as number, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', r));
    // Count the writes the proxy makes on its side of this connection (the client shares this
    // process, so what it reads cannot tell one write from two that came back to back).
    let writes = 0;
    const mine = (sock: Socket) => sock.remotePort === client.localPort && sock.localPort === s.ports[0];
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (this: Socket, ...a: unknown[]) => unknown>;
    const { _write, _writev } = proto;
    proto._write = function (...a) {
      if (mine(this)) writes++;
      return _write.apply(this, a);
    };
    proto._writev = function (...a) {
      if (mine(this)) writes++;
      return _writev.apply(this, a);
    };
    let first: string;
    try {
      client.write('POST /llm/stream HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}');
      first = (await new Promise<Buffer>((r) => client.once('data', r))).toString();
    } finally {
      proto._write = _write;
      proto._writev = _writev;
    }
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(first).toContain('data: {"n":0}\n\n');
    expect(writes).toBe(1);
    release();
    client.destroy();
    await new Promise<void>((r) => raw.close(() => r()));
  });

  it('sends a stream\'s head and first frame before the rest of the read they came in', async () => {
    // The first bytes of a stream used to wait, corked, until every frame of their socket read had
    // been teed into the capture and the adapter: one read of 20 frames went out as one write.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const frames = Array.from({ length: 20 }, (_, i) => `data: {"n":${i}}\n\n`);
    const raw = createNetServer((sock) => {
      sock.once('data', () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n' + frames.map(chunk).join(''));
        void held.then(() => sock.end(chunk('data: [DONE]\n\n') + '0\r\n\r\n'));
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const s = await stack({ endpoints: [{ name: 'llm', upstream: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, api: 'openai' }] });
    const client = connect(s.ports[0] as number, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', r));
    // What the proxy writes on its side of this connection, write by write.
    const writes: string[] = [];
    const mine = (sock: Socket) => sock.remotePort === client.localPort && sock.localPort === s.ports[0];
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (this: Socket, ...a: unknown[]) => unknown>;
    const { _write, _writev } = proto;
    const text = (c: unknown) => (typeof c === 'string' ? c : Buffer.from(c as Uint8Array).toString('latin1'));
    proto._write = function (...a) {
      if (mine(this)) writes.push(text(a[0]));
      return _write.apply(this, a);
    };
    proto._writev = function (...a) {
      if (mine(this)) writes.push((a[0] as Array<{ chunk: unknown }>).map((x) => text(x.chunk)).join(''));
      return _writev.apply(this, a);
    };
    let got = '';
    try {
      client.write('POST /llm/v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
      while (!got.includes('"n":19')) got += (await new Promise<Buffer>((r) => client.once('data', r))).toString();
    } finally {
      proto._write = _write;
      proto._writev = _writev;
    }
    expect(writes.length).toBe(2);
    expect(writes[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(writes[0]).toContain('data: {"n":0}\n\n');
    expect(writes[0]).not.toContain('"n":1}');
    expect(writes[1]).toContain('data: {"n":1}\n\n');
    expect(writes[1]).toContain('data: {"n":19}\n\n');
    release();
    client.destroy();
    await new Promise<void>((r) => raw.close(() => r()));
  });

  it('pauses the upstream while the client does not read, then delivers every byte', async () => {
    const frame = Buffer.alloc(64 * 1024, 'a');
    const frames = Array.from({ length: 256 }, () => frame); // 16 MiB, far beyond socket buffers
    const up = await upstream({ headers: { 'content-type': 'application/octet-stream' }, frames });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const res = await get(`${s.base}/llm/big`);
    res.pause();
    // Wait until the upstream's own writes block: the proxy stopped reading from it.
    await up.sent(2);
    while ((up.responses[0]?.blockedWrites ?? 0) === 0) await new Promise<void>((r) => setImmediate(r));
    const writtenWhileBlocked = up.responses[0]?.written ?? 0;
    expect(writtenWhileBlocked).toBeLessThan(frames.length);
    res.resume();
    const body = await readAll(res);
    expect(body.length).toBe(frame.length * frames.length);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response.bytes).toBe(body.length);
    expect(e?.response.truncated).toBe(true); // 16 MiB > 1 MiB cap: digest and size only
    expect(e?.response.body).toBeNull();
  });
});

describe('failures', () => {
  it('records an upstream reset mid-stream as complete:false and cuts the client response', async () => {
    const up = await upstream({ headers: SSE, frames: ['data: {"n":0}\n\n', 'data: {"n":1}\n\n', 'data: {"n":2}\n\n'], resetAfter: 1 });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const res = await get(`${s.base}/llm/stream`, { method: 'POST', body: '{}' });
    const got: Buffer[] = [];
    const err = await new Promise<unknown>((resolve) => {
      res.on('data', (c: Buffer) => got.push(c));
      res.on('error', resolve);
      res.on('aborted', () => resolve('aborted'));
      res.on('end', () => resolve(null));
    });
    expect(err).not.toBeNull();
    expect(Buffer.concat(got).toString()).toBe('data: {"n":0}\n\n');
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response.complete).toBe(false);
    expect(e?.response.status).toBe(200);
    expect((e?.response.error as { code: string }).code).toBe('LLMAUDIT_E_UPSTREAM_RESET');
    expect(e?.response.bytes).toBe(Buffer.byteLength('data: {"n":0}\n\n'));
  });

  it('records a stream cut by a mid-stream error event as incomplete and ERROR', async () => {
    const fx = loadWireFixture('anthropic-stream-error');
    const up = await upstream(fx.script);
    const s = await stack({ endpoints: [{ name: 'anthropic', upstream: up.url, api: 'anthropic' }] });
    const res = await get(`${s.base}/anthropic/v1/messages`, { method: 'POST', body: JSON.stringify(fx.request), headers: { 'content-type': 'application/json' } });
    expect((await readAll(res)).equals(fx.body)).toBe(true);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.api).toBe('anthropic.messages');
    expect(e?.response.complete).toBe(false);
    expect(e?.response.error).toBeUndefined(); // the transport was fine; the API reported the error
    expect(e?.trace.spanType).toBe('ERROR');
  });

  it('aborts the upstream when the client goes away mid-stream and records what arrived', async () => {
    const up = await upstream({ headers: SSE, frames: ['data: {"n":0}\n\n', 'data: {"n":1}\n\n'] });
    up.gate(1);
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const res = await get(`${s.base}/llm/stream`, { method: 'POST', body: '{}' });
    await new Promise((resolve) => res.once('data', resolve));
    res.destroy();
    expect(await up.responses[0]?.done).toBe('peer-closed');
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response.complete).toBe(false);
    expect((e?.response.error as { code: string }).code).toBe('LLMAUDIT_E_CLIENT_ABORTED');
    expect(e?.response.bytes).toBe(Buffer.byteLength('data: {"n":0}\n\n'));
    expect(s.proxy.inflight()).toBe(0);
  });

  it.each([
    ['openai', '/v1/chat/completions', (b: Record<string, unknown>) => (b['error'] as { code: string }).code],
    ['anthropic', '/v1/messages', (b: Record<string, unknown>) => (b['type'] === 'error' ? ((b['error'] as { message: string }).message.match(/LLMAUDIT_E_\w+/)?.[0] ?? '') : '')],
    ['ollama', '/api/chat', (b: Record<string, unknown>) => (typeof b['error'] === 'string' ? (b['error'].match(/LLMAUDIT_E_\w+/)?.[0] ?? '') : '')],
  ])('answers an unreachable %s upstream with 502 in the family error shape and records it', async (api, path, codeOf) => {
    const up = await startReplayUpstream();
    const dead = up.url;
    await up.close();
    const s = await stack({ endpoints: [{ name: api, upstream: dead, api }] });
    const res = await get(`${s.base}/${api}${path}`, { method: 'POST', body: '{"model":"m","messages":[]}', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(502);
    const body = JSON.parse((await readAll(res)).toString()) as Record<string, unknown>;
    expect(codeOf(body)).toBe('LLMAUDIT_E_UPSTREAM_UNREACHABLE');
    await s.sink.count(1);
    expect(res.headers['x-llmaudit-id']).toBe(s.sink.entries[0]?.id);
    expect(s.sink.entries[0]?.response.status).toBe(502);
    expect(s.sink.entries[0]?.response.complete).toBe(false);
    expect(s.sink.entries[0]?.trace.spanType).toBe('ERROR');
  });

  it('answers 504 when the upstream does not send headers in time', async () => {
    const up = await upstream({ frames: [], hang: true });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], timeouts: { headersMs: 50 } });
    const res = await get(`${s.base}/openai/v1/models`);
    expect(res.statusCode).toBe(504);
    const body = JSON.parse((await readAll(res)).toString()) as { error: { code: string } };
    expect(body.error.code).toBe('LLMAUDIT_E_UPSTREAM_TIMEOUT');
    await s.sink.count(1);
    expect((s.sink.entries[0]?.response.error as { code: string }).code).toBe('LLMAUDIT_E_UPSTREAM_TIMEOUT');
  });

  it.each([
    ['idle (between chunks)', { idleMs: 50 }],
    ['total', { totalMs: 100 }],
  ])('cuts a stream that exceeds the %s timeout and records it as a timeout', async (_name, timeouts) => {
    const up = await upstream({ headers: SSE, frames: ['data: {"n":0}\n\n', 'data: {"n":1}\n\n'] });
    up.gate(1); // never released: the upstream goes silent after the first frame
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], timeouts });
    const res = await get(`${s.base}/llm/stream`, { method: 'POST', body: '{}' });
    const outcome = await new Promise<string>((resolve) => {
      res.on('data', () => {});
      res.on('end', () => resolve('end'));
      res.on('error', () => resolve('error'));
      res.on('aborted', () => resolve('aborted'));
    });
    expect(outcome).not.toBe('end');
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response.complete).toBe(false);
    expect((e?.response.error as { code: string }).code).toBe('LLMAUDIT_E_UPSTREAM_TIMEOUT');
    expect(e?.response.bytes).toBe(Buffer.byteLength('data: {"n":0}\n\n'));
  });
});
