import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { WatchLoop, type WatchLoopEvent } from '../controllers/watch-loop.ts';
import { EventRecorder, eventually } from '../testing/event-recorder.ts';
import { serveMemoryApi } from '../testing/memory-api-server.ts';
import { ClientNodeKubeApi } from './client-node-api.ts';
import { MemoryKubeApi } from './memory-api.ts';
import { INITIAL_EVENTS_END, type WatchEvent } from './types.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  // client-node allows plain http only with skipTLSVerify (config.js createAgent).
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

async function setup(options: { watchList?: boolean } = {}) {
  const mem = new MemoryKubeApi(options);
  const served = await serveMemoryApi(mem);
  cleanups.push(served.close);
  return { mem, served, api: new ClientNodeKubeApi(kubeConfig(served.url)) };
}

describe('ClientNodeKubeApi', () => {
  it('speaks the REST paths, verbs and patch content types, with the kubeconfig bearer token', async () => {
    const { api, served } = await setup();
    const created = await api.create('configmaps', { metadata: { name: 'a', namespace: 'ns' }, data: { k: 'v' } });
    expect(created).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '1' } });
    expect(await api.get('configmaps', 'ns', 'a')).toMatchObject({ data: { k: 'v' } });
    expect(await api.get('configmaps', 'ns', 'missing')).toBeUndefined();
    await api.patch('configmaps', 'ns', 'a', { data: { k: null, j: 'w' } }, { type: 'merge' });
    await api.patch('configmaps', 'ns', 'b', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' }, data: {} }, { type: 'apply', fieldManager: 'llmaudit', force: true });
    const list = await api.list('configmaps', { namespace: 'ns' });
    expect(list.items.map((o) => [o.kind, o.metadata.name, o.data])).toEqual([['ConfigMap', 'a', { j: 'w' }], ['ConfigMap', 'b', {}]]);
    await expect(api.create('configmaps', { metadata: { name: 'a', namespace: 'ns' } })).rejects.toMatchObject({ code: 'LLMAUDIT_E_KUBE_API', statusCode: 409, reason: 'AlreadyExists' });
    await api.delete('configmaps', 'ns', 'a');
    await api.create('auditpolicies', { metadata: { name: 'p', namespace: 'ns' }, spec: {} });
    await api.patch('auditpolicies', 'ns', 'p', { status: { podsMissing: 1 } }, { type: 'merge', subresource: 'status' });
    await api.list('leases');
    expect(served.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /api/v1/namespaces/ns/configmaps',
      'GET /api/v1/namespaces/ns/configmaps/a',
      'GET /api/v1/namespaces/ns/configmaps/missing',
      'PATCH /api/v1/namespaces/ns/configmaps/a',
      'PATCH /api/v1/namespaces/ns/configmaps/b',
      'GET /api/v1/namespaces/ns/configmaps',
      'POST /api/v1/namespaces/ns/configmaps',
      'DELETE /api/v1/namespaces/ns/configmaps/a',
      'POST /apis/llmaudit.dev/v1alpha1/namespaces/ns/auditpolicies',
      'PATCH /apis/llmaudit.dev/v1alpha1/namespaces/ns/auditpolicies/p/status',
      'GET /apis/coordination.k8s.io/v1/leases',
    ]);
    expect(served.requests[3]?.contentType).toBe('application/merge-patch+json');
    expect(served.requests[4]).toMatchObject({ contentType: 'application/apply-patch+yaml', query: { fieldManager: 'llmaudit', force: 'true' } });
    expect(served.requests.every((r) => r.authorization === 'Bearer test-token')).toBe(true);
  });

  it('drives the watch loop over a real HTTP stream: events, 410 relist, and a restart after the server drops', async () => {
    const { api, mem, served } = await setup();
    const events = new EventRecorder<WatchLoopEvent>();
    const names = new EventRecorder<string>();
    const loop = new WatchLoop({ api, resource: 'pods', handler: { upsert: (o) => names.record(o.metadata.name ?? ''), delete: () => {} }, resyncMs: 0, backoff: { initialMs: 5, maxMs: 10 }, observer: events.record });
    cleanups.push(() => loop.close());
    loop.start();
    await events.next((e) => e.type === 'watching', { from: 0 });
    await mem.create('pods', { metadata: { name: 'p1', namespace: 'ns' } });
    await names.next((n) => n === 'p1', { from: 0 });
    const watchReq = served.requests.find((r) => r.query.watch === 'true');
    expect(watchReq?.query).toMatchObject({ allowWatchBookmarks: 'true', resourceVersion: '0' });
    mem.compact();
    mem.expireWatches('pods');
    await events.next((e) => e.type === 'relist');
    await events.next((e) => e.type === 'watching');
    mem.breakWatches('pods');
    await events.next((e) => e.type === 'rewatch' || e.type === 'restart');
    await events.next((e) => e.type === 'watching');
  });

  it('turns an HTTP 410 on the watch request and a non-Status error body into KubeApiErrors', async () => {
    const server = http.createServer((req, res) => {
      if ((req.url ?? '').includes('watch=true')) {
        res.writeHead(410, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' }));
      } else {
        res.writeHead(503).end('upstream connect error');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const api = new ClientNodeKubeApi(kubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    await expect(api.watch('pods', { resourceVersion: '1' })).rejects.toMatchObject({ statusCode: 410, reason: 'Expired' });
    await expect(api.list('pods')).rejects.toMatchObject({ statusCode: 503, reason: 'Service Unavailable', message: expect.stringContaining('upstream connect error') });
  });

  it('an AbortSignal ends a request the server never answers: the connection is closed, the error says Aborted', async () => {
    const { api, served } = await setup();
    served.hold = (r) => r.path.includes('/leases/');
    const abort = new AbortController();
    const pending = api.get('leases', 'llmaudit', 'llmaudit-operator', { signal: abort.signal });
    await eventually(() => served.held === 1);
    abort.abort(new Error('renew deadline passed'));
    await expect(pending).rejects.toMatchObject({ statusCode: 0, reason: 'Aborted', message: expect.stringContaining('renew deadline passed') });
    await eventually(() => served.held === 0);
    // Other requests are unaffected, and an already-aborted signal fails at once.
    expect(await api.get('configmaps', 'ns', 'none')).toBeUndefined();
    await expect(api.create('leases', { metadata: { name: 'x', namespace: 'llmaudit' } }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ reason: 'Aborted' });
  });

  it('lists in pages with limit and continue', async () => {
    const { api, mem } = await setup();
    for (const n of ['a', 'b', 'c']) await mem.create('configmaps', { metadata: { name: n, namespace: 'ns' } });
    const first = await api.list('configmaps', { limit: 2 });
    expect(first.items.map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(first.continue).toBeDefined();
    const second = await api.list('configmaps', { limit: 2, continue: first.continue! });
    expect(second.items.map((o) => o.metadata.name)).toEqual(['c']);
    expect(second.continue).toBeUndefined();
    expect(second.resourceVersion).toBe(first.resourceVersion);
  });

  it('streams a list as a watch (sendInitialEvents): the objects, then the bookmark that ends them, metadata only', async () => {
    const { api, served } = await setup();
    for (const n of ['a', 'b']) await api.create('deployments', { metadata: { name: n, namespace: 'ns', annotations: { big: 'x'.repeat(100) } }, spec: { replicas: 1 } });
    const stream = await api.watch('deployments', { resourceVersion: '', allowWatchBookmarks: true, sendInitialEvents: true, metadataOnly: true });
    const seen: WatchEvent[] = [];
    for await (const ev of stream) {
      seen.push(ev);
      if (ev.type === 'BOOKMARK') break;
    }
    stream.close();
    expect(seen.map((e) => [e.type, e.object.kind, e.object.metadata.name])).toEqual([
      ['ADDED', 'PartialObjectMetadata', 'a'],
      ['ADDED', 'PartialObjectMetadata', 'b'],
      ['BOOKMARK', 'PartialObjectMetadata', undefined],
    ]);
    expect(seen[0]?.object.spec).toBeUndefined();
    expect(seen[2]?.object.metadata).toEqual({ resourceVersion: '2', annotations: { [INITIAL_EVENTS_END]: 'true' } });
    expect(served.requests.find((r) => r.query.watch === 'true')?.query).toMatchObject({ sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan', allowWatchBookmarks: 'true' });
  });

  it('a server without the WatchList feature answers a watch-list with 422, and the watch loop lists in pages instead', async () => {
    const { api, mem } = await setup({ watchList: false });
    await mem.create('configmaps', { metadata: { name: 'a', namespace: 'ns' } });
    await expect(api.watch('configmaps', { resourceVersion: '', allowWatchBookmarks: true, sendInitialEvents: true })).rejects.toMatchObject({ statusCode: 422, message: expect.stringContaining('WatchList') });
    const events = new EventRecorder<WatchLoopEvent>();
    const loop = new WatchLoop({ api, resource: 'configmaps', handler: { upsert: () => undefined, delete: () => undefined }, resyncMs: 0, watchList: true, observer: events.record });
    cleanups.push(() => loop.close());
    loop.start();
    await loop.synced;
    expect(events.events.map((e) => e.type).slice(0, 2)).toEqual(['watch-list-refused', 'listed']);
    expect(loop.list().map((o) => o.metadata.name)).toEqual(['a']);
  });
});
