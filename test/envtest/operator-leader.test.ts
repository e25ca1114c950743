// Leader election on a real Lease when the leader's API server connection hangs: a TCP proxy in
// front of kube-apiserver stops forwarding (connections stay open, nothing moves, nothing fails),
// as a half-dead load balancer or network partition does. The leader must stop its controllers
// at the renew deadline, before the lease can expire for the other replica, which then leads.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunConfig } from '../../operator/src/config/run-config.ts';
import type { Log } from '../../operator/src/controllers/types.ts';
import { ClientNodeKubeApi } from '../../operator/src/kube/client-node-api.ts';
import { createOperatorMetrics } from '../../operator/src/metrics.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import { renderChart, repoRoot } from '../support/helm.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, kubectlWaitEstablished, startEnvtest, type Envtest } from './harness.ts';

const run = promisify(execFile);
const NS = 'llmaudit-system';

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

/** A TCP forwarder that can freeze: after freeze() no byte moves in either direction and new connections are accepted but never connected onward. */
async function freezableProxy(target: URL): Promise<{ url: string; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (frozen) return;
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('data', (d: Buffer) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!frozen) client.write(d);
    });
    client.on('end', () => !frozen && upstream.end());
    upstream.on('end', () => !frozen && client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    freeze: () => (frozen = true),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(envtestAssets() === undefined)('leader election on a real Lease (envtest)', () => {
  let env: Envtest;
  let token: string;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    env = await startEnvtest();
    const chart = await renderChart([], NS);
    await env.createNamespace(NS);
    const objects = chart.filter((o) => ['CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));
    const file = path.join(env.dir, 'install.yaml');
    await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
    const kubectl = path.join(repoRoot, '.tools/bin/kubectl');
    await run(kubectl, ['--kubeconfig', env.kubeconfig, 'apply', '--server-side', '-f', file], { cwd: repoRoot });
    await kubectlWaitEstablished(env, kubectl, 'auditpolicies.llmaudit.dev');
    token = await env.serviceAccountToken(NS, chart.find((o) => o.kind === 'ServiceAccount')!.metadata.name);
  }, 90_000);

  afterAll(async () => {
    for (const s of stops.reverse()) await s();
    await env?.stop();
  });

  async function replica(identity: string, server: string, timeline: string[]): Promise<RunningOperator> {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'envtest', server, caData: Buffer.from(env.caPem).toString('base64') }],
      users: [{ name: 'operator', token }],
      contexts: [{ name: 'operator', cluster: 'envtest', user: 'operator' }],
      currentContext: 'operator',
    });
    const log: Log = {
      debug: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      info: (_obj, msg) => {
        if (msg === 'started leading' || msg === 'stopped leading') timeline.push(`${identity} ${msg}`);
      },
    };
    const op = await startOperator({
      api: new ClientNodeKubeApi(kc),
      config: parseRunConfig({ healthPort: '0', webhookPort: '0' }, { POD_NAMESPACE: NS, POD_NAME: identity }),
      log,
      metrics: createOperatorMetrics({ defaultMetrics: false }),
      startWebhook: false,
      // client-go's 15/10/2 s, scaled down.
      election: { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 500 },
    });
    stops.push(() => op.close());
    return op;
  }

  it('a leader cut off by a frozen connection stops its controllers before the lease expires; the other replica leads only after', async () => {
    const proxy = await freezableProxy(new URL(env.url));
    stops.push(proxy.close);
    const timeline: string[] = [];
    const a = await replica('operator-a', proxy.url, timeline);
    await eventually(async () => (a.isLeader() ? true : undefined), 'operator-a leads');
    const b = await replica('operator-b', env.url, timeline);
    await eventually(async () => ((await env.api<{ spec: { holderIdentity: string } }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/llmaudit-operator`)).body.spec.holderIdentity === 'operator-a' ? true : undefined), 'the Lease held by operator-a');

    proxy.freeze();
    await eventually(async () => (!a.isLeader() ? true : undefined), 'operator-a steps down', 20_000);
    expect(a.controllers()).toBeUndefined();
    expect(b.isLeader()).toBe(false);
    await eventually(async () => (b.isLeader() ? true : undefined), 'operator-b leads', 20_000);
    // The order is the safety property: operator-a was down before operator-b came up.
    expect(timeline).toEqual(['operator-a started leading', 'operator-a stopped leading', 'operator-b started leading']);
    const lease = await env.api<{ spec: { holderIdentity: string; leaseTransitions: number } }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/llmaudit-operator`);
    expect(lease.body.spec).toMatchObject({ holderIdentity: 'operator-b', leaseTransitions: 1 });
  }, 60_000);
});
