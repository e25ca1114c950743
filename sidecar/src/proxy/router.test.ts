import { describe, expect, it } from 'vitest';
import { parseSidecarConfig } from '../config/index.ts';
import { createRouter, hasDotSegment } from './router.ts';

const config = parseSidecarConfig({
  listeners: [{ port: 0 }, { port: 0, defaultEndpoint: 'ollama' }],
  endpoints: [
    { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' },
    { name: 'azure', upstream: 'https://x.openai.azure.com/', api: 'azure-openai', pathPrefix: '/az/' },
    { name: 'azure-eu', upstream: 'https://eu.openai.azure.com', api: 'azure-openai', pathPrefix: '/az/eu' },
    { name: 'ollama', upstream: 'http://127.0.0.1:11435', api: 'ollama' },
  ],
});
const [plain, takeover] = config.listeners as [(typeof config.listeners)[0], (typeof config.listeners)[0]];
const router = createRouter(config);

describe('createRouter', () => {
  it('strips the prefix and joins onto the upstream base path, keeping the query', () => {
    const r = router.route(plain, '/openai/chat/completions?a=1');
    expect(r?.endpoint.name).toBe('openai');
    expect(r?.upstreamPath).toBe('/v1/chat/completions?a=1');
    expect(r?.apiPath).toBe('/chat/completions');
  });

  it('prefers the longest prefix and honours pathPrefix with a trailing slash', () => {
    expect(router.route(plain, '/az/eu/openai/deployments/d/chat/completions')?.endpoint.name).toBe('azure-eu');
    expect(router.route(plain, '/az/openai/v1/responses')?.upstreamPath).toBe('/openai/v1/responses');
  });

  it('matches prefixes on segment boundaries only', () => {
    expect(router.route(plain, '/openaiX/v1')).toBeNull();
    expect(router.route(plain, '/openai')?.upstreamPath).toBe('/v1/');
  });

  it('sends unmatched paths to the listener default endpoint, else nowhere', () => {
    expect(router.route(takeover, '/api/chat')).toMatchObject({ upstreamPath: '/api/chat', apiPath: '/api/chat' });
    expect(router.route(takeover, '/api/chat')?.endpoint.name).toBe('ollama');
    expect(router.route(plain, '/api/chat')).toBeNull();
  });

  it('takes the path of an absolute-form request target', () => {
    expect(router.route(plain, 'http://evil.example/openai/models')?.upstreamPath).toBe('/v1/models');
  });
});

describe('hasDotSegment', () => {
  it.each(['/openai/../admin', '/a/./b', '/a/%2e%2E/b', '/a/..', '/..?x=1', '/a/%2e/b'])('finds one in %s', (p) => expect(hasDotSegment(p)).toBe(true));
  // Regression: `..\\` and encoded separators passed, and reached upstreams that decode them or treat `\\` as `/`.
  it.each(['/openai/..\\admin', '/openai\\..\\admin', '/a/..%2fadmin', '/a/%2e%2e%2Fadmin', '/a%2f..%2fb', '/a/%5c..%5cb', '/a/..%5C', '/a/%252e%252e/b', '/a/%25252e%25252e%252fb', '/a\\.\\b'])('finds one in %s', (p) => expect(hasDotSegment(p)).toBe(true));
  it.each(['/v1/chat/completions', '/a/..b/c', '/a/b.c', '/v1/models?x=../y', '/a/...'])('finds none in %s', (p) => expect(hasDotSegment(p)).toBe(false));
  it.each(['/a/%2e%2eb', '/a/b%2fc', '/a/%5cb', '/a/%25/b'])('finds none in %s (escapes but no dot segment)', (p) => expect(hasDotSegment(p)).toBe(false));
});
