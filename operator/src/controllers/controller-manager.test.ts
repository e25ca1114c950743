import { afterEach, describe, expect, it } from 'vitest';
import type { AuditPolicyStatus } from '../api/audit-policy.ts';
import { ANNOTATION_INJECTED, CONFIG_FILE_KEY, LABEL_INJECT, LABEL_POLICY } from '../api/names.ts';
import { createEventEmitter } from '../kube/events.ts';
import { MemoryKubeApi } from '../kube/memory-api.ts';
import type { KubeObject } from '../kube/types.ts';
import { renderConfigMapData } from '../render/render-config.ts';
import { asObject, deployment, pod, testPolicy } from '../testing/fixtures.ts';
import { ControllerManager } from './controller-manager.ts';
import { signingKeys } from './signing-keys.ts';
import { silentLog } from './types.ts';
import { WatchLoop } from './watch-loop.ts';
import { ANNOTATION_TEMPLATE_MANAGED } from './workload-labeller.ts';

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
});

async function setup(api = new MemoryKubeApi()) {
  const policies = new WatchLoop({
    api,
    resource: 'auditpolicies',
    // Called only after start(), when `manager` exists.
    handler: { upsert: (o) => manager.policyChanged(o), delete: (o) => manager.policyChanged(o) },
    resyncMs: 0,
  });
  const keys = signingKeys;
  const manager = new ControllerManager({
    api,
    policies,
    log: silentLog,
    render: (p) => renderConfigMapData(p),
    ...keys,
    emitEvent: createEventEmitter({ api, component: 'llmaudit-operator', instance: 'test' }),
    watch: { resyncMs: 0 },
    retry: { initialMs: 5, maxMs: 20 },
  });
  policies.start();
  running.push(policies, manager);
  await manager.start();
  await manager.drain();
  return { api, manager, policies };
}

/** Waits until watch events from our own writes have arrived and the queues are idle. */
async function settle(manager: ControllerManager): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r));
    await manager.drain();
  }
}

const statusOf = (api: MemoryKubeApi, ns: string, name: string) => api.peek('auditpolicies', ns, name)?.status as AuditPolicyStatus | undefined;

describe('ControllerManager: AuditPolicy', () => {
  it('creates ConfigMap, signing Secret and PVC owned by the policy, and writes Ready status', async () => {
    const api = new MemoryKubeApi();
    const created = await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const { manager } = await setup(api);
    await settle(manager);

    const owner = { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', name: 'chat', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true };
    const cm = api.peek('configmaps', 'apps', 'llmaudit-chat-config');
    expect(cm?.metadata.ownerReferences).toEqual([owner]);
    expect(String((cm?.data as Record<string, string>)[CONFIG_FILE_KEY])).toContain('upstream: https://api.openai.com/v1');
    const secret = api.peek('secrets', 'apps', 'llmaudit-chat-signing');
    expect(secret?.metadata.ownerReferences).toEqual([owner]);
    expect(Buffer.from((secret?.data as Record<string, string>)['signing.key'] ?? '', 'base64').toString()).toMatch(/^PRIVATE\+KEY\+llmaudit\.dev\/apps\/chat\+/);
    const pvc = api.peek('persistentvolumeclaims', 'apps', 'llmaudit-chat-log');
    expect(pvc?.metadata.ownerReferences).toEqual([owner]);
    expect(pvc?.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });

    const status = statusOf(api, 'apps', 'chat');
    expect(status).toMatchObject({ observedGeneration: 1, workloads: 0, podsInjected: 0, podsMissing: 0 });
    expect(status?.publicKey).toMatch(/^llmaudit\.dev\/apps\/chat\+[0-9a-f]{8}\+/);
    // The Secret holds the real signed-note signer key whose verifier key is published in status.
    const signer = Buffer.from((secret?.data as Record<string, string>)['signing.key'] ?? '', 'base64').toString().trim();
    expect(signingKeys.verifierKey(signer)).toBe(status?.publicKey);
    expect(status?.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).toEqual([
      ['Ready', 'True', 'Reconciled', 1],
      ['Degraded', 'False', 'AsExpected', 1],
    ]);
  });

  it('a second pass over an unchanged policy writes nothing', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const { manager, policies } = await setup(api);
    await settle(manager);
    const writes = api.writes.length;
    policies.resync();
    await settle(manager);
    expect(api.writes.slice(writes)).toEqual([]);
  });

  it('a spec change updates the ConfigMap and observedGeneration but keeps lastTransitionTime', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const { manager } = await setup(api);
    await settle(manager);
    const before = statusOf(api, 'apps', 'chat');
    await api.patch('auditpolicies', 'apps', 'chat', { spec: { capture: { mode: 'metadata' } } }, { type: 'merge' });
    await settle(manager);
    const cm = api.peek('configmaps', 'apps', 'llmaudit-chat-config');
    expect(String((cm?.data as Record<string, string>)[CONFIG_FILE_KEY])).toContain('mode: metadata');
    const after = statusOf(api, 'apps', 'chat');
    expect(after?.observedGeneration).toBe(2);
    expect(after?.conditions?.[0]?.lastTransitionTime).toBe(before?.conditions?.[0]?.lastTransitionTime);
    expect(after?.publicKey).toBe(before?.publicKey);
  });

  it('deleting the policy garbage-collects what it owns', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const { manager } = await setup(api);
    await settle(manager);
    expect(api.all('configmaps')).toHaveLength(1);
    await api.delete('auditpolicies', 'apps', 'chat');
    await settle(manager);
    expect([api.all('configmaps'), api.all('secrets'), api.all('persistentvolumeclaims')]).toEqual([[], [], []]);
  });

  it('a named signing Secret that is missing makes the policy not Ready until it appears', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps', { signing: { secretRef: { name: 'my-key' } }, storage: { existingClaim: 'logs' } })));
    const { manager, policies } = await setup(api);
    await settle(manager);
    let status = statusOf(api, 'apps', 'chat');
    expect(status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'SigningSecretMissing' });
    expect(status?.conditions?.[0]?.message).toContain('PersistentVolumeClaim logs');
    expect(api.peek('secrets', 'apps', 'llmaudit-chat-signing')).toBeUndefined();
    expect(api.all('persistentvolumeclaims')).toEqual([]);

    const key = signingKeys.generateKey('mine');
    await api.create('secrets', { metadata: { name: 'my-key', namespace: 'apps' }, data: { 'signing.key': Buffer.from(key.signerKey).toString('base64') } });
    await api.create('persistentvolumeclaims', { metadata: { name: 'logs', namespace: 'apps' }, spec: {} });
    policies.resync();
    await settle(manager);
    status = statusOf(api, 'apps', 'chat');
    expect(status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True' });
    expect(status?.publicKey).toBe(key.verifierKey);
  });
});

describe('ControllerManager: pods and workloads', () => {
  it('counts injected and labelled-but-missing pods per policy and emits one Event per missing pod', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const { manager, policies } = await setup(api);
    await api.create('pods', pod('ok-1', 'apps', { labels: { [LABEL_INJECT]: 'true' }, annotations: { [ANNOTATION_INJECTED]: 'chat' } }));
    await api.create('pods', pod('ok-2', 'apps', { labels: { [LABEL_INJECT]: 'true' }, annotations: { [ANNOTATION_INJECTED]: 'chat' } }));
    await api.create('pods', pod('bare', 'apps', { labels: { [LABEL_INJECT]: 'true' } }));
    await api.create('pods', pod('unlabelled', 'apps'));
    await api.create('pods', pod('elsewhere', 'other', { labels: { [LABEL_INJECT]: 'true' } }));
    await settle(manager);
    const status = statusOf(api, 'apps', 'chat');
    expect(status).toMatchObject({ podsInjected: 2, podsMissing: 1, missingPods: ['bare'] });
    expect(status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True' });
    expect(status?.conditions?.[1]).toMatchObject({ type: 'Degraded', status: 'True', reason: 'PodsMissingSidecar' });
    const events = () => api.all('events').filter((e) => (e.involvedObject as { name?: string }).name === 'bare');
    expect(events()).toHaveLength(1);
    expect(events()[0]).toMatchObject({ type: 'Warning', reason: 'SidecarMissing' });
    expect(events()[0]?.message).toContain('Run: kubectl delete pod bare -n apps and create it again');
    const policyEvents = () => api.all('events').filter((e) => (e.involvedObject as { kind?: string }).kind === 'AuditPolicy');
    expect(policyEvents()).toHaveLength(1);
    expect(policyEvents()[0]).toMatchObject({ type: 'Warning', reason: 'PodsMissingSidecar', involvedObject: { name: 'chat', namespace: 'apps' } });
    expect(policyEvents()[0]?.message).toMatch(/^1 pod\(s\) labelled for injection run without the llmaudit sidecar \(bare\)/);
    policies.resync();
    await settle(manager);
    expect(events()).toHaveLength(1); // rate-limited
    expect(policyEvents()).toHaveLength(1);

    await api.delete('pods', 'apps', 'bare');
    await settle(manager);
    expect(statusOf(api, 'apps', 'chat')).toMatchObject({ podsInjected: 2, podsMissing: 0 });
    expect(statusOf(api, 'apps', 'chat')?.missingPods).toBeUndefined();
    expect(statusOf(api, 'apps', 'chat')?.conditions?.[1]).toMatchObject({ type: 'Degraded', status: 'False' });
  });

  it('a Deployment\'s pod admitted without the sidecar: the Events on the pod and on the policy name its rollout restart', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const bare = pod('web-5d8c7b9f4-x2x9q', 'apps', { labels: { [LABEL_INJECT]: 'true', 'pod-template-hash': '5d8c7b9f4' } });
    bare.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8c7b9f4', uid: 'rs-1', controller: true }];
    const sts = pod('db-0', 'apps', { labels: { [LABEL_INJECT]: 'true' } });
    sts.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'sts-1', controller: true }];
    // The memory API holds no ReplicaSets and checks that an owner's uid exists: borrow a real uid.
    const anyUid = (await api.create('configmaps', { metadata: { name: 'owner-stand-in', namespace: 'apps' } })).metadata.uid ?? '';
    for (const p of [bare, sts]) {
      for (const ref of p.metadata.ownerReferences ?? []) ref.uid = anyUid;
      await api.create('pods', p);
    }
    // Both pods exist when the operator starts (the policy Event is rate-limited: one per 10 min).
    const { manager } = await setup(api);
    await settle(manager);
    const messages = api.all('events').map((e) => [(e.involvedObject as { name: string }).name, e.message as string] as const);
    expect(messages.find(([n]) => n === 'web-5d8c7b9f4-x2x9q')?.[1]).toContain('Run: kubectl rollout restart deployment/web -n apps');
    expect(messages.find(([n]) => n === 'db-0')?.[1]).toContain('Run: kubectl rollout restart statefulset/db -n apps');
    expect(messages.find(([n]) => n === 'chat')?.[1]).toBe(
      '2 pod(s) labelled for injection run without the llmaudit sidecar (db-0, web-5d8c7b9f4-x2x9q); their LLM traffic is not recorded. Run: kubectl rollout restart deployment/web -n apps; kubectl rollout restart statefulset/db -n apps',
    );
  });

  it('labels the pod template of an annotated Deployment and removes the label when the annotation goes', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    await api.create('auditpolicies', asObject(testPolicy('other', 'apps')));
    const { manager } = await setup(api);
    await api.create('deployments', deployment('web', 'apps', { [LABEL_INJECT]: 'true', [LABEL_POLICY]: 'chat' }));
    await settle(manager);
    let d = api.peek('deployments', 'apps', 'web') as KubeObject;
    const tmpl = () => (d.spec as { template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } } }).template.metadata;
    expect(tmpl().labels).toEqual({ app: 'web', [LABEL_INJECT]: 'true' });
    expect(tmpl().annotations).toEqual({ [LABEL_POLICY]: 'chat' });
    expect(d.metadata.annotations?.[ANNOTATION_TEMPLATE_MANAGED]).toBe('true');
    expect(d.metadata.generation).toBe(2); // the template changed: a rollout
    expect(statusOf(api, 'apps', 'chat')?.workloads).toBe(1);
    expect(statusOf(api, 'apps', 'other')?.workloads).toBe(0);

    await api.patch('deployments', 'apps', 'web', { metadata: { annotations: { [LABEL_INJECT]: null, [LABEL_POLICY]: null } } }, { type: 'merge' });
    await settle(manager);
    d = api.peek('deployments', 'apps', 'web') as KubeObject;
    expect(tmpl().labels).toEqual({ app: 'web' });
    expect(tmpl().annotations ?? {}).toEqual({});
    expect(d.metadata.annotations?.[ANNOTATION_TEMPLATE_MANAGED]).toBeUndefined();
    expect(statusOf(api, 'apps', 'chat')?.workloads).toBe(0);
  });

  it('labels a StatefulSet too, leaves a template label the user wrote alone, and counts annotation opt-ins', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const { manager } = await setup(api);
    const sts = { ...deployment('db', 'apps', { [LABEL_INJECT]: 'true' }), apiVersion: 'apps/v1', kind: 'StatefulSet' };
    await api.create('statefulsets', sts);
    await api.create('deployments', deployment('own', 'apps', {}, { app: 'own', [LABEL_INJECT]: 'true' }));
    await settle(manager);
    const labelsOf = (o: KubeObject | undefined) => (o?.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    expect(labelsOf(api.peek('statefulsets', 'apps', 'db'))).toEqual({ app: 'db', [LABEL_INJECT]: 'true' });
    expect(api.writes.filter((w) => w.resource === 'deployments' && w.op === 'patch')).toEqual([]);
    expect(labelsOf(api.peek('deployments', 'apps', 'own'))).toEqual({ app: 'own', [LABEL_INJECT]: 'true' });
    // Workloads are cached as metadata only: status.workloads counts the annotation opt-ins.
    expect(statusOf(api, 'apps', 'chat')?.workloads).toBe(1);
  });
});
