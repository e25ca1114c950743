import { describe, expect, it } from 'vitest';
import { forwardRequestHeaders, forwardResponseHeaders } from './hop-by-hop.ts';

describe('forwardRequestHeaders', () => {
  it('drops RFC 9110 §7.6.1 hop-by-hop fields, those named in Connection, Host and Expect', () => {
    const raw = ['Host', 'proxy', 'Connection', 'keep-alive, X-Private', 'X-Private', 'p', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Upgrade', 'h2c', 'Expect', '100-continue', 'Authorization', 'Bearer k', 'Content-Length', '3', 'X-Multi', 'a', 'X-Multi', 'b'];
    expect(forwardRequestHeaders(raw, 'keep-alive, X-Private', false)).toEqual(['Authorization', 'Bearer k', 'Content-Length', '3', 'X-Multi', 'a', 'X-Multi', 'b']);
    expect(forwardRequestHeaders(raw, 'keep-alive, X-Private', true)).not.toContain('Content-Length');
  });
});

describe('forwardResponseHeaders', () => {
  it('drops hop-by-hop fields and optionally Content-Length, keeps multi-valued Set-Cookie', () => {
    const out = forwardResponseHeaders({ 'transfer-encoding': 'chunked', connection: 'close, x-h', 'x-h': '1', 'content-length': '10', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' }, true);
    expect(out).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
  });
});
