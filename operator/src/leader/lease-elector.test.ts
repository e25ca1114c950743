import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError } from '../kube/api-error.ts';
import { MemoryKubeApi } from '../kube/memory-api.ts';
import type { KubeApi } from '../kube/types.ts';
import { EventRecorder } from '../testing/event-recorder.ts';
import { LeaderElector, microTime, type ElectionEvent, type LeaseSpec } from './lease-elector.ts';

let clock = Date.parse('2026-01-01T00:00:00Z');
const electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.close({ release: false })));
});

function candidate(api: KubeApi, identity: string) {
  const events = new EventRecorder<ElectionEvent>();
  const calls: string[] = [];
  const e = new LeaderElector({
    api,
    namespace: 'llmaudit',
    name: 'llmaudit-operator',
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 10,
    now: () => clock,
    random: () => 0,
    onStartedLeading: () => calls.push('start'),
    onStoppedLeading: () => calls.push('stop'),
    observer: events.record,
  });
  electors.push(e);
  return { e, events, calls };
}

const leaseOf = (api: MemoryKubeApi) => api.peek('leases', 'llmaudit', 'llmaudit-operator')?.spec as LeaseSpec;

describe('LeaderElector', () => {
  it('one of two candidates leads; the other takes over only after the lease expires on its own clock', async () => {
    const api = new MemoryKubeApi();
    const a = candidate(api, 'a');
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    const b = candidate(api, 'b');
    b.e.start();
    await b.events.next((x) => x.type === 'new-leader' && x.identity === 'a', { from: 0 });
    expect(leaseOf(api)).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0, acquireTime: microTime(clock) });
    expect(leaseOf(api).renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // a crashes: it stops renewing without releasing.
    await a.e.close({ release: false });
    const watchedAt = clock;
    clock += 14_000;
    await new Promise((r) => setTimeout(r, 50)); // several of b's retry periods pass...
    expect(b.e.isLeader).toBe(false); // ...but the lease has not expired yet.
    clock = watchedAt + 15_001;
    await b.events.next((x) => x.type === 'started-leading', { from: 0 });
    expect(leaseOf(api)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, acquireTime: microTime(clock) });
    expect(a.calls).toEqual(['start', 'stop']);
    expect(b.calls).toEqual(['start']);
  });

  it('hands over at once when the leader releases the lease on shutdown', async () => {
    const api = new MemoryKubeApi();
    const a = candidate(api, 'a');
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    const b = candidate(api, 'b');
    b.e.start();
    await b.events.next((x) => x.type === 'new-leader', { from: 0 });
    await a.e.close();
    expect(leaseOf(api)).toMatchObject({ leaseDurationSeconds: 1 });
    expect(leaseOf(api).holderIdentity).toBeUndefined();
    await b.events.next((x) => x.type === 'started-leading', { from: 0 });
    expect(leaseOf(api)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('a leader that cannot renew steps down after renewDeadline, before the lease expires for others', async () => {
    const mem = new MemoryKubeApi();
    let broken = false;
    const flaky: KubeApi = new Proxy(mem, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => (broken ? Promise.reject(new KubeApiError(503, 'ServiceUnavailable', 'injected')) : (v as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const a = candidate(flaky, 'a');
    a.e.start();
    await a.events.next((x) => x.type === 'started-leading', { from: 0 });
    broken = true;
    await a.events.next((x) => x.type === 'error');
    expect(a.e.isLeader).toBe(true); // one failed renew is tolerated
    clock += 10_000;
    const stopped = await a.events.next((x) => x.type === 'stopped-leading');
    expect(stopped).toEqual({ type: 'stopped-leading', reason: 'renew-deadline' });
    expect(a.calls).toEqual(['start', 'stop']);
  });

  it('optimistic concurrency: candidates starting together never both lead', async () => {
    for (let round = 0; round < 5; round++) {
      const api = new MemoryKubeApi();
      const cs = ['a', 'b', 'c'].map((id) => candidate(api, id));
      for (const c of cs) c.e.start();
      await Promise.race(cs.map((c) => c.events.next((x) => x.type === 'started-leading', { from: 0 })));
      // Let every candidate run a few more rounds against the held lease.
      await Promise.all(cs.map((c) => c.events.next((x) => x.type === 'new-leader', { from: 0 })));
      const leaders = cs.filter((c) => c.e.isLeader).map((c) => c.e.leader);
      expect(leaders).toHaveLength(1);
      expect(leaseOf(api)).toMatchObject({ holderIdentity: leaders[0], leaseTransitions: 0 });
      await Promise.all(electors.splice(0).map((e) => e.close({ release: false })));
    }
  });
});
