import { describe, expect, it } from 'vitest';
import { ToolCallMemory, type EvictionReason, type RememberedCall } from './tool-call-memory.ts';

const call = (callId: string, over: Partial<RememberedCall> = {}): RememberedCall => ({ callId, name: 'get_weather', traceId: 't1', spanId: 's1', sampled: true, endedAt: 0, ...over });

function memory(maxEntries: number, maxAgeMs = 60_000) {
  const evicted: EvictionReason[] = [];
  return { m: new ToolCallMemory({ maxEntries, maxAgeMs, onEvict: (r) => evicted.push(r) }), evicted };
}

describe('ToolCallMemory', () => {
  it('hands out each call once (re-sent history makes no second span)', () => {
    const { m } = memory(10);
    m.remember(call('a'), 0);
    expect(m.claim('a', 't1', 1)?.callId).toBe('a');
    expect(m.claim('a', 't1', 2)).toBeUndefined();
    expect(m.has('a', 't1')).toBe(true);
    expect(m.claim('unknown', 't1', 3)).toBeUndefined();
  });

  it('forgets the oldest beyond its capacity and counts it', () => {
    const { m, evicted } = memory(2);
    for (const id of ['a', 'b', 'c']) m.remember(call(id), 0);
    expect(m.size).toBe(2);
    expect(m.claim('a', 't1', 0)).toBeUndefined();
    expect(m.claim('c', 't1', 0)?.callId).toBe('c');
    expect(evicted).toEqual(['capacity']);
  });

  it('forgets calls older than maxAgeMs and counts them', () => {
    const { m, evicted } = memory(10, 1_000);
    m.remember(call('old'), 0);
    m.remember(call('new'), 900);
    expect(m.claim('old', 't1', 1_500)).toBeUndefined();
    expect(m.claim('new', 't1', 1_500)?.callId).toBe('new');
    expect(evicted).toEqual(['age']);
  });

  it('shrinks on resize, and remembers nothing at capacity 0', () => {
    const { m, evicted } = memory(5);
    for (const id of ['a', 'b', 'c']) m.remember(call(id), 0);
    m.resize(1, 60_000);
    expect(m.size).toBe(1);
    expect(evicted).toEqual(['capacity', 'capacity']);
    m.resize(0, 60_000);
    m.remember(call('d'), 0);
    expect(m.size).toBe(0);
  });

  it('keeps the same call id apart in two traces, and falls back to the newest from a third', () => {
    const { m } = memory(10);
    m.remember(call('call_x', { traceId: 'run1', spanId: 's-run1' }), 0);
    m.remember(call('call_x', { traceId: 'run2', spanId: 's-run2' }), 1);
    expect(m.claim('call_x', 'run1', 2)?.spanId).toBe('s-run1');
    expect(m.claim('call_x', 'elsewhere', 2)?.spanId).toBe('s-run2');
    expect(m.claim('call_x', 'run2', 2)).toBeUndefined();
  });

  it('claims by name the most recent unclaimed call in the same trace', () => {
    const { m } = memory(10);
    m.remember(call('x1', { name: 'search', spanId: 'old' }), 0);
    m.remember(call('x2', { name: 'search', spanId: 'new' }), 1);
    m.remember(call('x3', { name: 'search', traceId: 'other' }), 2);
    expect(m.claimByName('search', 't1', 3)?.callId).toBe('x2');
    expect(m.claimByName('search', 't1', 3)?.callId).toBe('x1');
    expect(m.claimByName('search', 't1', 3)).toBeUndefined();
  });
});
