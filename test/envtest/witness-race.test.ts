// Two witness replicas racing on one head, against a real kube-apiserver: its resourceVersion
// compare-and-swap must keep them from ever cosigning two different trees of the same size.
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSignerKey } from '@llmaudit/sidecar/auditlog';
import type { AuditPolicy } from '../../operator/src/api/audit-policy.ts';
import { auditPolicyCrd } from '../../operator/src/api/crd.ts';
import { ClientNodeKubeApi } from '../../operator/src/kube/client-node-api.ts';
import { HeadStore } from '../../operator/src/witness/head-store.ts';
import { headsConfigMapName, readHeads } from '../../operator/src/witness/heads.ts';
import { testLog } from '../../operator/src/witness/test-log.ts';
import { ensureWitnessKey } from '../../operator/src/witness/witness-key.ts';
import { createWitnessMetrics } from '../../operator/src/witness/witness-metrics.ts';
import { startWitnessServer, type WitnessServer } from '../../operator/src/witness/witness-server.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, startEnvtest, type Envtest } from './harness.ts';

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

const NS = 'race';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

describe.skipIf(envtestAssets() === undefined)('witness replicas on a real API server', () => {
  let env: Envtest;
  const servers: WitnessServer[] = [];

  beforeAll(async () => {
    env = await startEnvtest();
    await env.createNamespace(NS);
    expect((await env.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', auditPolicyCrd())).status).toBe(201);
    await eventually(async () => ((await env.api('GET', `/apis/llmaudit.dev/v1alpha1/namespaces/${NS}/auditpolicies`)).status === 200 ? true : undefined), 'the CRD is served');
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) await s.close();
    await env?.stop();
  });

  it('never cosign two different heads for one size, and end on the head whose write won', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubeconfig);
    // Each replica has its own client, as two operator pods would.
    const apis = [new ClientNodeKubeApi(kc), new ClientNodeKubeApi(kc)];
    const keys = generateSignerKey(`llmaudit.dev/${NS}/audit`);
    const api0 = apis[0] as ClientNodeKubeApi;
    const policy = (await api0.create('auditpolicies', { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'audit', namespace: NS }, spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] } })) as unknown as AuditPolicy;
    await api0.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'llmaudit-audit-signing', namespace: NS }, data: { 'signing.key': Buffer.from(keys.signerKey).toString('base64') } });
    const cosigner = await ensureWitnessKey(api0, NS);
    for (const api of apis) {
      servers.push(await startWitnessServer({ api, store: new HeadStore({ api, cosigner }), lookupPolicy: () => policy, emitEvent: async () => undefined, metrics: createWitnessMetrics(new Registry()), log: silent, port: 0, host: '127.0.0.1' }));
    }
    const origin = `llmaudit.dev/${NS}/agent-0/uid-0`;
    const base = testLog(origin, keys);
    base.grow(4);
    const push = async (i: number, body: string) => request(`http://127.0.0.1:${(servers[i] as WitnessServer).port}/${NS}/audit/add-checkpoint`, { method: 'POST', body }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
    expect((await push(0, await base.body(0))).status).toBe(200);

    let size = 4;
    for (let round = 0; round < 10; round++) {
      // Two forks of the log at the same size, one sent to each replica at the same moment.
      const forks = [0, 1].map((i) => {
        const f = testLog(origin, keys);
        f.leaves.push(...base.leaves);
        f.grow(3, `round${round}-${i}`);
        return f;
      });
      const answers = await Promise.all(forks.map(async (f, i) => push(i, await f.body(size))));
      const won = answers.map((a, i) => (a.status === 200 ? i : -1)).filter((i) => i >= 0);
      expect(won.length, JSON.stringify(answers)).toBe(1);
      const winner = forks[won[0] as number];
      const head = readHeads(await api0.get('configmaps', NS, headsConfigMapName('audit')))[origin];
      expect(head?.rootHash).toBe(winner?.root().toString('base64'));
      // The loser learns the witness moved on: 409 with the new size (and the fork is recorded).
      expect(answers[1 - (won[0] as number)]).toMatchObject({ status: 409, text: `${size + 3}\n` });
      base.leaves.splice(0, base.leaves.length, ...(winner?.leaves ?? []));
      size += 3;
    }
    expect(readHeads(await api0.get('configmaps', NS, headsConfigMapName('audit')))[origin]?.refused).toMatchObject({ kind: 'fork' });
  }, 60_000);
});
