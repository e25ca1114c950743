import { describe, expect, it } from 'vitest';
import { MemoryKubeApi } from './memory-api.ts';
import type { WatchEvent } from './types.ts';

async function take(stream: AsyncIterable<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const ev of stream) {
    out.push(ev);
    if (out.length === n) break;
  }
  return out;
}

describe('MemoryKubeApi', () => {
  it('resumes a watch from a resourceVersion and answers ERROR 410 once history is compacted', async () => {
    const api = new MemoryKubeApi();
    await api.create('configmaps', { metadata: { name: 'a', namespace: 'ns' } });
    const { resourceVersion } = await api.list('configmaps');
    await api.create('configmaps', { metadata: { name: 'b', namespace: 'ns' } });
    const replay = await take(await api.watch('configmaps', { resourceVersion }), 1);
    expect(replay.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'b']]);
    api.compact();
    const gone = await take(await api.watch('configmaps', { resourceVersion }), 1);
    expect(gone[0]).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });

  it('a label-selected watch sees an object leave the selection as DELETED', async () => {
    const api = new MemoryKubeApi();
    const w = await api.watch('pods', { resourceVersion: '0', labelSelector: 'llmaudit.dev/inject=true' });
    await api.create('pods', { metadata: { name: 'p', namespace: 'ns', labels: { 'llmaudit.dev/inject': 'true' } } });
    await api.patch('pods', 'ns', 'p', { metadata: { labels: { 'llmaudit.dev/inject': null } } }, { type: 'merge' });
    expect((await take(w, 2)).map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
  });

  it('keeps status and spec writes apart, bumps generation on spec changes only, and checks resourceVersion', async () => {
    const api = new MemoryKubeApi();
    const p = await api.create('auditpolicies', { metadata: { name: 'p', namespace: 'ns' }, spec: { a: 1 }, status: { x: 1 } });
    expect(p.status).toBeUndefined();
    const s = await api.patch('auditpolicies', 'ns', 'p', { status: { x: 2 }, spec: { a: 9 } }, { type: 'merge', subresource: 'status' });
    expect([s.spec, s.status, s.metadata.generation]).toEqual([{ a: 1 }, { x: 2 }, 1]);
    const g = await api.patch('auditpolicies', 'ns', 'p', { spec: { a: 2 }, status: { x: 3 } }, { type: 'merge' });
    expect([g.spec, g.status, g.metadata.generation]).toEqual([{ a: 2 }, { x: 2 }, 2]);
    const writes = api.writes.length;
    await api.patch('auditpolicies', 'ns', 'p', { spec: { a: 2 } }, { type: 'merge' });
    expect(api.writes.length).toBe(writes); // a no-op write is not a write
    await expect(api.replace('auditpolicies', { ...p })).rejects.toMatchObject({ statusCode: 409 });
    await expect(api.patch('configmaps', 'ns', 'nope', {}, { type: 'merge' })).rejects.toMatchObject({ statusCode: 404 });
  });

  it('refuses dependents of a missing owner and cascades deletes to dependents', async () => {
    const api = new MemoryKubeApi();
    await expect(api.create('configmaps', { metadata: { name: 'c', namespace: 'ns', ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'nope' }] } })).rejects.toMatchObject({ statusCode: 422 });
    const owner = await api.create('auditpolicies', { metadata: { name: 'p', namespace: 'ns' } });
    const ref = { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', name: 'p', uid: owner.metadata.uid ?? '' };
    await api.create('configmaps', { metadata: { name: 'c', namespace: 'ns', ownerReferences: [ref] } });
    await api.create('configmaps', { metadata: { name: 'keep', namespace: 'ns' } });
    await api.delete('auditpolicies', 'ns', 'p');
    expect(api.all('configmaps').map((c) => c.metadata.name)).toEqual(['keep']);
  });

  it('answers a metadata-only list as a PartialObjectMetadataList whose items carry apiVersion, kind and metadata only', async () => {
    const api = new MemoryKubeApi();
    const spec = { template: { metadata: { labels: { app: 'web' } } } };
    await api.create('deployments', { metadata: { name: 'web', namespace: 'ns', annotations: { a: '1' } }, spec, status: { replicas: 1 } });
    await api.create('deployments', { metadata: { name: 'db', namespace: 'ns' }, spec });
    const full = await api.list('deployments');
    expect([full.apiVersion, full.kind, full.items[0]?.spec]).toEqual(['apps/v1', 'DeploymentList', spec]);
    const meta = await api.list('deployments', { metadataOnly: true });
    expect([meta.apiVersion, meta.kind]).toEqual(['meta.k8s.io/v1', 'PartialObjectMetadataList']);
    for (const item of meta.items) {
      expect(Object.keys(item).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
      expect([item.apiVersion, item.kind]).toEqual(['meta.k8s.io/v1', 'PartialObjectMetadata']);
    }
    expect(meta.items.find((o) => o.metadata.name === 'web')?.metadata).toMatchObject({ namespace: 'ns', annotations: { a: '1' }, uid: expect.any(String), resourceVersion: expect.any(String) });
    const page = await api.list('deployments', { metadataOnly: true, limit: 1 });
    expect([page.kind, page.items.length, page.items[0]?.spec, page.continue]).toEqual(['PartialObjectMetadataList', 1, undefined, expect.any(String)]);
  });

  it('sends PartialObjectMetadata in the events and bookmarks of a metadata-only watch', async () => {
    const api = new MemoryKubeApi();
    const w = await api.watch('deployments', { resourceVersion: '0', metadataOnly: true, allowWatchBookmarks: true });
    await api.create('deployments', { metadata: { name: 'web', namespace: 'ns' }, spec: { replicas: 1 } });
    await api.patch('deployments', 'ns', 'web', { spec: { replicas: 2 } }, { type: 'merge' });
    api.bookmark('deployments');
    await api.delete('deployments', 'ns', 'web');
    const events = await take(w, 4);
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'BOOKMARK', 'DELETED']);
    for (const e of events) {
      expect(Object.keys(e.object).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
      expect([e.object.apiVersion, e.object.kind]).toEqual(['meta.k8s.io/v1', 'PartialObjectMetadata']);
    }
    // A spec change is still an event (its resourceVersion moves): the metadata watch misses no change.
    expect(Number(events[1]?.object.metadata.resourceVersion)).toBeGreaterThan(Number(events[0]?.object.metadata.resourceVersion));
  });
});
