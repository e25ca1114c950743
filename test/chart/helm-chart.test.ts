// The Helm chart, checked without a cluster: real `helm lint` / `helm template`, every rendered
// object validated against the Kubernetes JSON schemas (kubernetes-models; ADR 0008), hardening
// and least-privilege RBAC asserted for every values set we ship.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartDir, helm, renderChart, type K8sObject } from '../support/helm.ts';
import { validateK8sObject } from '../support/k8s-schema.ts';
import { contractGrants } from '../../operator/src/testing/rbac-recorder.ts';
import { repoRoot } from '../support/helm.ts';

const valueSets: Record<string, string[]> = {
  default: [],
  kind: ['-f', path.join(chartDir, 'ci/kind-values.yaml')],
  openshift: ['-f', path.join(chartDir, 'ci/openshift-values.yaml')],
  certManager: ['--set', 'webhook.certMode=certManager', '--set', 'webhook.namespaceSelector.enabled=true'],
  // Auto-detection: the SCC API present makes the chart render for OpenShift.
  openshiftAuto: ['--api-versions', 'security.openshift.io/v1'],
};

const rendered: Record<string, K8sObject[]> = {};
beforeAll(async () => {
  await Promise.all(
    Object.entries(valueSets).map(async ([name, args]) => {
      rendered[name] = await renderChart(args);
    }),
  );
}, 120_000); // one helm process per values set: slow on a loaded machine, never a hang

function podSpecs(objs: K8sObject[]): Array<{ where: string; spec: Record<string, any> }> {
  const out: Array<{ where: string; spec: Record<string, any> }> = [];
  for (const o of objs) {
    const where = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Pod') out.push({ where, spec: o.spec as Record<string, any> });
    const tmpl = (o.spec as { template?: { spec?: Record<string, any> } } | undefined)?.template?.spec;
    if (tmpl !== undefined) out.push({ where, spec: tmpl });
  }
  return out;
}

describe('helm lint', () => {
  // helm lint has no --api-versions flag: the auto-detection set is covered by helm template below.
  it.each(Object.keys(valueSets).filter((n) => n !== 'openshiftAuto'))('passes --strict with %s values', async (name) => {
    const { stdout } = await helm(['lint', chartDir, '--strict', ...(valueSets[name] ?? [])]);
    expect(stdout).toContain('0 chart(s) failed');
  });
});

describe('helm template', () => {
  it('the offline schema check rejects a malformed object', () => {
    const d = structuredClone((rendered.default ?? []).find((o) => o.kind === 'Deployment')) as any;
    d.spec.replicas = 'two';
    d.spec.template.spec.containers[0].ports[0].containerPort = 'web';
    expect(validateK8sObject(d).length).toBeGreaterThanOrEqual(2);
  });

  it.each(Object.keys(valueSets))('%s: every object validates against the Kubernetes schemas', (name) => {
    const objs = rendered[name] ?? [];
    expect(objs.length).toBeGreaterThan(8);
    const problems = objs.flatMap((o) => validateK8sObject(o).map((p) => `${o.kind}/${o.metadata.name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it.each(Object.keys(valueSets))('%s: every pod and container is hardened', (name) => {
    const specs = podSpecs(rendered[name] ?? []);
    expect(specs.length).toBeGreaterThanOrEqual(2); // the operator and the helm test pod
    for (const { where, spec } of specs) {
      expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
      expect(spec.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
      for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
        const sc = c.securityContext ?? {};
        const at = `${where} container ${c.name}`;
        expect(sc.runAsNonRoot, at).toBe(true);
        expect(sc.readOnlyRootFilesystem, at).toBe(true);
        expect(sc.allowPrivilegeEscalation, at).toBe(false);
        expect(sc.capabilities?.drop, at).toEqual(['ALL']);
        expect(sc.seccompProfile?.type, at).toBe('RuntimeDefault');
        expect(c.resources?.limits?.memory, at).toBeDefined();
        expect(c.resources?.requests, at).toBeDefined();
      }
    }
  });

  it.each(Object.keys(valueSets))('%s: RBAC has no wildcards', (name) => {
    const roles = (rendered[name] ?? []).filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    expect(roles.length).toBeGreaterThanOrEqual(2);
    for (const r of roles) {
      for (const rule of (r as unknown as { rules: Array<Record<string, string[] | undefined>> }).rules) {
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
          expect(rule[field] ?? [], `${r.metadata.name}.${field}`).not.toContain('*');
        }
      }
    }
  });

  // The operator's tests record every API call it makes and check it against CONTRACT.md; this
  // closes the loop: the chart grants exactly the CONTRACT.md list, nothing more, nothing less.
  it('RBAC grants exactly what operator/CONTRACT.md lists', () => {
    const granted = new Set<string>();
    for (const r of (rendered.default ?? []).filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      for (const rule of (r as any).rules as Array<Record<string, string[] | undefined>>) {
        for (const g of rule.apiGroups ?? []) for (const res of rule.resources ?? []) for (const v of rule.verbs ?? []) granted.add(`${v} ${g}/${res}`);
      }
    }
    expect([...granted].sort()).toEqual([...contractGrants(path.join(repoRoot, 'operator/CONTRACT.md'))].sort());
  });

  it('the webhook never blocks pods and excludes its own namespace and kube-system', () => {
    const hook = (rendered.default ?? []).find((o) => o.kind === 'MutatingWebhookConfiguration') as any;
    expect(hook.webhooks).toHaveLength(1);
    const w = hook.webhooks[0];
    expect(w).toMatchObject({ failurePolicy: 'Ignore', sideEffects: 'NoneOnDryRun', timeoutSeconds: 10, reinvocationPolicy: 'IfNeeded', admissionReviewVersions: ['v1'] });
    expect(w.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    expect(w.objectSelector).toEqual({ matchLabels: { 'llmaudit.dev/inject': 'true' } });
    expect(w.namespaceSelector.matchExpressions[0].values).toEqual(['kube-system', 'llmaudit-system']);
    expect(w.clientConfig.service).toMatchObject({ path: '/mutate-v1-pod', port: 443 });
  });

  it('namespace-wide injection adds a second webhook for labelled namespaces', () => {
    const hook = (rendered.certManager ?? []).find((o) => o.kind === 'MutatingWebhookConfiguration') as any;
    expect(hook.webhooks.map((w: { name: string }) => w.name)).toEqual(['pod.sidecar-injector.llmaudit.dev', 'namespace.sidecar-injector.llmaudit.dev']);
    expect(hook.webhooks[1].namespaceSelector.matchExpressions).toContainEqual({ key: 'llmaudit.dev/inject', operator: 'In', values: ['enabled'] });
    expect(hook.metadata.annotations['cert-manager.io/inject-ca-from']).toBe('llmaudit-system/llmaudit-webhook-tls');
    const cert = (rendered.certManager ?? []).find((o) => o.kind === 'Certificate') as any;
    expect(cert.spec.dnsNames).toContain('llmaudit-webhook.llmaudit-system.svc');
  });

  it.each(['openshift', 'openshiftAuto'])('%s: no fixed UID and the service-ca annotations', (name) => {
    const objs = rendered[name] ?? [];
    for (const { where, spec } of podSpecs(objs)) {
      expect(spec.securityContext?.runAsUser, where).toBeUndefined();
      expect(spec.securityContext?.fsGroup, where).toBeUndefined();
      for (const c of spec.containers ?? []) expect(c.securityContext?.runAsUser, where).toBeUndefined();
    }
    const operator = objs.find((o) => o.kind === 'Deployment') as any;
    expect(operator.spec.template.spec.containers[0].args).toContain('--openshift=true');
    if (name === 'openshift') {
      const svc = objs.find((o) => o.kind === 'Service') as K8sObject;
      expect(svc.metadata.annotations?.['service.beta.openshift.io/serving-cert-secret-name']).toBe('llmaudit-webhook-tls');
      const hook = objs.find((o) => o.kind === 'MutatingWebhookConfiguration') as K8sObject;
      expect(hook.metadata.annotations?.['service.beta.openshift.io/inject-cabundle']).toBe('true');
    }
  });

  it('elsewhere the operator runs as UID 10001 with 2 replicas, a PDB and probes', () => {
    const objs = rendered.default ?? [];
    const d = objs.find((o) => o.kind === 'Deployment') as any;
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.securityContext.runAsUser).toBe(10001);
    const c = d.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(objs.some((o) => o.kind === 'PodDisruptionBudget')).toBe(true);
    expect(objs.some((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test')).toBe(true);
  });

  it("V8 is sized to the operator's memory limit, without source maps at rest (ADR 0026)", async () => {
    const nodeOptions = (objs: K8sObject[]): string | undefined => {
      const d = objs.find((o) => o.kind === 'Deployment') as any;
      return d.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'NODE_OPTIONS')?.value;
    };
    expect(nodeOptions(rendered.default ?? [])).toBe('--max-semi-space-size=1 --max-old-space-size=192');
    expect(nodeOptions(await renderChart(['--set', 'operator.resources.limits.memory=1Gi']))).toBe('--max-semi-space-size=1 --max-old-space-size=768');
    expect(nodeOptions(await renderChart(['--set', 'operator.resources.limits.memory=null']))).toBe('--max-semi-space-size=1');
  });

  it('values.schema.json rejects unknown keys', async () => {
    await expect(helm(['template', 'x', chartDir, '--set', 'operator.replicaz=3'])).rejects.toThrow(/replicaz/);
    await expect(helm(['template', 'x', chartDir, '--set', 'webhook.certMode=vault'])).rejects.toThrow(/certMode/);
  });

  it('values.schema.json documents every key of values.yaml', () => {
    const values = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as unknown;
    const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as object;
    const ajv = new Ajv2020({ strict: false });
    expect(ajv.validate(schema, values), JSON.stringify(ajv.errors)).toBe(true);
  });
});
