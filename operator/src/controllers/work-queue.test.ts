import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.ts';

describe('WorkQueue', () => {
  it('de-duplicates queued keys and never runs one key twice at once', async () => {
    const runs: string[] = [];
    let active = 0;
    let maxActiveA = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(async (k) => {
      runs.push(k);
      if (k === 'a') {
        active++;
        maxActiveA = Math.max(maxActiveA, active);
        if (runs.length === 1) await gate;
        active--;
      }
    }, { workers: 1 });
    q.add('a'); // starts at once and blocks on the gate
    q.add('b');
    q.add('b'); // already queued: no-op
    q.add('a'); // while 'a' runs: marked dirty, runs once more afterwards
    q.add('a');
    release();
    await q.drain();
    expect(runs).toEqual(['a', 'b', 'a']);
    expect(maxActiveA).toBe(1);
    q.close();
  });

  it('retries a failing key with per-key exponential backoff and resets after success', async () => {
    let calls = 0;
    const delays: number[] = [];
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls <= 3) throw new Error('boom');
      },
      { retry: { initialMs: 4, maxMs: 10 }, random: () => 1, onError: (_k, _e, _a, ms) => delays.push(ms) },
    );
    q.add('k');
    await q.drain();
    expect(calls).toBe(4);
    expect(delays).toEqual([4, 8, 10]);
    q.close();
  });
});
