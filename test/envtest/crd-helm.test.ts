// `helm install` of the chart on a real kube-apiserver: helm creates the AuditPolicy CRD from
// crds/ before the templates, so the chart's own AuditPolicy (defaultPolicy) is admitted by the
// CRD's schema and CEL rules. No kubelet runs here: the operator Deployment just stays Pending.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuditPolicy } from '../../operator/src/api/parse-policy.ts';
import { chartDir, helm } from '../support/helm.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, startEnvtest, type Envtest } from './harness.ts';

if (envtestAssets() === undefined) console.log(ENVTEST_SKIP_REASON);

const NS = 'llmaudit-system';
const openai = { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' };

describe.skipIf(envtestAssets() === undefined)('helm install on a real API server', () => {
  let env: Envtest;

  beforeAll(async () => {
    env = await startEnvtest();
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  const install = (release: string, namespace: string, ...args: string[]) =>
    helm(['install', release, chartDir, '--kubeconfig', env.kubeconfig, '--namespace', namespace, '--create-namespace', ...args]);

  it('installs the CRD first, then admits the chart AuditPolicy with the API server defaults', async () => {
    const { stdout } = await install('llmaudit', NS, '--set', 'defaultPolicy.enabled=true', '--set-json', `defaultPolicy.spec=${JSON.stringify({ endpoints: [openai] })}`);
    expect(stdout).toContain('STATUS: deployed');
    const crd = await env.api<{ status: { conditions: { type: string; status: string }[] } }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/auditpolicies.llmaudit.dev');
    expect(crd.status).toBe(200);
    expect(crd.body.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Established', status: 'True' })]));
    const ap = await env.api<{ spec: unknown }>('GET', `/apis/llmaudit.dev/v1alpha1/namespaces/${NS}/auditpolicies/default`);
    expect(ap.status).toBe(200);
    const expected = parseAuditPolicy({ apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'default' }, spec: { endpoints: [openai] } });
    expect(ap.body.spec).toEqual(expected.spec);
  });

  it('a chart AuditPolicy a CEL rule refuses fails the install with the API server message', async () => {
    const bad = { endpoints: [openai], sidecar: { ports: { proxy: 9090 } } };
    const err = await install('llmaudit-bad', 'llmaudit-bad', '--set', 'defaultPolicy.enabled=true', '--set-json', `defaultPolicy.spec=${JSON.stringify(bad)}`).then(
      () => undefined,
      (e: unknown) => e as { stderr: string },
    );
    expect(err?.stderr).toContain('spec.sidecar.ports: Invalid value: "object": proxy and admin ports must differ');
  });
});
