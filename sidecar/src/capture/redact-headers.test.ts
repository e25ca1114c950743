import { describe, expect, it } from 'vitest';
import { redactHeaders, redactionSet, redactValue } from './redact-headers.ts';
import { redactUrl } from './redact-url.ts';

describe('redactValue', () => {
  it('keeps the scheme, the key-type prefix and the last 4 characters', () => {
    expect(redactValue('Bearer sk-abcdefghijklmnop')).toBe('Bearer sk-...mnop');
    expect(redactValue('sk-ant-api03-0123456789abcdefWXYZ')).toBe('sk-...WXYZ');
  });

  it('masks short secrets whole', () => {
    expect(redactValue('Bearer short')).toBe('Bearer ***');
    expect(redactValue('abc')).toBe('***');
  });

  it('never returns more than the last 4 characters of a long secret', () => {
    const secret = 'x'.repeat(40) + 'TAIL';
    const out = redactValue(`Basic ${secret}`);
    expect(out).toBe('Basic ...TAIL');
    expect(out).not.toContain('xxxx');
  });
});

describe('redactHeaders', () => {
  it('redacts the default list and configured names, case-insensitively, and joins multi-values', () => {
    const set = redactionSet(['X-Tenant-Secret']);
    const out = redactHeaders(
      {
        authorization: 'Bearer sk-abcdefghijklmnop',
        'x-api-key': 'sk-ant-0123456789abcdef',
        'set-cookie': ['session=0123456789abcdef0123', 'other=ab'],
        'x-tenant-secret': 'tenant-secret-value-1234',
        'content-type': 'application/json',
      },
      set,
    );
    expect(out).toEqual({
      authorization: 'Bearer sk-...mnop',
      'x-api-key': 'sk-...cdef',
      'set-cookie': '...0123, ***',
      'x-tenant-secret': '...1234',
      'content-type': 'application/json',
    });
  });
});

describe('redactHeaders: credentials by name (allow-list)', () => {
  it('redacts any header whose name holds a credential word, unless listed as safe', () => {
    const out = redactHeaders(
      {
        'x-goog-api-key': 'AIzaSyA-0123456789abcdefghijklmnop',
        'ocp-apim-subscription-key': '0123456789abcdef0123456789abcdef',
        'x-amz-security-token': 'FwoGZXIvYXdzEJr0123456789abcdefWXYZ',
        'x-client-secret': 'short',
        'x-db-password': 'hunter2hunter2hunter2',
        'x-request-signature': 'sig-0123456789abcdef0123',
        'x-my-credential': 'c-0123456789abcdefABCD',
        'x-authz': 'z-0123456789abcdefABCD',
        'x-ratelimit-remaining-tokens': '149000',
        'anthropic-ratelimit-input-tokens-remaining': '39000',
        'www-authenticate': 'Bearer realm="api"',
        'keep-alive': 'timeout=5',
        'x-request-id': 'req_123',
      },
      redactionSet([]),
    );
    expect(out['x-goog-api-key']).toBe('...mnop');
    expect(out['ocp-apim-subscription-key']).toBe('...cdef');
    expect(out['x-amz-security-token']).toBe('...WXYZ');
    expect(out['x-client-secret']).toBe('***');
    expect(out['x-db-password']).toBe('...ter2');
    expect(out['x-request-signature']).toBe('sig-...0123');
    expect(out['x-my-credential']).toBe('c-...ABCD');
    expect(out['x-authz']).toBe('z-...ABCD');
    expect(out['x-ratelimit-remaining-tokens']).toBe('149000');
    expect(out['anthropic-ratelimit-input-tokens-remaining']).toBe('39000');
    expect(out['www-authenticate']).toBe('Bearer realm="api"');
    expect(out['keep-alive']).toBe('timeout=5');
    expect(out['x-request-id']).toBe('req_123');
  });

  it('keeps a header named __proto__ as a member of its own', () => {
    // A "__proto__" header set the stored object's prototype instead of a member: it was missing from the entry.
    const out = redactHeaders(JSON.parse('{"__proto__":"v","content-type":"application/json"}') as Record<string, string>, redactionSet([]));
    expect(Object.keys(out)).toContain('__proto__');
    expect(JSON.parse(JSON.stringify(out))).toMatchObject({ ['__proto__']: 'v' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});

describe('redactUrl', () => {
  it('masks key-like query parameters and leaves the rest', () => {
    expect(redactUrl('/openai/deployments/d/chat/completions?api-version=2024-10-21&api-key=0123456789abcdefghij')).toBe(
      '/openai/deployments/d/chat/completions?api-version=2024-10-21&api-key=...ghij',
    );
    expect(redactUrl('/v1/models')).toBe('/v1/models');
  });
});

describe('redactValue (property)', () => {
  it('never lets 6 consecutive characters of a secret through', async () => {
    const fc = (await import('fast-check')).default;
    const secretChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ '.split(''));
    fc.assert(
      fc.property(fc.array(secretChar, { minLength: 1, maxLength: 80 }), fc.constantFrom('', 'Bearer ', 'Basic ', 'token '), (chars, scheme) => {
        const secret = chars.join('');
        const out = redactValue(scheme + secret);
        for (let i = 0; i + 6 <= secret.length; i++) {
          const w = secret.slice(i, i + 6);
          if (!scheme.includes(w) && w.trim().length === 6) expect(out.includes(w)).toBe(false);
        }
        expect(out.startsWith(scheme.split(' ')[0] ?? '')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
