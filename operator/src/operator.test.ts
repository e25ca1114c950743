import https from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { LABEL_INJECT } from './api/names.ts';
import path from 'node:path';
import { parseRunConfig } from './config/run-config.ts';
import { silentLog } from './controllers/types.ts';
import { MemoryKubeApi } from './kube/memory-api.ts';
import { createOperatorMetrics } from './metrics.ts';
import { startOperator, type RunningOperator, type WebhookContext } from './operator.ts';
import { eventually } from './testing/event-recorder.ts';
import { asObject, deployment, pod, testPolicy } from './testing/fixtures.ts';
import { contractGrants, recordRbac } from './testing/rbac-recorder.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { ClientNodeKubeApi } from './kube/client-node-api.ts';
import type { Log } from './controllers/types.ts';
import { serveMemoryApi } from './testing/memory-api-server.ts';

// Regression: with a 2 s lease and a 1 s renew deadline, an event loop starved for a second on a
// loaded machine made the leader step down mid-test ("exactly one reconciles" then failed).
// Handovers in these tests come from the leader releasing the lease on close, never from expiry,
// so long durations cost nothing.
const ELECTION = { leaseDurationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 10 };

const running: RunningOperator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((o) => o.close()));
});

async function replica(api: MemoryKubeApi, identity: string, webhookCtx: WebhookContext[] = []): Promise<RunningOperator> {
  const config = parseRunConfig({ healthPort: '0', webhookPort: '0' }, { POD_NAMESPACE: 'llmaudit', POD_NAME: identity });
  const op = await startOperator({
    api,
    config,
    log: silentLog,
    metrics: createOperatorMetrics({ defaultMetrics: false }),
    startWebhook: async (ctx) => {
      webhookCtx.push(ctx);
      return { close: async () => {}, ready: () => true, leadershipChanged: () => {} };
    },
    election: ELECTION,
    watch: { resyncMs: 0 },
  });
  running.push(op);
  return op;
}

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

describe('startOperator', () => {
  it('a leader whose API server hangs stops its controllers at the renew deadline; the other replica leads only after', async () => {
    // Regression: a renew request that never answered kept the leader leading (the deadline was
    // checked only when a request returned) while the lease expired and another replica took it.
    const mem = new MemoryKubeApi();
    await mem.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const timeline: string[] = [];
    const fronts: Awaited<ReturnType<typeof serveMemoryApi>>[] = [];
    const start = async (identity: string): Promise<RunningOperator> => {
      const front = await serveMemoryApi(mem);
      fronts.push(front);
      const kc = new KubeConfig();
      kc.loadFromOptions({ clusters: [{ name: 'c', server: front.url, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
      const log: Log = { ...silentLog, info: (obj, msg) => (msg === 'started leading' || msg === 'stopped leading' ? timeline.push(`${identity} ${msg}`) : undefined) };
      const op = await startOperator({
        api: new ClientNodeKubeApi(kc),
        config: parseRunConfig({ healthPort: '0', webhookPort: '0' }, { POD_NAMESPACE: 'llmaudit', POD_NAME: identity }),
        log,
        metrics: createOperatorMetrics({ defaultMetrics: false }),
        startWebhook: false,
        // Real HTTP, real time: short enough for a test, the same ratios as client-go's 15/10/2 s.
        election: { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 400 },
        watch: { resyncMs: 0 },
      });
      running.push(op);
      return op;
    };
    try {
      const a = await start('op-a');
      await eventually(() => a.isLeader());
      const b = await start('op-b');
      await eventually(() => mem.peek('configmaps', 'apps', 'llmaudit-chat-config') !== undefined);
      // a's API server stops answering anything (requests are read, never answered).
      fronts[0]!.hold = () => true;
      await eventually(() => !a.isLeader());
      expect(a.controllers()).toBeUndefined();
      expect(b.isLeader()).toBe(false);
      await eventually(() => b.isLeader());
      expect(timeline).toEqual(['op-a started leading', 'op-a stopped leading', 'op-b started leading']);
      expect(mem.peek('leases', 'llmaudit', 'llmaudit-operator')?.spec).toMatchObject({ holderIdentity: 'op-b', leaseTransitions: 1 });
      // b's controllers do the work now.
      await mem.create('auditpolicies', asObject(testPolicy('batch', 'apps')));
      await eventually(() => mem.peek('configmaps', 'apps', 'llmaudit-batch-config') !== undefined);
    } finally {
      await Promise.all(running.splice(0).map((o) => o.close()));
      await Promise.all(fronts.map((f) => f.close()));
    }
  }, 30_000);

  it('serves health, readiness and metrics; exactly one of two replicas reconciles; the other takes over on shutdown', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const a = await replica(api, 'op-a');
    await eventually(() => a.isLeader());
    const b = await replica(api, 'op-b');

    expect(await get(a.healthPort, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    await eventually(async () => (await get(b.healthPort, '/readyz')).status === 200);
    const metrics = await get(a.healthPort, '/metrics');
    expect(metrics.body).toMatch(/^llmaudit_operator_leader 1$/m);
    expect((await get(b.healthPort, '/metrics')).body).toMatch(/^llmaudit_operator_leader 0$/m);
    expect((await get(a.healthPort, '/nope')).status).toBe(404);

    await eventually(() => api.peek('configmaps', 'apps', 'llmaudit-chat-config') !== undefined);
    expect(b.isLeader()).toBe(false);
    expect(b.controllers()).toBeUndefined();

    await a.close();
    await eventually(() => b.isLeader());
    await api.create('auditpolicies', asObject(testPolicy('batch', 'apps')));
    await eventually(() => api.peek('configmaps', 'apps', 'llmaudit-batch-config') !== undefined);
    const lease = api.peek('leases', 'llmaudit', 'llmaudit-operator');
    expect(lease?.spec).toMatchObject({ holderIdentity: 'op-b', leaseTransitions: 1 });
  }, 120_000);

  it('gives the webhook a policy lookup over the cache on every replica, leader or not', async () => {
    const api = new MemoryKubeApi();
    const leader = await replica(api, 'op-a');
    await eventually(() => leader.isLeader());
    const ctxs: WebhookContext[] = [];
    const follower = await replica(api, 'op-b', ctxs);
    const ctx = ctxs[0];
    if (ctx === undefined) throw new Error('webhook not started');
    expect(ctx.lookupPolicy('apps')).toBeUndefined();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    await eventually(() => ctx.lookupPolicy('apps') !== undefined);
    expect(ctx.lookupPolicy('apps')?.metadata.name).toBe('chat');
    expect(ctx.lookupPolicy('apps', 'chat')?.metadata.name).toBe('chat');
    expect(ctx.lookupPolicy('apps', 'other')).toBeUndefined();
    await api.create('auditpolicies', asObject(testPolicy('batch', 'apps')));
    await eventually(() => ctx.lookupPolicy('apps', 'batch') !== undefined);
    expect(ctx.lookupPolicy('apps')).toBeUndefined(); // two policies, none named default
    expect(follower.isLeader()).toBe(false);
  });

  it('without leader election the single replica reconciles at once', async () => {
    const api = new MemoryKubeApi();
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const config = parseRunConfig({ healthPort: '0', leaderElect: 'false' }, { POD_NAMESPACE: 'llmaudit' });
    const op = await startOperator({ api, config, log: silentLog, metrics: createOperatorMetrics({ defaultMetrics: false }), startWebhook: false });
    running.push(op);
    expect(op.isLeader()).toBe(true);
    await eventually(() => api.peek('configmaps', 'apps', 'llmaudit-chat-config') !== undefined);
    expect(api.all('leases')).toEqual([]);
  });

  it('runs the real HTTPS webhook on every replica: the leader issues the certificate and patches the caBundle, a follower serves injections', async () => {
    const api = new MemoryKubeApi({ version: { major: '1', minor: '31' } });
    // Every call the replicas make is checked against the RBAC operator/CONTRACT.md grants.
    const rbac = recordRbac(api);
    await api.create('mutatingwebhookconfigurations', { metadata: { name: 'llmaudit-sidecar-injector' }, webhooks: [{ name: 'pods.llmaudit.dev', clientConfig: { service: { name: 'llmaudit-webhook', namespace: 'llmaudit', path: '/mutate-v1-pod' } } }] });
    await api.create('auditpolicies', asObject(testPolicy('chat', 'apps')));
    const start = async (identity: string) => {
      const config = parseRunConfig({ healthPort: '0', webhookPort: '0', sidecarImage: 'llmaudit-sidecar:test' }, { POD_NAMESPACE: 'llmaudit', POD_NAME: identity });
      const op = await startOperator({
        api: rbac.api, config, log: silentLog, metrics: createOperatorMetrics({ defaultMetrics: false }),
        election: ELECTION,
        webhookOptions: { certs: { intervalMs: 20 } },
        watch: { resyncMs: 0 },
      });
      running.push(op);
      return op;
    };
    const leader = await start('op-a');
    await eventually(() => leader.isLeader());
    const follower = await start('op-b');
    await eventually(async () => (await get(follower.healthPort, '/readyz')).status === 200, 60_000);

    const secret = api.peek('secrets', 'llmaudit', 'llmaudit-webhook-tls');
    expect(secret?.type).toBe('kubernetes.io/tls');
    const ca = Buffer.from((secret?.data as Record<string, string>)['ca.crt'] ?? '', 'base64').toString();
    const mwc = api.peek('mutatingwebhookconfigurations', undefined, 'llmaudit-sidecar-injector');
    const caBundle = (mwc?.webhooks as { clientConfig: { caBundle?: string } }[])[0]?.clientConfig.caBundle;
    expect(Buffer.from(caBundle ?? '', 'base64').toString()).toContain(ca.trim());

    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'apps',
        object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'chat-1', namespace: 'apps', labels: { [LABEL_INJECT]: 'true' } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } },
      },
    };
    const answer = await new Promise<{ response: { uid: string; allowed: boolean; patchType?: string; patch?: string } }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: follower.webhookPort, path: '/mutate-v1-pod', method: 'POST', ca, servername: 'llmaudit-webhook.llmaudit.svc', headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      });
      req.on('error', reject);
      req.end(JSON.stringify(review));
    });
    expect(answer.response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    expect(Buffer.from(answer.response.patch ?? '', 'base64').toString()).toContain('llmaudit-sidecar:test');
    expect(follower.isLeader()).toBe(false);

    // Exercise the remaining writers (workload patch, status, Events) before checking RBAC.
    await api.create('deployments', deployment('web', 'apps', { [LABEL_INJECT]: 'true' }));
    await api.create('pods', pod('bare', 'apps', { labels: { [LABEL_INJECT]: 'true' } }));
    await eventually(() => api.all('events').length > 0 && (api.peek('auditpolicies', 'apps', 'chat')?.status as { workloads?: number } | undefined)?.workloads === 1);
    const granted = contractGrants(path.join(import.meta.dirname, '..', 'CONTRACT.md'));
    expect([...rbac.used].filter((u) => !granted.has(u)).sort()).toEqual([]);
    expect([...rbac.used].sort()).toEqual(expect.arrayContaining(['update coordination.k8s.io/leases', 'patch llmaudit.dev/auditpolicies/status', 'patch apps/deployments', 'create /events', 'patch admissionregistration.k8s.io/mutatingwebhookconfigurations']));
  }, 120_000);
});
