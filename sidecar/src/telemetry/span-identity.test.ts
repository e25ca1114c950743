import { describe, expect, it } from 'vitest';
import { chooseSpanIdentity, type IdentityInput } from './span-identity.ts';
import { deriveConversation } from './conversation.ts';

const conv = deriveConversation('sys', 'hi')!;
let n = 0;
const base = (over: Partial<IdentityInput>): IdentityInput => ({
  incoming: null,
  conversation: null,
  opensConversation: false,
  alreadyUsed: () => false,
  randomTraceId: () => 'f'.repeat(32),
  randomSpanId: () => String(++n).padStart(16, 'e'),
  ...over,
});

describe('chooseSpanIdentity', () => {
  it('continues a traceparent: its trace, the caller as parent, its sampling decision', () => {
    const id = chooseSpanIdentity(base({ incoming: { source: 'traceparent', traceId: 'a'.repeat(32), parentSpanId: 'b'.repeat(16), sampled: false, traceState: 'k=v' }, conversation: conv }));
    expect(id).toMatchObject({ traceId: 'a'.repeat(32), parentSpanId: 'b'.repeat(16), parentSampled: false, traceState: 'k=v', source: 'traceparent' });
    expect(id.spanId).toMatch(/^e+\d+$/);
  });

  it('uses X-Span-ID as the span id, and a fresh child when that id was already used', () => {
    const incoming = { source: 'x-trace-id' as const, traceId: 'a'.repeat(32), spanId: 'c'.repeat(16), parentSpanId: 'd'.repeat(16) };
    expect(chooseSpanIdentity(base({ incoming }))).toEqual({ traceId: 'a'.repeat(32), spanId: 'c'.repeat(16), parentSpanId: 'd'.repeat(16), source: 'x-trace-id' });
    const again = chooseSpanIdentity(base({ incoming, alreadyUsed: () => true }));
    expect(again.parentSpanId).toBe('c'.repeat(16));
    expect(again.spanId).not.toBe('c'.repeat(16));
  });

  it('gives the opening exchange the derived root span id and later turns that root as parent', () => {
    expect(chooseSpanIdentity(base({ conversation: conv, opensConversation: true }))).toEqual({ traceId: conv.traceId, spanId: conv.rootSpanId, source: 'conversation' });
    const later = chooseSpanIdentity(base({ conversation: conv, opensConversation: false }));
    expect(later).toMatchObject({ traceId: conv.traceId, parentSpanId: conv.rootSpanId, source: 'conversation' });
    const retried = chooseSpanIdentity(base({ conversation: conv, opensConversation: true, alreadyUsed: () => true }));
    expect(retried.parentSpanId).toBe(conv.rootSpanId);
  });

  it('falls back to a random root trace', () => {
    expect(chooseSpanIdentity(base({}))).toMatchObject({ traceId: 'f'.repeat(32), source: 'random' });
    expect(chooseSpanIdentity(base({})).parentSpanId).toBeUndefined();
  });
});
