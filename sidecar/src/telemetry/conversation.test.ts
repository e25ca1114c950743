import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CONVERSATION_DOMAIN, createConversationCache, deriveConversation, deriveConversationInTurns } from './conversation.ts';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('deriveConversation', () => {
  it('is the documented SHA-256 derivation (docs/tracing.md, ADR 0005)', () => {
    const h = createHash('sha256').update('llmaudit/conversation/v1\n' + '["You are terse.","Hi"]').digest('hex');
    expect(CONVERSATION_DOMAIN).toBe('llmaudit/conversation/v1\n');
    expect(deriveConversation('You are terse.', 'Hi')).toEqual({ conversationId: h.slice(0, 32), traceId: h.slice(0, 32), rootSpanId: h.slice(32, 48) });
  });

  it('is stable for the same pair and different when either part changes', () => {
    const a = deriveConversation('sys', 'hello')!;
    expect(deriveConversation('sys', 'hello')).toEqual(a);
    expect(deriveConversation('sys2', 'hello')!.traceId).not.toBe(a.traceId);
    expect(deriveConversation('sys', 'hello!')!.traceId).not.toBe(a.traceId);
    expect(deriveConversation(null, 'hello')!.traceId).not.toBe(a.traceId);
  });

  it('cannot be confused by moving text across the system/user boundary', () => {
    expect(deriveConversation('ab', 'c')!.traceId).not.toBe(deriveConversation('a', 'bc')!.traceId);
    expect(deriveConversation('', 'x')!.traceId).not.toBe(deriveConversation(null, 'x')!.traceId);
  });

  it('returns null without a first user message', () => {
    expect(deriveConversation('sys', null)).toBeNull();
  });

  it('always yields valid W3C ids (32/16 lower-case hex, never all zero)', () => {
    fc.assert(
      fc.property(fc.option(fc.string()), fc.string(), (system, user) => {
        const ids = deriveConversation(system, user)!;
        return /^[0-9a-f]{32}$/.test(ids.traceId) && ids.traceId !== '0'.repeat(32) && /^[0-9a-f]{16}$/.test(ids.rootSpanId) && ids.rootSpanId !== '0'.repeat(16);
      }),
      { numRuns: 200 },
    );
  });
});

describe('createConversationCache', () => {
  it('returns what deriveConversation returns, for repeated and new pairs, across a start-over', () => {
    const cached = createConversationCache(3);
    const pairs: Array<[string | null, string | null]> = [['sys', 'a'], ['sys', 'b'], [null, 'a'], ['', 'a'], ['sys', null], ['other', 'a'], ['sys', 'a'], [null, 'a']];
    for (let round = 0; round < 3; round++) {
      for (const [system, user] of pairs) expect(cached(system, user)).toEqual(deriveConversation(system, user));
    }
  });

  it('keeps null and empty system prompts apart', () => {
    const cached = createConversationCache();
    expect(cached('', 'x')!.traceId).not.toBe(cached(null, 'x')!.traceId);
  });
});

describe('deriveConversationInTurns', () => {
  it('gives deriveConversation\'s ids wherever the slices fall: surrogate pairs, lone halves, characters JSON escapes (fast-check)', async () => {
    const unit = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.constantFrom('"', '\\', '\n', '\u0001', '\u2028', '😀'), fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)));
    await fc.assert(
      fc.asyncProperty(fc.option(fc.string({ unit, maxLength: 40 })), fc.option(fc.string({ unit, maxLength: 40 })), fc.integer({ min: 1, max: 9 }), async (system, user, slice) => {
        expect(await deriveConversationInTurns(system, user, nextTurn, slice)).toEqual(deriveConversation(system, user));
      }),
      { numRuns: 400 },
    );
  });

  it('a cache prepared in turns answers with the same ids, for long prompts only', async () => {
    const cached = createConversationCache(4096, 8);
    const long = 'é😀"\\'.repeat(20);
    let turns = 0;
    const counted = () => {
      turns++;
      return nextTurn();
    };
    await cached.prepare('sys', long, counted);
    expect(turns).toBeGreaterThan(5);
    expect(cached('sys', long)).toEqual(deriveConversation('sys', long));
    turns = 0;
    await cached.prepare('sys', 'short', counted);
    await cached.prepare('sys', long, counted);
    expect(turns).toBe(0);
    expect(cached('sys', 'short')).toEqual(deriveConversation('sys', 'short'));
  });
});
