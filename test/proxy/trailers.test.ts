// HTTP trailers (RFC 9110 §6.5) are not relayed — a documented decision (docs/architecture.md
// "Proxy and capture"): no LLM API we adapt sends them. A response that has them must still be
// relayed whole and recorded complete.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MemorySink, startStack, useCleanups } from './harness.ts';

const { cleanups } = useCleanups();

describe('trailers', () => {
  it('relays a chunked response with trailers without them, body whole, entry complete', async () => {
    const up = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', trailer: 'x-checksum' });
      res.write('{"a":');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('1}');
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => up.close(() => r())));
    const sink = new MemorySink();
    const s = await startStack({ config: { endpoints: [{ name: 'llm', upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, api: 'generic' }] }, sink });
    cleanups.push(() => s.close());
    const got = await new Promise<{ body: string; trailers: Record<string, string | undefined>; trailerHeader: unknown }>((resolve, reject) => {
      const req = request(`${s.base}/llm/x`, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ body, trailers: res.trailers, trailerHeader: res.headers.trailer }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(got.body).toBe('{"a":1}');
    expect(got.trailers).toEqual({});
    expect(got.trailerHeader).toBeUndefined(); // announced fields that never come would mislead a client
    await sink.count(1);
    expect(sink.entries[0]?.response).toMatchObject({ status: 200, complete: true, body: { a: 1 } });
  });
});
