// Request headers as the entry stores them, through the real proxy: every header the upstream got
// is in the entry (a "__proto__" header was forwarded but missing from it), and credentials are
// redacted by name (x-goog-api-key and ocp-apim-subscription-key reached the log verbatim).
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { useCleanups } from './harness.ts';

const { upstream, stack } = useCleanups();
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('request headers in the entry', () => {
  it('a header named __proto__ reaches the upstream and the entry', async () => {
    // The stored header object took "__proto__" for its prototype: the header vanished from the entry.
    const up = await upstream({ frames: ['{}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const res = await request(`${s.base}/openai/v1/embeddings`, { method: 'POST', body: '{"model":"m","input":"x"}', headers: ['content-type', 'application/json', '__proto__', 'proto-value'] });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(up.requests[0]?.rawHeaders).toContain('proto-value');
    await s.sink.count(1);
    const headers = s.sink.entries[0]?.request.headers as Record<string, string>;
    expect(Object.keys(headers)).toContain('__proto__');
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('proto-value');
  });

  it('provider key headers nobody listed are redacted; rate-limit token counts are not', async () => {
    const up = await upstream({ frames: ['{}'], headers: { ...JSON_HEADERS, 'x-ratelimit-remaining-tokens': '149000', 'x-upstream-session-token': 'tok-0123456789abcdefWXYZ' } });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] });
    const goog = 'AIzaSyA-0123456789abcdefghijklmnop';
    const apim = '0123456789abcdef0123456789abcdef';
    const res = await request(`${s.base}/openai/v1/embeddings`, { method: 'POST', body: '{"model":"m","input":"x"}', headers: { ...JSON_HEADERS, 'x-goog-api-key': goog, 'ocp-apim-subscription-key': apim } });
    await res.body.text();
    expect(up.requests[0]?.headers['x-goog-api-key']).toBe(goog); // forwarded as sent
    await s.sink.count(1);
    const e = s.sink.entries[0];
    expect(e?.request.headers['x-goog-api-key']).toBe('...mnop');
    expect(e?.request.headers['ocp-apim-subscription-key']).toBe('...cdef');
    expect(e?.response.headers['x-upstream-session-token']).toBe('tok-...WXYZ');
    expect(e?.response.headers['x-ratelimit-remaining-tokens']).toBe('149000');
    expect(JSON.stringify(e)).not.toContain(goog.slice(8, 20));
    expect(JSON.stringify(e)).not.toContain(apim.slice(4, 16));
  });
});
