import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError } from '../kube/api-error.ts';
import { MemoryKubeApi } from '../kube/memory-api.ts';
import type { KubeObject } from '../kube/types.ts';
import { EventRecorder } from '../testing/event-recorder.ts';
import { WatchLoop, type WatchLoopEvent } from './watch-loop.ts';

const cm = (name: string, data: Record<string, string> = {}): KubeObject => ({ metadata: { name, namespace: 'ns' }, data });

function setup(options: { stallTimeoutMs?: number; resyncMs?: number } = {}) {
  const api = new MemoryKubeApi();
  const loopEvents = new EventRecorder<WatchLoopEvent>();
  const changes = new EventRecorder<{ op: 'upsert' | 'delete'; name: string; data: unknown }>();
  const loop = new WatchLoop({
    api,
    resource: 'configmaps',
    handler: {
      upsert: (o) => changes.record({ op: 'upsert', name: o.metadata.name ?? '', data: o.data }),
      delete: (o) => changes.record({ op: 'delete', name: o.metadata.name ?? '', data: o.data }),
    },
    stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
    resyncMs: options.resyncMs ?? 0,
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 0.5,
    observer: loopEvents.record,
  });
  loops.push(loop);
  return { api, loop, loopEvents, changes };
}

const loops: WatchLoop[] = [];
afterEach(async () => {
  await Promise.all(loops.splice(0).map((l) => l.close()));
});

describe('WatchLoop', () => {
  it('lists, then watches from the list resourceVersion and sees adds, updates and deletes', async () => {
    const { api, loop, loopEvents, changes } = setup();
    await api.create('configmaps', cm('a'));
    loop.start();
    await loop.synced;
    expect(changes.events).toEqual([{ op: 'upsert', name: 'a', data: {} }]);
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    await api.create('configmaps', cm('b'));
    await api.patch('configmaps', 'ns', 'a', { data: { k: 'v' } }, { type: 'merge' });
    await api.delete('configmaps', 'ns', 'b');
    await changes.next((e) => e.op === 'delete' && e.name === 'b', { from: 0 });
    expect(changes.events.slice(1)).toEqual([
      { op: 'upsert', name: 'b', data: {} },
      { op: 'upsert', name: 'a', data: { k: 'v' } },
      { op: 'delete', name: 'b', data: {} },
    ]);
    expect(loop.list().map((o) => o.metadata.name)).toEqual(['a']);
    expect(api.listCount.get('configmaps')).toBe(1);
  });

  it('relists on an ERROR 410 event and drops objects deleted while it was away', async () => {
    const { api, loop, loopEvents, changes } = setup();
    await api.create('configmaps', cm('a'));
    await api.create('configmaps', cm('gone-later'));
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    // Simulate missed events: stop delivery, change things, compact history, then expire the watch.
    api.stallWatches('configmaps');
    await api.delete('configmaps', 'ns', 'gone-later');
    await api.create('configmaps', cm('new'));
    api.compact();
    api.expireWatches('configmaps');
    await loopEvents.next((e) => e.type === 'relist');
    await loopEvents.next((e) => e.type === 'listed');
    expect(api.listCount.get('configmaps')).toBe(2);
    expect(changes.events).toContainEqual({ op: 'delete', name: 'gone-later', data: {} });
    expect(loop.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'new']);
  });

  it('relists when the watch request itself answers HTTP 410', async () => {
    const { api, loop, loopEvents } = setup();
    api.failNext('watch', 'configmaps', new KubeApiError(410, 'Expired', 'too old resource version'));
    loop.start();
    await loopEvents.next((e) => e.type === 'relist', { from: 0 });
    await loopEvents.next((e) => e.type === 'watching');
    expect(api.listCount.get('configmaps')).toBe(2);
    expect(loopEvents.events.some((e) => e.type === 'restart')).toBe(false);
  });

  it('restarts after a transport error with growing, capped backoff and resumes without relisting', async () => {
    const { api, loop, loopEvents, changes } = setup();
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    for (let i = 0; i < 4; i++) api.failNext('watch', 'configmaps', new Error('ECONNREFUSED'));
    api.breakWatches('configmaps');
    await loopEvents.next((e) => e.type === 'watching');
    const delays = loopEvents.events.flatMap((e) => (e.type === 'restart' ? [e.delayMs] : []));
    // random() = 0.5 → 3/4 of each step: 10, 20, 40, 40, 40 ms steps.
    expect(delays).toEqual([8, 15, 30, 30, 30]);
    expect(api.listCount.get('configmaps')).toBe(1);
    await api.create('configmaps', cm('after'));
    await changes.next((e) => e.name === 'after', { from: 0 });
  });

  it('restarts a silently stalled watch and catches up from the last resourceVersion', async () => {
    const { api, loop, loopEvents, changes } = setup({ stallTimeoutMs: 50 });
    api.stallNextWatches('configmaps', 1);
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    await api.create('configmaps', cm('while-stalled'));
    const restart = await loopEvents.next((e) => e.type === 'restart');
    expect(restart).toMatchObject({ reason: 'stall' });
    await changes.next((e) => e.name === 'while-stalled', { from: 0 });
    expect(api.listCount.get('configmaps')).toBe(1);
    expect(api.watchCount.get('configmaps')).toBe(2);
  });

  it('bookmarks keep a quiet watch alive and advance the resourceVersion', async () => {
    // Regression: with bookmarks 30 ms apart against an 80 ms stall timeout, one slow timer on a
    // loaded machine made a (correct) stall restart and failed the test. Now the margin is 10×
    // and the test checks its own premise: it measures the gaps it actually produced.
    const STALL_MS = 1000;
    const { api, loop, loopEvents } = setup({ stallTimeoutMs: STALL_MS });
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    // Writes to another resource move the global resourceVersion; only bookmarks tell this watch.
    await api.create('secrets', cm('unrelated'));
    const latest = api.peek('secrets', 'ns', 'unrelated')?.metadata.resourceVersion;
    // Quiet for at least 15 × 100 ms, longer than the stall timeout, but bookmarked every ~100 ms.
    let longestGap = 0;
    let last = performance.now();
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      api.bookmark('configmaps');
    }
    // A gap as long as the stall timeout (a starved machine) would make a restart the right call.
    if (longestGap < STALL_MS * 0.9) expect(loopEvents.events.some((e) => e.type === 'restart')).toBe(false);
    else expect(loopEvents.events.filter((e) => e.type === 'restart').every((e) => e.type === 'restart' && e.reason === 'stall')).toBe(true);
    api.endWatches('configmaps');
    const watching = await loopEvents.next((e) => e.type === 'watching');
    expect(watching).toMatchObject({ resourceVersion: latest });
  });

  it('rewatches from the last resourceVersion when the server ends the stream cleanly', async () => {
    const { api, loop, loopEvents, changes } = setup();
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    await api.create('configmaps', cm('x'));
    await changes.next((e) => e.name === 'x', { from: 0 });
    // A clean end is what the server does when timeoutSeconds runs out.
    api.endWatches('configmaps');
    await loopEvents.next((e) => e.type === 'rewatch');
    const watching = await loopEvents.next((e) => e.type === 'watching');
    expect(watching).toMatchObject({ resourceVersion: api.peek('configmaps', 'ns', 'x')?.metadata.resourceVersion });
    expect(api.listCount.get('configmaps')).toBe(1);
    expect(loopEvents.events.some((e) => e.type === 'restart')).toBe(false);
  });

  it('resync re-delivers every cached object', async () => {
    const { api, loop, loopEvents, changes } = setup({ resyncMs: 30 });
    await api.create('configmaps', cm('a'));
    await api.create('configmaps', cm('b'));
    loop.start();
    await loop.synced;
    const from = changes.events.length;
    await loopEvents.next((e) => e.type === 'resync');
    expect(changes.events.slice(from).map((e) => e.name).sort()).toEqual(['a', 'b']);
  });
});
