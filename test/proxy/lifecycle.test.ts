// Lifecycle and operations: https upstreams with TLS verification and a custom CA, hot reload,
// close() draining in-flight exchanges, the one pino line per exchange and the metrics.
// TLS material: test/proxy/tls/README.md.
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseSidecarConfig } from '../../sidecar/src/config/index.ts';
import { MemorySink, startStack, useCleanups } from './harness.ts';

const TLS = join(import.meta.dirname, 'tls');
const { cleanups, upstream, stack } = useCleanups();

function send(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ res: IncomingMessage; body: string; error: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ res, body, error: null }));
      res.on('error', (error) => resolve({ res, body, error }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('https upstreams', () => {
  async function tlsUpstream(): Promise<string> {
    const server = createHttpsServer({ key: readFileSync(join(TLS, 'server.key')), cert: readFileSync(join(TLS, 'server.crt')) }, (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"tls":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('refuses an upstream certificate it cannot verify (502, nothing relayed)', async () => {
    const url = await tlsUpstream();
    const s = await stack({ endpoints: [{ name: 'llm', upstream: url, api: 'openai' }] });
    const r = await send(`${s.base}/llm/v1/models`);
    expect(r.res.statusCode).toBe(502);
    expect(r.body).toContain('LLMAUDIT_E_UPSTREAM_UNREACHABLE');
  });

  it('trusts the endpoint caFile in addition to the system roots', async () => {
    const url = await tlsUpstream();
    const s = await stack({ endpoints: [{ name: 'llm', upstream: url, api: 'openai', caFile: join(TLS, 'ca.crt') }] });
    const r = await send(`${s.base}/llm/v1/models`);
    expect(r.res.statusCode).toBe(200);
    expect(r.body).toBe('{"tls":true}');
  });

  it('fails at start with LLMAUDIT_E_CA_FILE when the caFile is missing', async () => {
    await expect(startStack({ config: { endpoints: [{ name: 'llm', upstream: 'https://127.0.0.1:1', api: 'openai', caFile: '/nonexistent/ca.pem' }] }, sink: new MemorySink() })).rejects.toMatchObject({
      code: 'LLMAUDIT_E_CA_FILE',
    });
  });
});

describe('reload', () => {
  it('routes new exchanges by the new config and keeps the listeners', async () => {
    const a = await upstream({ frames: ['"a"'], headers: { 'content-type': 'application/json' } });
    const b = await upstream({ frames: ['"b"'], headers: { 'content-type': 'application/json' } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: a.url, api: 'generic' }] });
    expect((await send(`${s.base}/llm/x`)).body).toBe('"a"');
    s.proxy.reload(parseSidecarConfig({ listeners: [{ port: 0 }], endpoints: [{ name: 'llm', upstream: b.url, api: 'generic' }, { name: 'other', upstream: a.url, api: 'generic' }] }));
    expect((await send(`${s.base}/llm/x`)).body).toBe('"b"');
    expect((await send(`${s.base}/other/x`)).body).toBe('"a"');
    expect(s.proxy.listening()).toBe(true);
  });
});

describe('close', () => {
  it('waits for an in-flight stream to finish and its entry to be written', async () => {
    const up = await upstream({ headers: { 'content-type': 'text/event-stream' }, frames: ['data: 1\n\n', 'data: 2\n\n'] });
    up.gate(1);
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const reply = send(`${s.base}/llm/s`);
    await up.sent(0);
    const closing = s.proxy.close({ drainMs: 30_000 });
    expect(s.proxy.listening()).toBe(false);
    expect(s.proxy.inflight()).toBe(1);
    up.release(1);
    await closing;
    expect((await reply).body).toBe('data: 1\n\ndata: 2\n\n');
    expect(s.sink.entries[0]?.response.complete).toBe(true);
    await s.proxy.close(); // idempotent
  });

  it('aborts what is still running at the drain deadline and records it incomplete', async () => {
    const up = await upstream({ headers: { 'content-type': 'text/event-stream' }, frames: ['data: 1\n\n', 'data: 2\n\n'] });
    up.gate(1);
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] });
    const reply = send(`${s.base}/llm/s`);
    await up.sent(0);
    await s.proxy.close({ drainMs: 10 });
    expect(s.proxy.inflight()).toBe(0);
    expect(s.sink.entries).toHaveLength(1);
    expect(s.sink.entries[0]?.response.complete).toBe(false);
    expect((s.sink.entries[0]?.response.error as { code: string }).code).toBe('LLMAUDIT_E_CLIENT_ABORTED');
    const r = await reply.catch((err: unknown) => ({ error: err, body: '' }));
    expect(r.error).not.toBeNull();
  });
});

describe('operations', () => {
  it('logs one pino line per exchange with id, endpoint, api, model, status, ms and tokens, and no content', async () => {
    const up = await upstream({
      frames: [JSON.stringify({ object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding: [0.1] }], usage: { prompt_tokens: 7, total_tokens: 7 } })],
      headers: { 'content-type': 'application/json' },
    });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const r = await send(`${s.base}/openai/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'text-embedding-3-small', input: 'TOPSECRETPROMPT' }), headers: { 'content-type': 'application/json', authorization: 'Bearer sk-LOGSECRET0123456789abcdef' } });
    await s.sink.count(1);
    const lines = s.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'exchange');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ id: r.res.headers['x-llmaudit-id'], endpoint: 'openai', api: 'openai.embeddings', model: 'text-embedding-3-small', status: 200, tokens: { input: 7 }, seq: 0 });
    expect(typeof lines[0]?.['ms']).toBe('number');
    const all = s.logLines.join('');
    expect(all).not.toContain('TOPSECRETPROMPT');
    expect(all).not.toContain('LOGSECRET');
    const metrics = await s.registry.metrics();
    expect(metrics).toContain('llmaudit_exchanges_total{endpoint="openai",api="openai.embeddings",status="200"} 1');
    expect(metrics).toContain('llmaudit_tokens_total{endpoint="openai",model="text-embedding-3-small",direction="input"} 7');
    expect(metrics).toMatch(/llmaudit_exchange_duration_seconds_count\{endpoint="openai",api="openai.embeddings"\} 1/);
    expect(metrics).toMatch(/llmaudit_log_append_duration_seconds_count 1/);
    expect(metrics).toContain('llmaudit_captured_bytes_total{direction="request"}');
  });

  it('reports a port that cannot be bound as LLMAUDIT_E_LISTEN', async () => {
    const s = await stack({ endpoints: [{ name: 'llm', upstream: 'http://127.0.0.1:1', api: 'generic' }] });
    await expect(startStack({ config: { listeners: [{ port: s.ports[0] }], endpoints: [{ name: 'llm', upstream: 'http://127.0.0.1:1', api: 'generic' }] }, sink: new MemorySink() })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LISTEN' });
  });
});
