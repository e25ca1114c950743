// Hostile and broken input: invalid JSON, oversize bodies, gzip bombs, invalid UTF-8, header
// injection and request smuggling attempts (docs/architecture.md "Proxy and capture": malformed requests).
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadWireFixture } from '../support/replay-upstream.ts';
import { useCleanups } from './harness.ts';

const { cleanups, upstream, stack } = useCleanups();

function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'POST', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Writes raw bytes to the proxy and returns everything it answers until it closes or goes quiet. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (c) => {
      got.push(c);
      // A complete answer to a request we sent with Connection: close ends the socket anyway.
    });
    sock.on('end', () => resolve(Buffer.concat(got).toString('latin1')));
    sock.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
    sock.on('error', reject);
    sock.write(bytes);
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('bodies', () => {
  it('forwards an invalid JSON body byte for byte and records it as opaque text', async () => {
    const up = await upstream({ status: 400, frames: ['{"error":{"message":"bad json"}}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const body = '{"model":"gpt-4o","messages":[';
    const { res } = await send(`${s.base}/openai/v1/chat/completions`, { body, headers: JSON_HEADERS });
    expect(res.statusCode).toBe(400);
    expect(up.requests[0]?.body.toString()).toBe(body);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.api).toBe('opaque');
    expect(e?.request.body).toBe(body);
    expect(e?.request.bytes).toBe(body.length);
  });

  it('streams an oversize request body upstream whole and stores only its digest and size', async () => {
    const up = await upstream({ frames: ['{}'], headers: JSON_HEADERS });
    // Beyond both caps the body is not even parsed: it streams upstream as it arrives.
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { maxBodyBytes: 1024, maxDecodedBytes: 4096 } });
    const big = Buffer.from(JSON.stringify({ model: 'm', input: 'x'.repeat(300_000) }));
    const { res } = await send(`${s.base}/openai/v1/embeddings`, { body: big, headers: JSON_HEADERS });
    expect(res.statusCode).toBe(200);
    expect(up.requests[0]?.body.equals(big)).toBe(true);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.request).toMatchObject({ body: null, bytes: big.length, truncated: true });
    expect(e?.request.bodySha256).toBe((await import('node:crypto')).createHash('sha256').update(big).digest('hex'));
  });

  it('still understands a request above the storage cap but under the parse cap (usage recorded, body not stored)', async () => {
    const up = await upstream({ frames: ['{"object":"list","data":[],"model":"m","usage":{"prompt_tokens":77,"total_tokens":77}}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { maxBodyBytes: 1024 } });
    const big = JSON.stringify({ model: 'text-embedding-3-small', input: 'x'.repeat(50_000) });
    await send(`${s.base}/openai/v1/embeddings`, { body: big, headers: JSON_HEADERS });
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.api).toBe('openai.embeddings');
    expect(e?.model).toBe('m');
    expect(e?.usage.inputTokens).toBe(77);
    expect(e?.request).toMatchObject({ body: null, truncated: true, bytes: big.length });
  });

  it('relays a gzip bomb untouched to the client but stops decoding the stored copy at the cap', async () => {
    const zeros = Buffer.alloc(32 * 1024 * 1024);
    const up = await upstream({ frames: [zeros], headers: JSON_HEADERS, gzip: true });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], capture: { maxDecodedBytes: 1024 * 1024 } });
    const { res, body } = await send(`${s.base}/llm/x`, { method: 'GET', headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(body.equals(gzipSync(zeros))).toBe(true);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response.body).toBeNull();
    expect(e?.response.encoding).toBe('gzip');
    expect(e?.response.bytes).toBe(body.length);
    const metrics = await s.registry.getSingleMetricAsString('llmaudit_capture_truncations_total');
    expect(metrics).toContain('reason="decoded_cap"');
  });

  it('stores a gzip JSON response decoded', async () => {
    const up = await upstream({ frames: ['{"object":"list","data":[]}'], headers: JSON_HEADERS, gzip: true });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    await send(`${s.base}/llm/x`, { method: 'GET' });
    await s.sink.count(1);
    expect(s.sink.entries[0]?.response.body).toEqual({ object: 'list', data: [] });
  });

  it('reconstructs a gzip-compressed SSE stream from the decoded copy', async () => {
    const fx = loadWireFixture('openai-chat-stream-parallel-tools');
    const up = await upstream({ ...fx.script, gzip: true });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const { res, body } = await send(`${s.base}/openai/v1/chat/completions`, { body: JSON.stringify(fx.request), headers: { ...JSON_HEADERS, 'accept-encoding': 'gzip' } });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(body).equals(fx.body)).toBe(true);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.response.streamed).toBe(true);
    expect(e?.usage).toMatchObject({ inputTokens: 112, outputTokens: 58 });
    expect(e?.trace.toolCalls).toHaveLength(2);
    expect(e?.response.complete).toBe(true);
  });

  it('forwards a gzip request body as sent and stores it decoded', async () => {
    const up = await upstream({ frames: ['{"object":"list","data":[],"model":"m","usage":{"prompt_tokens":3,"total_tokens":3}}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const json = { model: 'text-embedding-3-small', input: 'hello' };
    const gz = gzipSync(Buffer.from(JSON.stringify(json)));
    await send(`${s.base}/openai/v1/embeddings`, { body: gz, headers: { ...JSON_HEADERS, 'content-encoding': 'gzip' } });
    expect(up.requests[0]?.body.equals(gz)).toBe(true);
    expect(up.requests[0]?.headers['content-encoding']).toBe('gzip');
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.api).toBe('openai.embeddings');
    expect(e?.request.body).toEqual(json);
    expect(e?.request.bytes).toBe(gz.length);
    expect(e?.usage.inputTokens).toBe(3);
  });

  it('forwards invalid UTF-8 unchanged and stores it as base64', async () => {
    const up = await upstream({ frames: [Buffer.from([0xc3, 0x28, 0xff])], headers: { 'content-type': 'text/plain' } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const bad = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
    const { body } = await send(`${s.base}/llm/x`, { body: bad, headers: JSON_HEADERS });
    expect(up.requests[0]?.body.equals(bad)).toBe(true);
    expect(body.equals(Buffer.from([0xc3, 0x28, 0xff]))).toBe(true);
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.request).toMatchObject({ body: bad.toString('base64'), encoding: 'base64' });
    expect(e?.response).toMatchObject({ body: Buffer.from([0xc3, 0x28, 0xff]).toString('base64'), encoding: 'base64' });
  });
});

describe('header injection and smuggling', () => {
  it.each([
    ['a bare CR inside a header value', 'GET /llm/x HTTP/1.1\r\nHost: a\r\nX-A: one\rInjected: two\r\n\r\n'],
    ['a bare LF inside a header value', 'GET /llm/x HTTP/1.1\r\nHost: a\r\nX-A: one\nInjected: two\r\n\r\n'],
    ['Transfer-Encoding together with Content-Length', 'POST /llm/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['an obs-folded header line', 'GET /llm/x HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n'],
    ['a header name with a space', 'GET /llm/x HTTP/1.1\r\nHost: a\r\nX A: one\r\n\r\n'],
    ['two different Content-Length values', 'POST /llm/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a Transfer-Encoding whose last coding is not chunked', 'POST /llm/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
    ['a NUL byte in a header value', 'GET /llm/x HTTP/1.1\r\nHost: a\r\nX-A: one\u0000two\r\n\r\n'],
  ])('refuses %s with 400 and forwards nothing', async (_name, bytes) => {
    const up = await upstream();
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const answer = await raw(s.ports[0] as number, bytes);
    expect(answer.startsWith('HTTP/1.1 400')).toBe(true);
    expect(answer).toContain('"code":"LLMAUDIT_E_BAD_REQUEST"');
    expect(up.requests).toHaveLength(0);
  });

  it('refuses dot segments that would step out of the upstream base path', async () => {
    const up = await upstream();
    const s = await stack({ endpoints: [{ name: 'openai', upstream: `${up.url}/v1`, api: 'openai' }] });
    const answer = await raw(s.ports[0] as number, 'GET /openai/%2e%2e/admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 400')).toBe(true);
    expect(answer).toContain('LLMAUDIT_E_BAD_REQUEST');
    expect(up.requests).toHaveLength(0);
  });

  it('re-frames a chunked request so a smuggled second request cannot reach the upstream inside the first', async () => {
    const up = await upstream({ frames: ['ok'], headers: { 'content-type': 'text/plain' } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const smuggle = 'POST /llm/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const answer = await raw(s.ports[0] as number, smuggle);
    expect(answer).toContain('HTTP/1.1 200');
    expect(answer).toContain('HTTP/1.1 404'); // the trailing request is parsed as its own request and has no route
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]?.body.toString()).toBe('abc');
    expect(up.requests[0]?.headers['content-length']).toBe('3');
    expect(up.requests[0]?.headers['transfer-encoding']).toBeUndefined();
  });

  it('answers 502 when the upstream sends a header value with a bare CR', async () => {
    const evil = createNetServer((sock) => {
      sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nX-Evil: a\rSet-Cookie: pwn=1\r\nContent-Length: 2\r\n\r\nok'));
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => evil.close(() => r())));
    const s = await stack({ endpoints: [{ name: 'openai', upstream: `http://127.0.0.1:${(evil.address() as AddressInfo).port}`, api: 'openai' }] });
    const { res } = await send(`${s.base}/openai/v1/models`, { method: 'GET' });
    expect(res.statusCode).toBe(502);
    expect(res.headers['set-cookie']).toBeUndefined();
    await s.sink.count(1);
    expect(s.sink.entries[0]?.response.status).toBe(502);
  });
});
