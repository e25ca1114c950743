import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError } from '../kube/api-error.ts';
import { MemoryKubeApi } from '../kube/memory-api.ts';
import type { KubeObject } from '../kube/types.ts';
import { EventRecorder } from '../testing/event-recorder.ts';
import { ManualClock } from '../testing/manual-clock.ts';
import { partitionable } from '../testing/partition.ts';
import { WatchLoop, type WatchLoopEvent } from './watch-loop.ts';

const cm = (name: string, data: Record<string, string> = {}): KubeObject => ({ metadata: { name, namespace: 'ns' }, data });

function setup(options: { stallTimeoutMs?: number; resyncMs?: number; pageSize?: number; watchList?: boolean; serverWatchList?: boolean } = {}) {
  const api = new MemoryKubeApi({ ...(options.serverWatchList === undefined ? {} : { watchList: options.serverWatchList }) });
  const clock = new ManualClock();
  const loopEvents = new EventRecorder<WatchLoopEvent>();
  const changes = new EventRecorder<{ op: 'upsert' | 'delete'; name: string; data: unknown }>();
  const loop = new WatchLoop({
    api,
    resource: 'configmaps',
    handler: {
      upsert: (o) => changes.record({ op: 'upsert', name: o.metadata.name ?? '', data: o.data }),
      delete: (o) => changes.record({ op: 'delete', name: o.metadata.name ?? '', data: o.data }),
    },
    stallTimeoutMs: options.stallTimeoutMs ?? 120_000,
    resyncMs: options.resyncMs ?? 0,
    backoff: { initialMs: 1000, maxMs: 4000 },
    ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    ...(options.watchList === undefined ? {} : { watchList: options.watchList }),
    random: () => 0.5,
    clock,
    observer: loopEvents.record,
  });
  loops.push(loop);
  return { api, clock, loop, loopEvents, changes };
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
    const { api, clock, loop, loopEvents, changes } = setup();
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    for (let i = 0; i < 4; i++) api.failNext('watch', 'configmaps', new Error('ECONNREFUSED'));
    const from = loopEvents.events.length;
    api.breakWatches('configmaps');
    for (let i = 0; i < 5; i++) {
      const restart = await loopEvents.next((e) => e.type === 'restart', { from: from + i });
      await clock.advance((restart as { delayMs: number }).delayMs);
    }
    await loopEvents.next((e) => e.type === 'watching', { from });
    const delays = loopEvents.events.flatMap((e) => (e.type === 'restart' ? [e.delayMs] : []));
    // random() = 0.5 → 3/4 of each step: 1, 2, 4, 4, 4 s steps.
    expect(delays).toEqual([750, 1500, 3000, 3000, 3000]);
    expect(api.listCount.get('configmaps')).toBe(1);
    await api.create('configmaps', cm('after'));
    await changes.next((e) => e.name === 'after', { from: 0 });
  });

  it('restarts a silently stalled watch and catches up from the last resourceVersion', async () => {
    const { api, clock, loop, loopEvents, changes } = setup();
    api.stallNextWatches('configmaps', 1);
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    await api.create('configmaps', cm('while-stalled'));
    await clock.advance(119_999);
    expect(loopEvents.events.some((e) => e.type === 'restart')).toBe(false);
    await clock.advance(1);
    const restart = await loopEvents.next((e) => e.type === 'restart', { from: 0 });
    expect(restart).toMatchObject({ reason: 'stall', delayMs: 750 });
    await clock.advance(750);
    await changes.next((e) => e.name === 'while-stalled', { from: 0 });
    expect(api.listCount.get('configmaps')).toBe(1);
    expect(api.watchCount.get('configmaps')).toBe(2);
  });

  it('bookmarks keep a quiet watch alive and advance the resourceVersion', async () => {
    // Regression: on real timers a loaded machine delayed one bookmark past the stall timeout and
    // the test failed on a correct restart; on the manual clock the gaps are exactly what we say.
    const { api, clock, loop, loopEvents } = setup({ stallTimeoutMs: 120_000 });
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    // Writes to another resource move the global resourceVersion; only bookmarks tell this watch.
    await api.create('secrets', cm('unrelated'));
    const latest = api.peek('secrets', 'ns', 'unrelated')?.metadata.resourceVersion;
    // Quiet for 10 min, far past the stall timeout, but bookmarked every minute as the API server does.
    for (let i = 0; i < 10; i++) {
      await clock.advance(60_000);
      api.bookmark('configmaps');
    }
    expect(loopEvents.events.some((e) => e.type === 'restart')).toBe(false);
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
    const { api, clock, loop, loopEvents, changes } = setup({ resyncMs: 300_000 });
    await api.create('configmaps', cm('a'));
    await api.create('configmaps', cm('b'));
    loop.start();
    await loop.synced;
    const from = changes.events.length;
    await clock.advance(299_999);
    expect(loopEvents.events.some((e) => e.type === 'resync')).toBe(false);
    await clock.advance(1);
    await loopEvents.next((e) => e.type === 'resync', { from: 0 });
    expect(changes.events.slice(from).map((e) => e.name).sort()).toEqual(['a', 'b']);
    await clock.advance(300_000);
    expect(loopEvents.events.filter((e) => e.type === 'resync')).toHaveLength(2);
  });

  it('lists in pages of pageSize and indexes the cache by namespace', async () => {
    const { api, loop, loopEvents, changes } = setup({ pageSize: 2 });
    for (const ns of ['ns1', 'ns2', 'ns3']) for (const n of ['a', 'b']) await api.create('configmaps', { metadata: { name: n, namespace: ns }, data: {} });
    loop.start();
    await loop.synced;
    expect(await loopEvents.next((e) => e.type === 'listed', { from: 0 })).toMatchObject({ count: 6, pages: 3 });
    expect(api.listCount.get('configmaps')).toBe(3);
    expect(loop.listNamespace('ns2').map((o) => o.metadata.name).sort()).toEqual(['a', 'b']);
    expect(loop.listNamespace('elsewhere')).toEqual([]);
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    await api.delete('configmaps', 'ns2', 'a');
    await api.create('configmaps', { metadata: { name: 'c', namespace: 'ns2' }, data: {} });
    await changes.next((e) => e.op === 'upsert' && e.name === 'c', { from: 0 });
    expect(loop.listNamespace('ns2').map((o) => o.metadata.name).sort()).toEqual(['b', 'c']);
    expect(loop.list()).toHaveLength(6);
  });

  it('a page token that expired mid-list (410) starts the list over', async () => {
    const { api, loop, loopEvents } = setup({ pageSize: 1 });
    await api.create('configmaps', cm('a'));
    await api.create('configmaps', cm('b'));
    // The first page is served; then history is compacted past its resourceVersion.
    const list = api.list.bind(api);
    let calls = 0;
    api.list = async (resource, options) => {
      const page = await list(resource, options);
      if (++calls === 1) {
        await api.create('configmaps', cm('c'));
        api.compact();
      }
      return page;
    };
    loop.start();
    await loop.synced;
    expect(loopEvents.events.filter((e) => e.type === 'relist')).toHaveLength(1);
    expect(loop.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'b', 'c']);
  });

  it('close() right after the first sync ends the loop at once', async () => {
    // Regression: close() while the watch request was being opened found no stream to close; the
    // stream opened just after and close() waited for the stall timeout (2 min) to end it.
    const { api, clock, loop } = setup();
    await api.create('configmaps', cm('a'));
    loop.start();
    await loop.synced;
    const closed = loop.close();
    let done = false;
    void closed.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(true);
    expect(api.openWatchCount('configmaps')).toBe(0);
    await clock.advance(0);
  });

  it('close() ends a list the API server never answers', async () => {
    const api = partitionable(new MemoryKubeApi());
    api.partition();
    const loop = new WatchLoop({ api: api.api, resource: 'configmaps', handler: { upsert: () => undefined, delete: () => undefined }, clock: new ManualClock() });
    loop.start();
    await new Promise((r) => setImmediate(r));
    expect(api.held).toBe(1);
    await loop.close();
    expect(api.held).toBe(0);
    expect(loop.hasSynced).toBe(false);
  });
});

describe('WatchLoop with watch-list', () => {
  it('fills the cache from the initial events without a list, then follows changes on the same stream', async () => {
    const { api, loop, loopEvents, changes } = setup({ watchList: true });
    for (const n of ['a', 'b', 'c']) await api.create('configmaps', cm(n));
    loop.start();
    await loop.synced;
    expect(await loopEvents.next((e) => e.type === 'listed', { from: 0 })).toMatchObject({ count: 3, pages: 0, via: 'watch-list', resourceVersion: '3' });
    expect(api.listCount.get('configmaps')).toBeUndefined();
    expect(api.watchCount.get('configmaps')).toBe(1);
    expect(changes.events.map((e) => e.name).sort()).toEqual(['a', 'b', 'c']);
    await api.patch('configmaps', 'ns', 'a', { data: { k: 'v' } }, { type: 'merge' });
    await api.delete('configmaps', 'ns', 'b');
    await changes.next((e) => e.op === 'delete' && e.name === 'b', { from: 3 });
    expect(changes.events.slice(3)).toEqual([
      { op: 'upsert', name: 'a', data: { k: 'v' } },
      { op: 'delete', name: 'b', data: {} },
    ]);
    expect(loop.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'c']);
    expect(api.watchCount.get('configmaps')).toBe(1);
  });

  it('after a 410 streams the list again and drops what is no longer there', async () => {
    const { api, loop, loopEvents, changes } = setup({ watchList: true });
    await api.create('configmaps', cm('a'));
    await api.create('configmaps', cm('b'));
    loop.start();
    await loop.synced;
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    // Changes the watch never sees: it is expired first, and history is compacted.
    api.stallWatches('configmaps');
    await api.delete('configmaps', 'ns', 'a');
    await api.create('configmaps', cm('c'));
    api.compact();
    const before = loopEvents.events.length;
    api.expireWatches('configmaps');
    const relisted = await loopEvents.next((e) => e.type === 'listed', { from: before });
    expect(relisted).toMatchObject({ via: 'watch-list' });
    expect(loop.list().map((o) => o.metadata.name).sort()).toEqual(['b', 'c']);
    expect(changes.events.filter((e) => e.op === 'delete').map((e) => e.name)).toEqual(['a']);
    expect(api.listCount.get('configmaps')).toBeUndefined();
  });

  it('is not synced until the initial events end: a stream silent before its end bookmark is restarted', async () => {
    const { api, clock, loop, loopEvents } = setup({ watchList: true, stallTimeoutMs: 10_000 });
    await api.create('configmaps', cm('a'));
    api.stallNextWatches('configmaps');
    loop.start();
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    expect(loop.hasSynced).toBe(false);
    await clock.advance(10_000);
    await loopEvents.next((e) => e.type === 'restart' && e.reason === 'stall', { from: 0 });
    await clock.advance(1000);
    await loop.synced;
    expect(loop.list().map((o) => o.metadata.name)).toEqual(['a']);
  });

  it('a server that refuses sendInitialEvents is listed in pages from then on', async () => {
    const { api, loop, loopEvents } = setup({ watchList: true, serverWatchList: false, pageSize: 1 });
    await api.create('configmaps', cm('a'));
    await api.create('configmaps', cm('b'));
    loop.start();
    await loop.synced;
    const refused = await loopEvents.next((e) => e.type === 'watch-list-refused', { from: 0 });
    expect((refused as { error: KubeApiError }).error.statusCode).toBe(422);
    expect(await loopEvents.next((e) => e.type === 'listed', { from: 0 })).toMatchObject({ count: 2, pages: 2, via: 'list' });
    await loopEvents.next((e) => e.type === 'watching', { from: 0 });
    api.compact();
    api.expireWatches('configmaps');
    await loopEvents.next((e) => e.type === 'listed', { from: loopEvents.events.findIndex((e) => e.type === 'relist') });
    expect(loopEvents.events.filter((e) => e.type === 'watch-list-refused')).toHaveLength(1);
    expect(api.listCount.get('configmaps')).toBe(4);
  });
});
