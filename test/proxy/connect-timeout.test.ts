// The connect timeout (`timeouts.connectMs`; headers, idle and total are the other timeouts), through
// the real undici Pool the proxy builds (defaultDispatcherFactory). Loopback only: the upstream is
// a TCP server that accepts and never says a word, so an https upstream's TLS handshake never
// completes. undici's connect timeout runs until `secureConnect` for https (undici
// lib/core/connect.js), so this is the connect timeout firing, not the headers timeout, which is
// set far longer here and only starts once the request is written.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MemorySink, startStack, useCleanups } from './harness.ts';

const { cleanups } = useCleanups();

async function silentServer(): Promise<{ url: string; accepted: () => number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted: () => accepted };
}

describe('connect timeout', () => {
  it('answers 504 when the upstream connection (TCP + TLS) is not up within timeouts.connectMs, and records it', async () => {
    const up = await silentServer();
    const sink = new MemorySink();
    const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], timeouts: { connectMs: 150, headersMs: 60_000 } }, sink });
    cleanups.push(() => s.close());
    const t0 = performance.now();
    const res = await fetch(`${s.base}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","messages":[]}' });
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(504);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('LLMAUDIT_E_UPSTREAM_TIMEOUT');
    expect(body.error.message).toMatch(/UND_ERR_CONNECT_TIMEOUT/);
    expect(up.accepted()).toBeGreaterThanOrEqual(1); // the TCP connection was made; the handshake never finished
    // connectMs decided it: neither the 60 s headers timeout nor undici's 10 s default connect timeout.
    expect(elapsed).toBeLessThan(5_000);
    await sink.count(1);
    const e = sink.entries[0];
    expect(res.headers.get('x-llmaudit-id')).toBe(e?.id);
    expect(e?.response).toMatchObject({ status: 504, complete: false, error: { code: 'LLMAUDIT_E_UPSTREAM_TIMEOUT' } });
    expect((e?.response.error as { message: string }).message).toMatch(/UND_ERR_CONNECT_TIMEOUT/);
    expect(await s.registry.getSingleMetricAsString('llmaudit_failures_total')).toMatch(/reason="upstream_timeout"\} 1/);
  });
});
