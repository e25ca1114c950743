import { describe, expect, it } from 'vitest';
import { createRandomIds } from './random-ids.ts';

describe('createRandomIds', () => {
  it('yields lower-case hex ids of 32 and 16 digits, all distinct, across many pool refills', () => {
    const r = createRandomIds({ poolBytes: 40 }); // refills every few ids, ids straddle no boundary
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const t = r.traceId();
      const s = r.spanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      seen.add(t).add(s);
    }
    expect(seen.size).toBe(4_000);
  });

  it('uses each byte of the source once, in order', () => {
    let next = 0;
    const r = createRandomIds({ poolBytes: 24, source: (n) => Buffer.from(Array.from({ length: n }, () => next++ % 256)) });
    expect(r.spanId()).toBe('0001020304050607');
    expect(r.traceId()).toBe('08090a0b0c0d0e0f1011121314151617');
    expect(r.spanId()).toBe('18191a1b1c1d1e1f'); // from a fresh pool
  });

  it('never returns an all-zero id (W3C Trace Context: invalid), it draws again', () => {
    let calls = 0;
    const r = createRandomIds({ poolBytes: 8, source: (n) => Buffer.alloc(n, calls++ === 0 ? 0 : 0xab) });
    expect(r.spanId()).toBe('ab'.repeat(8));
  });
});
