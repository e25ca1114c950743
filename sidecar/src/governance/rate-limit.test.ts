import { describe, expect, it } from 'vitest';
import { LocalLimiter, type BucketSpec } from './rate-limit.ts';

const perMinute = (key: string, n: number, cost = 1): BucketSpec => ({ key, capacity: n, perMs: n / 60_000, cost });

describe('LocalLimiter', () => {
  it('admits up to the capacity, then says how long to wait; refills with time', async () => {
    const l = new LocalLimiter();
    const s = perMinute('a', 2);
    expect((await l.take([s], 0)).allowed).toBe(true);
    expect((await l.take([s], 0)).remaining).toEqual([0]);
    const refused = await l.take([s], 0);
    expect(refused).toEqual({ allowed: false, remaining: [0], retryAfterMs: 30_000 });
    expect((await l.take([s], 30_000)).allowed).toBe(true);
  });

  it('is all-or-nothing across buckets: a refusal charges none of them', async () => {
    const l = new LocalLimiter();
    const wide = perMinute('wide', 10);
    const narrow = perMinute('narrow', 1);
    expect((await l.take([wide, narrow], 0)).allowed).toBe(true);
    expect((await l.take([wide, narrow], 0)).allowed).toBe(false);
    expect((await l.take([wide], 0)).remaining).toEqual([8]);
  });

  it('token buckets need only be positive to admit, and are charged after the fact (possibly below zero)', async () => {
    const l = new LocalLimiter();
    const tokens = perMinute('t', 1000, 0);
    expect((await l.take([tokens], 0)).allowed).toBe(true);
    await l.charge(tokens, 1500, 0);
    const r = await l.take([tokens], 0);
    expect(r.allowed).toBe(false);
    expect(r.retryAfterMs).toBe(30_000); // 500 tokens owed at 1000/min
    expect((await l.take([tokens], 30_001)).allowed).toBe(true);
  });
});
