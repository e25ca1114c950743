import { describe, expect, it } from 'vitest';
import { canonicalJson } from './jcs.ts';
import type { EntryPayload } from './types.ts';
import { degradePayload } from './degrade-entry.ts';

function payload(responseBody: unknown, model: string | null = 'm'): EntryPayload {
  return {
    id: 'i', endpoint: 'e', api: 'openai.chat', model,
    request: { method: 'POST', path: '/v1/chat/completions', headers: {}, body: null, bodySha256: 'a'.repeat(64), bytes: 0 },
    response: { status: 200, headers: {}, body: responseBody, bodySha256: 'b'.repeat(64), bytes: 10, streamed: true, chunks: 3, ttfbMs: 1, durationMs: 2, complete: true },
    usage: { inputTokens: Number.POSITIVE_INFINITY, outputTokens: 1 },
    trace: { traceId: 't', spanId: 's', spanType: 'LLM', conversationId: null, toolCalls: [], toolResults: [] },
    policy: { name: 'p', decision: 'allow', reasons: [], risk: 0, capture: 'full' },
    media: [],
  };
}

describe('degradePayload', () => {
  it('replaces what RFC 8785 cannot carry, lists it by pointer, and the result canonicalizes', () => {
    const out = degradePayload(payload({ choices: [{ message: { content: 'a\ud800b', 'k/\udc00': 1 } }] }, 'm\ud83d'), 'lone surrogate');
    expect(() => canonicalJson(out)).not.toThrow();
    expect(out.model).toBe('m\ufffd');
    expect(out.usage.inputTokens).toBeNull();
    expect(out['degraded']).toEqual({
      code: 'LLMAUDIT_E_ENTRY_DEGRADED',
      reason: 'lone surrogate',
      pointers: expect.arrayContaining(['/model', '/usage/inputTokens', '/response/body/choices/0/message/content', '/response/body/choices/0/message/k~1\ufffd']) as unknown,
    });
    expect(out.response.bodySha256).toBe('b'.repeat(64));
  });

  it('a value nested 100,000 levels deep neither overflows the stack nor survives past the bound', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const out = degradePayload(payload(deep), 'too deep');
    expect(() => canonicalJson(out)).not.toThrow();
    expect(JSON.stringify(out['degraded'])).toContain('/response/body/0/0');
  });

  it('a member named __proto__ stays a member', () => {
    const body = JSON.parse('{"__proto__":{"x":"\\ud800"}}') as unknown;
    const out = degradePayload(payload(body), 'r');
    expect(Object.keys(out.response.body as object)).toEqual(['__proto__']);
  });

  it('dropBodies: both bodies null, listed', () => {
    const out = degradePayload({ ...payload({ a: 1 }), request: { ...payload(null).request, body: 'text' } }, 'r', true);
    expect(out.request.body).toBeNull();
    expect(out.response.body).toBeNull();
    expect((out['degraded'] as { pointers: string[] }).pointers).toEqual(expect.arrayContaining(['/request/body', '/response/body']));
  });
});
