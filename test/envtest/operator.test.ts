// The operator against a real kube-apiserver: installed with the chart's own RBAC (helm template →
// ServiceAccount, ClusterRole, Role, bindings) and run in-process on a kubeconfig holding that
// ServiceAccount's token, so every request it makes is authorized as in a cluster. The API server
// calls the operator's webhook for real (a MutatingWebhookConfiguration with a `url:` clientConfig
// to 127.0.0.1, TLS and caBundle from the operator's self-managed certificates). No kubelet and no
// controller-manager: pods stay Pending and are created directly.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FLAGS, parseRunConfig } from '../../operator/src/config/run-config.ts';
import type { Log } from '../../operator/src/controllers/types.ts';
import { ClientNodeKubeApi } from '../../operator/src/kube/client-node-api.ts';
import { createOperatorMetrics } from '../../operator/src/metrics.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import { renderChart, repoRoot, type K8sObject } from '../support/helm.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, kubectlWaitEstablished, startEnvtest, type Envtest } from './harness.ts';

const run = promisify(execFile);
const kubectlBin = path.join(repoRoot, '.tools/bin/kubectl');
const NS = 'llmaudit-system';
const APP_NS = 'shop';

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

interface PodOut {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { containers: { name: string }[]; initContainers?: { name: string }[] };
}
interface EventOut {
  involvedObject: { kind: string; name: string };
  reason: string;
  message: string;
}
interface PolicyStatus {
  observedGeneration?: number;
  podsInjected?: number;
  podsMissing?: number;
  missingPods?: string[];
  workloads?: number;
}

const policy = (name: string) => ({
  apiVersion: 'llmaudit.dev/v1alpha1',
  kind: 'AuditPolicy',
  metadata: { name },
  spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] },
});
const labelledPod = (name: string, labels: Record<string, string> = { 'llmaudit.dev/inject': 'true' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'chat', ...labels } },
  spec: { containers: [{ name: 'chat', image: 'ghcr.io/example/chat:1.4.2' }] },
});
const hasSidecar = (p: PodOut) => [...(p.spec.initContainers ?? []), ...p.spec.containers].some((c) => c.name === 'llmaudit');

describe.skipIf(envtestAssets() === undefined)('operator on a real API server (envtest)', () => {
  let env: Envtest;
  let chart: K8sObject[];
  let operatorKubeconfig: string;
  const replicas = new Map<string, RunningOperator>();
  /** What the operator logged at warn or error, per replica: a 403 here means the chart's RBAC lacks a verb. */
  const problems: string[] = [];

  async function kubectlApply(objects: K8sObject[], file: string): Promise<void> {
    const p = path.join(env.dir, file);
    await writeFile(p, objects.map((o) => stringify(o)).join('---\n'));
    await run(kubectlBin, ['--kubeconfig', env.kubeconfig, 'apply', '--server-side', '-f', p], { cwd: repoRoot });
  }

  /** The chart's Deployment args, as RunConfig flags. */
  function chartFlags(): Record<string, string> {
    const dep = chart.find((o) => o.kind === 'Deployment') as K8sObject & { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const byFlag = new Map(Object.entries(RUN_FLAGS).map(([k, f]) => [f, k]));
    const flags: Record<string, string> = {};
    for (const a of dep.spec.template.spec.containers[0]!.args.slice(1)) {
      const m = /^--([a-z-]+)=(.*)$/.exec(a);
      const key = m === null ? undefined : byFlag.get(m[1]!);
      if (m !== null && key !== undefined) flags[key] = m[2]!;
    }
    return flags;
  }

  async function startReplica(identity: string, webhookPort: number): Promise<RunningOperator> {
    const kc = new KubeConfig();
    kc.loadFromFile(operatorKubeconfig);
    const record = (level: string) => (obj: object, msg: string) => problems.push(`${identity} ${level} ${msg} ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`);
    const log: Log = { debug: () => undefined, info: () => undefined, warn: record('warn'), error: record('error') };
    const config = parseRunConfig(
      // The API server reaches the webhook at https://localhost:<port>: the serving certificate's
      // bare service name (one of its SANs) must then be `localhost`.
      { ...chartFlags(), webhookPort: String(webhookPort), healthPort: '0', serviceName: 'localhost' },
      { POD_NAMESPACE: NS, POD_NAME: identity },
    );
    const op = await startOperator({
      api: new ClientNodeKubeApi(kc),
      config,
      log,
      metrics: createOperatorMetrics({ defaultMetrics: false }),
      // client-go's ratios (15/10/2 s), shortened; handovers here come from a released lease.
      election: { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 300 },
    });
    replicas.set(identity, op);
    return op;
  }

  const freePort = async (): Promise<number> => {
    const { createServer } = await import('node:net');
    return new Promise((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
  };
  const get = async <T>(p: string) => (await env.api<T>('GET', p)).body;
  const statusOf = async (ns: string, name: string) => (await get<{ status?: PolicyStatus }>(`/apis/llmaudit.dev/v1alpha1/namespaces/${ns}/auditpolicies/${name}`)).status;
  const eventsIn = async (ns: string) => (await get<{ items: EventOut[] }>(`/api/v1/namespaces/${ns}/events`)).items;
  const metric = async (op: RunningOperator, line: RegExp) => Number(line.exec(await (await fetch(`http://127.0.0.1:${op.healthPort}/metrics`)).text())?.[1] ?? '0');
  let webhookPort = 0;

  beforeAll(async () => {
    env = await startEnvtest();
    chart = await renderChart([], NS);
    const crds = chart.filter((o) => o.kind === 'CustomResourceDefinition');
    await kubectlApply(crds, 'crds.yaml');
    await kubectlWaitEstablished(env, kubectlBin, 'auditpolicies.llmaudit.dev');
    await env.createNamespace(NS);
    await env.createNamespace(APP_NS);
    // Exactly the chart's identity and RBAC.
    await kubectlApply(chart.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind)), 'rbac.yaml');
    // The chart's webhook configuration, pointed at the operator in this process instead of its Service.
    webhookPort = await freePort();
    const mwc = structuredClone(chart.find((o) => o.kind === 'MutatingWebhookConfiguration')) as K8sObject & { webhooks: { clientConfig: unknown; namespaceSelector: unknown }[] };
    for (const w of mwc.webhooks) w.clientConfig = { url: `https://localhost:${webhookPort}/mutate-v1-pod` };
    await kubectlApply([mwc], 'webhook.yaml');
    const sa = chart.find((o) => o.kind === 'ServiceAccount')!.metadata.name;
    operatorKubeconfig = await env.kubeconfigFor(await env.serviceAccountToken(NS, sa), 'operator');
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...replicas.values()].map((r) => r.close()));
    await env?.stop();
  });

  it('runs under the chart\'s RBAC: leads, issues its webhook certificate and patches the caBundle, reconciles a policy into status', async () => {
    const a = await startReplica('operator-a', webhookPort);
    await eventually(async () => (a.isLeader() ? true : undefined), 'operator-a leads');
    const lease = await get<{ spec: { holderIdentity: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/llmaudit-operator`);
    expect(lease.spec.holderIdentity).toBe('operator-a');
    await eventually(async () => ((await fetch(`http://127.0.0.1:${a.healthPort}/readyz`)).status === 200 ? true : undefined), '/readyz');
    const mwcName = chart.find((o) => o.kind === 'MutatingWebhookConfiguration')!.metadata.name;
    const caBundle = await eventually(async () => (await get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${mwcName}`)).webhooks[0]?.clientConfig.caBundle, 'the caBundle');
    expect(Buffer.from(caBundle, 'base64').toString()).toContain('BEGIN CERTIFICATE');

    expect((await env.api('POST', `/apis/llmaudit.dev/v1alpha1/namespaces/${APP_NS}/auditpolicies`, policy('default'))).status).toBe(201);
    const status = await eventually(async () => {
      const s = await statusOf(APP_NS, 'default');
      return s?.observedGeneration === 1 ? s : undefined;
    }, 'the policy status');
    expect(status).toMatchObject({ podsInjected: 0, podsMissing: 0, workloads: 0 });
    expect((await env.api('GET', `/api/v1/namespaces/${APP_NS}/configmaps/llmaudit-default-config`)).status).toBe(200);
    expect((await env.api('GET', `/api/v1/namespaces/${APP_NS}/secrets/llmaudit-default-signing`)).status).toBe(200);
  }, 60_000);

  it('a Pod created through the API server comes back with the sidecar: the API server called the operator\'s webhook over TLS', async () => {
    const created = await env.api<PodOut>('POST', `/api/v1/namespaces/${APP_NS}/pods`, labelledPod('chat-1'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(hasSidecar(created.body)).toBe(true);
    expect(created.body.metadata.annotations?.['llmaudit.dev/injected']).toBe('default');
    // Unlabelled pods are not sent to the webhook at all (objectSelector).
    const plain = await env.api<PodOut>('POST', `/api/v1/namespaces/${APP_NS}/pods`, labelledPod('plain', {}));
    expect(hasSidecar(plain.body)).toBe(false);
  }, 30_000);

  it('a dry-run Pod create is injected too and leaves no trace: no Event, no count', async () => {
    const a = replicas.get('operator-a')!;
    const noPolicy = /^llmaudit_operator_injections_total\{result="no_policy"\} (\d+)$/m;
    const injected = /^llmaudit_operator_injections_total\{result="injected"\} (\d+)$/m;
    const before = { injected: await metric(a, injected), noPolicy: await metric(a, noPolicy) };
    const dry = await env.api<PodOut>('POST', `/api/v1/namespaces/${APP_NS}/pods`, labelledPod('dry-injected'), { query: { dryRun: 'All' } });
    expect(dry.status).toBe(201);
    expect(hasSidecar(dry.body)).toBe(true);
    const dryRefused = await env.api<PodOut>('POST', `/api/v1/namespaces/${APP_NS}/pods`, labelledPod('dry-refused', { 'llmaudit.dev/inject': 'true', 'llmaudit.dev/policy': 'nope' }), { query: { dryRun: 'All' } });
    expect(dryRefused.status).toBe(201);
    expect(hasSidecar(dryRefused.body)).toBe(false);
    // The same refusal for real does emit its Event: once it is there, the dry run's would be too.
    await env.api('POST', `/api/v1/namespaces/${APP_NS}/pods`, labelledPod('real-refused', { 'llmaudit.dev/inject': 'true', 'llmaudit.dev/policy': 'nope' }));
    await eventually(async () => ((await eventsIn(APP_NS)).some((e) => e.involvedObject.name === 'real-refused' && e.reason === 'AuditPolicyNotFound') ? true : undefined), 'the real refusal\'s Event');
    expect((await eventsIn(APP_NS)).filter((e) => e.involvedObject.name.startsWith('dry-'))).toEqual([]);
    expect(await metric(a, injected)).toBe(before.injected);
    expect(await metric(a, noPolicy)).toBe(before.noPolicy + 1);
    expect((await env.api('GET', `/api/v1/namespaces/${APP_NS}/pods/dry-injected`)).status).toBe(404);
  }, 30_000);

  it('labels an opted-in Deployment\'s pod template, counts injected and missing pods, and tells how to fix a missing one', async () => {
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'chat', annotations: { 'llmaudit.dev/inject': 'true' } },
      spec: { selector: { matchLabels: { app: 'chat' } }, template: { metadata: { labels: { app: 'chat' } }, spec: { containers: [{ name: 'chat', image: 'ghcr.io/example/chat:1.4.2' }] } } },
    };
    expect((await env.api('POST', `/apis/apps/v1/namespaces/${APP_NS}/deployments`, dep)).status).toBe(201);
    await eventually(async () => ((await get<{ spec: { template: { metadata: { labels: Record<string, string> } } } }>(`/apis/apps/v1/namespaces/${APP_NS}/deployments/chat`)).spec.template.metadata.labels['llmaudit.dev/inject'] === 'true' ? true : undefined), 'the template label');
    // A pod that slipped past the webhook: created unlabelled, labelled afterwards (updates are not admitted by it).
    await env.api('POST', `/api/v1/namespaces/${APP_NS}/pods`, labelledPod('late', {}));
    await env.api('PATCH', `/api/v1/namespaces/${APP_NS}/pods/late`, { metadata: { labels: { 'llmaudit.dev/inject': 'true' } } }, { contentType: 'application/merge-patch+json' });
    const status = await eventually(async () => {
      const s = await statusOf(APP_NS, 'default');
      return s?.podsMissing === 1 && s.workloads === 1 ? s : undefined;
    }, 'status counting the missing pod', 30_000);
    // chat-1 was injected by the webhook; real-refused named a policy that does not exist.
    expect(status).toMatchObject({ podsInjected: 1, podsMissing: 1, missingPods: ['late'], workloads: 1 });
    const events = await eventually(async () => {
      const all = await eventsIn(APP_NS);
      return all.some((e) => e.reason === 'PodsMissingSidecar') && all.some((e) => e.reason === 'SidecarMissing') ? all : undefined;
    }, 'the missing-sidecar Events');
    expect(events.find((e) => e.reason === 'SidecarMissing')).toMatchObject({ involvedObject: { kind: 'Pod', name: 'late' } });
    expect(events.find((e) => e.reason === 'PodsMissingSidecar')).toMatchObject({ involvedObject: { kind: 'AuditPolicy', name: 'default' } });
    expect(events.find((e) => e.reason === 'PodsMissingSidecar')?.message).toContain('Run: kubectl delete pod late -n shop');
  }, 60_000);

  it('two replicas elect one leader on the Lease; when it stops, the other takes over and reconciles', async () => {
    const a = replicas.get('operator-a')!;
    const b = await startReplica('operator-b', await freePort());
    await eventually(async () => ((await fetch(`http://127.0.0.1:${b.healthPort}/readyz`)).status === 200 ? true : undefined), 'operator-b ready');
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(b.controllers()).toBeUndefined();

    await a.close();
    replicas.delete('operator-a');
    await eventually(async () => (b.isLeader() ? true : undefined), 'operator-b leads');
    const lease = await get<{ spec: { holderIdentity: string; leaseTransitions: number } }>(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/llmaudit-operator`);
    expect(lease.spec).toMatchObject({ holderIdentity: 'operator-b', leaseTransitions: 1 });
    await env.createNamespace('bakery');
    await env.api('POST', '/apis/llmaudit.dev/v1alpha1/namespaces/bakery/auditpolicies', policy('default'));
    await eventually(async () => ((await statusOf('bakery', 'default'))?.observedGeneration === 1 ? true : undefined), 'operator-b reconciles');
  }, 60_000);

  it('logged no failure: the chart grants every verb the operator used, nothing was refused or timed out', () => {
    // The only warnings are the two pods admitted without a policy above. A 409 on the Lease is
    // optimistic concurrency during the handover (both replicas wrote the Lease), not a refusal.
    const leaseConflict = (p: string): boolean => p.includes('409 Conflict') && p.includes('leases.coordination.k8s.io');
    const seen = problems.filter((p) => !leaseConflict(p));
    expect(seen.filter((p) => !p.includes('pod admitted without the llmaudit sidecar'))).toEqual([]);
    expect(seen).toHaveLength(2);
  });
});
