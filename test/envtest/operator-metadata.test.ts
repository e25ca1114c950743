// The operator caches Deployments and StatefulSets as metadata only: checked against a real
// kube-apiserver (what it answers to the PartialObjectMetadata Accept header, list and watch), and
// end to end with the operator under the chart's RBAC — its workload cache holds no spec, no
// status, no managedFields, yet an annotated Deployment's pod template still gets its label.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunConfig } from '../../operator/src/config/run-config.ts';
import { silentLog } from '../../operator/src/controllers/types.ts';
import { ClientNodeKubeApi } from '../../operator/src/kube/client-node-api.ts';
import type { WatchEvent } from '../../operator/src/kube/types.ts';
import { createOperatorMetrics } from '../../operator/src/metrics.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import { renderChart, repoRoot, type K8sObject } from '../support/helm.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, kubectlWaitEstablished, startEnvtest, type Envtest } from './harness.ts';
import { auditPolicyCrd } from '../../operator/src/api/crd.ts';

const run = promisify(execFile);
const kubectlBin = path.join(repoRoot, '.tools/bin/kubectl');
const NS = 'llmaudit-system';
const APP_NS = 'shop';

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

const deployment = (name: string, annotations: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"blob"}', ...annotations }, labels: { app: name } },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'ghcr.io/example/app:1' }] } },
  },
});

describe.skipIf(envtestAssets() === undefined)('operator workload cache on a real API server (envtest)', () => {
  let env: Envtest;
  let kc: KubeConfig;
  let operator: RunningOperator | undefined;

  beforeAll(async () => {
    env = await startEnvtest();
    const chart = await renderChart([], NS);
    const file = path.join(env.dir, 'setup.yaml');
    // The CRD as JSON, straight from its source (operator/src/api/crd.ts).
    const crd = await env.api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', auditPolicyCrd());
    expect(crd.status).toBe(201);
    await kubectlWaitEstablished(env, kubectlBin, 'auditpolicies.llmaudit.dev');
    await env.createNamespace(NS);
    await env.createNamespace(APP_NS);
    const rbac: K8sObject[] = chart.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));
    await writeFile(file, rbac.map((o) => stringify(o)).join('---\n'));
    await run(kubectlBin, ['--kubeconfig', env.kubeconfig, 'apply', '--server-side', '-f', file], { cwd: repoRoot });
    const sa = chart.find((o) => o.kind === 'ServiceAccount')!.metadata.name;
    kc = new KubeConfig();
    kc.loadFromFile(await env.kubeconfigFor(await env.serviceAccountToken(NS, sa), 'operator'));
  }, 90_000);

  afterAll(async () => {
    await operator?.close();
    await env?.stop();
  });

  it('the API server answers the metadata-only Accept header with PartialObjectMetadataList, and metadata-only watch events', async () => {
    const api = new ClientNodeKubeApi(kc);
    await env.api('POST', `/apis/apps/v1/namespaces/${APP_NS}/deployments`, deployment('probe'));
    const list = await api.list('deployments', { namespace: APP_NS, metadataOnly: true, limit: 10 });
    expect([list.apiVersion, list.kind]).toEqual(['meta.k8s.io/v1', 'PartialObjectMetadataList']);
    const probe = list.items.find((o) => o.metadata.name === 'probe');
    expect(probe && Object.keys(probe).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
    expect([probe?.apiVersion, probe?.kind]).toEqual(['meta.k8s.io/v1', 'PartialObjectMetadata']);
    // The same request without the header gets whole Deployments: the header is what makes the difference.
    const full = await api.list('deployments', { namespace: APP_NS, limit: 10 });
    expect([full.kind, full.items.find((o) => o.metadata.name === 'probe')?.spec]).toEqual(['DeploymentList', expect.objectContaining({ replicas: 0 })]);

    const watch = await api.watch('deployments', { namespace: APP_NS, resourceVersion: list.resourceVersion, metadataOnly: true });
    await env.api('PATCH', `/apis/apps/v1/namespaces/${APP_NS}/deployments/probe`, { spec: { replicas: 2 } }, { contentType: 'application/merge-patch+json' });
    let event: WatchEvent | undefined;
    for await (const ev of watch) {
      event = ev;
      break;
    }
    watch.close();
    expect(event?.type).toBe('MODIFIED');
    expect(event && Object.keys(event.object).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
    expect(event?.object.kind).toBe('PartialObjectMetadata');
    await env.api('DELETE', `/apis/apps/v1/namespaces/${APP_NS}/deployments/probe`);
  });

  it('caches workloads without spec, status or managedFields, and still labels an annotated Deployment\'s pod template (chart RBAC)', async () => {
    await env.api('POST', `/apis/apps/v1/namespaces/${APP_NS}/deployments`, deployment('plain'));
    await env.api('POST', `/apis/llmaudit.dev/v1alpha1/namespaces/${APP_NS}/auditpolicies`, {
      apiVersion: 'llmaudit.dev/v1alpha1',
      kind: 'AuditPolicy',
      metadata: { name: 'default' },
      spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] },
    });
    operator = await startOperator({
      api: new ClientNodeKubeApi(kc),
      config: parseRunConfig({ healthPort: '0', leaderElect: 'false', sidecarImage: 'ghcr.io/llmaudit/sidecar:test' }, { POD_NAMESPACE: NS, POD_NAME: 'operator-meta' }),
      log: silentLog,
      metrics: createOperatorMetrics({ defaultMetrics: false }),
      startWebhook: false,
    });
    const running = operator;
    await env.api('POST', `/apis/apps/v1/namespaces/${APP_NS}/deployments`, deployment('chat', { 'llmaudit.dev/inject': 'true' }));
    const template = await eventually(async () => {
      const d = (await env.api<{ spec: { template: { metadata: { labels: Record<string, string> } } } }>('GET', `/apis/apps/v1/namespaces/${APP_NS}/deployments/chat`)).body;
      return d.spec.template.metadata.labels['llmaudit.dev/inject'] === 'true' ? d.spec.template.metadata : undefined;
    }, 'the pod template label');
    expect(template.labels).toEqual({ app: 'chat', 'llmaudit.dev/inject': 'true' });

    const cached = await eventually(async () => {
      // The template patch reaches the cache by its own watch event, after the GET above can see it.
      const list = running.controllers()?.cachedWorkloads('deployments') ?? [];
      const chat = list.find((w) => w.metadata.name === 'chat');
      return list.length === 2 && chat?.metadata.annotations?.['llmaudit.dev/template-managed'] === 'true' ? list : undefined;
    }, 'both Deployments cached, the patched one as patched');
    for (const w of cached) {
      expect(Object.keys(w).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
      expect(w.metadata).not.toHaveProperty('managedFields');
      expect(w.metadata).not.toHaveProperty('labels');
    }
    const byName = new Map(cached.map((w) => [w.metadata.name, w]));
    // Only our annotations are kept: no last-applied-configuration (a copy of the whole spec).
    expect(byName.get('plain')?.metadata.annotations).toBeUndefined();
    expect(byName.get('chat')?.metadata.annotations).toEqual({ 'llmaudit.dev/inject': 'true', 'llmaudit.dev/template-managed': 'true' });
    const status = await eventually(async () => {
      const s = (await env.api<{ status?: { workloads?: number } }>('GET', `/apis/llmaudit.dev/v1alpha1/namespaces/${APP_NS}/auditpolicies/default`)).body.status;
      return s?.workloads === 1 ? s : undefined;
    }, 'status.workloads = 1');
    expect(status.workloads).toBe(1);
  });
});
