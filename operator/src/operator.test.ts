import { afterEach, describe, expect, it } from 'vitest';
import { parseRunConfig } from './config/run-config.ts';
import { silentLog } from './controllers/types.ts';
import { MemoryKubeApi } from './kube/memory-api.ts';
import { createOperatorMetrics } from './metrics.ts';
import { startOperator, type RunningOperator, type WebhookContext } from './operator.ts';
import { eventually } from './testing/event-recorder.ts';
import { asObject, testPolicy } from './testing/fixtures.ts';

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
      return { close: async () => {} };
    },
    election: { leaseDurationMs: 2000, renewDeadlineMs: 1000, retryPeriodMs: 10 },
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
  });

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
    const op = await startOperator({ api, config, log: silentLog, metrics: createOperatorMetrics({ defaultMetrics: false }) });
    running.push(op);
    expect(op.isLeader()).toBe(true);
    await eventually(() => api.peek('configmaps', 'apps', 'llmaudit-chat-config') !== undefined);
    expect(api.all('leases')).toEqual([]);
  });
});
