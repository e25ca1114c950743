import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError } from '../kube/api-error.ts';
import { MemoryKubeApi } from '../kube/memory-api.ts';
import type { KubeApi } from '../kube/types.ts';
import { EventRecorder } from '../testing/event-recorder.ts';
import { ManualClock } from '../testing/manual-clock.ts';
import { partitionable } from '../testing/partition.ts';
import { LeaderElector, microTime, type ElectionEvent, type LeaseSpec } from './lease-elector.ts';

const electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.close({ release: false })));
});

/** client-go's defaults: lease 15 s, renew deadline 10 s, retry every 2 s — on a manual clock. */
function candidate(api: KubeApi, identity: string, clock: ManualClock, timeline: string[] = []) {
  const events = new EventRecorder<ElectionEvent>();
  const calls: string[] = [];
  const e = new LeaderElector({
    api,
    namespace: 'llmaudit',
    name: 'llmaudit-operator',
    identity,
    clock,
    random: () => 0,
    onStartedLeading: () => {
      calls.push('start');
      timeline.push(`${identity} leads at ${clock.now()}`);
    },
    onStoppedLeading: () => {
      calls.push('stop');
      timeline.push(`${identity} stops at ${clock.now()}`);
    },
    observer: events.record,
  });
  electors.push(e);
  return { e, events, calls };
}

const leaseOf = (api: MemoryKubeApi) => api.peek('leases', 'llmaudit', 'llmaudit-operator')?.spec as LeaseSpec;

describe('LeaderElector', () => {
  it('one of two candidates leads; the other takes over only after the lease expires on its own clock', async () => {
    const clock = new ManualClock();
    const api = new MemoryKubeApi();
    const a = candidate(api, 'a', clock);
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    const t0 = clock.now();
    const b = candidate(api, 'b', clock);
    b.e.start();
    await b.events.next((x) => x.type === 'new-leader' && x.identity === 'a', { from: 0 });
    expect(leaseOf(api)).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0, acquireTime: microTime(t0) });
    expect(leaseOf(api).renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // a crashes: it stops renewing without releasing.
    await a.e.close({ release: false });
    await clock.advance(14_000); // seven of b's retry periods pass...
    expect(b.e.isLeader).toBe(false); // ...but the lease has not expired yet.
    await clock.advance(2_000);
    await b.events.next((x) => x.type === 'started-leading', { from: 0 });
    expect(leaseOf(api)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, acquireTime: microTime(t0 + 16_000) });
    expect(a.calls).toEqual(['start', 'stop']);
    expect(b.calls).toEqual(['start']);
  });

  it('hands over at once when the leader releases the lease on shutdown', async () => {
    const clock = new ManualClock();
    const api = new MemoryKubeApi();
    const a = candidate(api, 'a', clock);
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    const b = candidate(api, 'b', clock);
    b.e.start();
    await b.events.next((x) => x.type === 'new-leader', { from: 0 });
    await a.e.close();
    expect(leaseOf(api)).toMatchObject({ leaseDurationSeconds: 1 });
    expect(leaseOf(api).holderIdentity).toBeUndefined();
    await clock.advance(2_000); // b's next retry
    await b.events.next((x) => x.type === 'started-leading', { from: 0 });
    expect(leaseOf(api)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('a leader whose renewals fail steps down at renewDeadline, before the lease expires for others', async () => {
    const clock = new ManualClock();
    const mem = new MemoryKubeApi();
    let broken = false;
    const flaky: KubeApi = new Proxy(mem, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => (broken ? Promise.reject(new KubeApiError(503, 'ServiceUnavailable', 'injected')) : (v as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const a = candidate(flaky, 'a', clock);
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    const renewed = clock.now();
    broken = true;
    const from = a.events.events.length;
    await clock.advance(2_000);
    await a.events.next((x) => x.type === 'error', { from });
    expect(a.e.isLeader).toBe(true); // one failed renew is tolerated
    await clock.advance(7_999);
    expect(a.e.isLeader).toBe(true);
    await clock.advance(1);
    const stopped = await a.events.next((x) => x.type === 'stopped-leading', { from: 0 });
    expect(stopped).toEqual({ type: 'stopped-leading', reason: 'renew-deadline' });
    expect(clock.now() - renewed).toBe(10_000);
    expect(a.calls).toEqual(['start', 'stop']);
  });

  it('a leader whose API server hangs aborts its requests, steps down at renewDeadline, and the other candidate takes over after', async () => {
    // Regression: the deadline was checked only after a renew returned, so a request that never
    // answered kept the old leader leading while the lease expired and another replica took it.
    const clock = new ManualClock();
    const mem = new MemoryKubeApi();
    const timeline: string[] = [];
    const viewA = partitionable(mem);
    const a = candidate(viewA.api, 'a', clock, timeline);
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    const b = candidate(mem, 'b', clock, timeline);
    b.e.start();
    await b.events.next((x) => x.type === 'new-leader', { from: 0 });
    const t0 = clock.now();

    await clock.advance(2_000); // a renews at t0 + 2 s: its last success
    viewA.partition();
    await clock.advance(2_000); // a's next renew hangs
    expect(viewA.held).toBe(1);
    await clock.advance(7_999);
    expect(a.e.isLeader).toBe(true);
    await clock.advance(1); // t0 + 12 s = last renew start + renewDeadline
    expect(a.e.isLeader).toBe(false);
    expect(await a.events.next((x) => x.type === 'stopped-leading', { from: 0 })).toEqual({ type: 'stopped-leading', reason: 'renew-deadline' });
    expect(viewA.held).toBe(0); // the hanging request was aborted, not left behind

    await clock.advance(6_000);
    await b.events.next((x) => x.type === 'started-leading', { from: 0 });
    expect(leaseOf(mem)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // b saw a's last renew at t0 + 2 s and waited a full lease (15 s) from then; a had stopped at t0 + 12 s.
    expect(timeline).toEqual([`a leads at ${t0}`, `a stops at ${t0 + 12_000}`, `b leads at ${t0 + 18_000}`]);

    // a's API comes back (its request in flight meanwhile is lost and times out): it sees b as the holder and stays a follower.
    viewA.heal();
    await clock.advance(10_000);
    expect(a.e.isLeader).toBe(false);
    expect(a.e.leader).toBe('b');
  });

  it('a candidate whose acquire hangs gives up at renewDeadline and tries again', async () => {
    const clock = new ManualClock();
    const mem = new MemoryKubeApi();
    const view = partitionable(mem);
    view.partition();
    const a = candidate(view.api, 'a', clock);
    a.e.start();
    await clock.advance(9_999);
    expect(view.held).toBe(1);
    await clock.advance(1);
    const err = await a.events.next((x) => x.type === 'error', { from: 0 });
    expect(String((err as { error: unknown }).error)).toContain('Aborted');
    expect(view.held).toBe(0);
    view.heal();
    await clock.advance(2_000);
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
  });

  it('a renew answered only after the deadline does not make a stepped-down replica lead again', async () => {
    const clock = new ManualClock();
    const mem = new MemoryKubeApi();
    // The lease write lands, but its answer is held until after the deadline.
    let delayAnswers = false;
    const slow: KubeApi = new Proxy(mem, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          const result = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (delayAnswers && prop === 'replace') await new Promise((r) => setTimeout(r, 0)).then(() => clock.advance(10_000));
          return result;
        };
      },
    });
    const a = candidate(slow, 'a', clock);
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    delayAnswers = true;
    await clock.advance(2_000);
    await a.events.next((x) => x.type === 'stopped-leading', { from: 0 });
    expect(a.e.isLeader).toBe(false);
    expect(a.calls).toEqual(['start', 'stop']);
  });

  it('optimistic concurrency: candidates starting together never both lead', async () => {
    for (let round = 0; round < 5; round++) {
      const clock = new ManualClock();
      const api = new MemoryKubeApi();
      const cs = ['a', 'b', 'c'].map((id) => candidate(api, id, clock));
      for (const c of cs) c.e.start();
      await Promise.race(cs.map((c) => c.events.next((x) => x.type === 'started-leading', { from: 0 })));
      // Every candidate runs a few more rounds against the held lease.
      await clock.advance(6_000);
      await Promise.all(cs.map((c) => c.events.next((x) => x.type === 'new-leader', { from: 0 })));
      const leaders = cs.filter((c) => c.e.isLeader).map((c) => c.e.leader);
      expect(leaders).toHaveLength(1);
      expect(leaseOf(api)).toMatchObject({ holderIdentity: leaders[0], leaseTransitions: 0 });
      await Promise.all(electors.splice(0).map((e) => e.close({ release: false })));
    }
  });
});
