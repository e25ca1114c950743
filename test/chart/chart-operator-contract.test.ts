// The chart and the operator binary meet at operator/CONTRACT.md: the Deployment's args go through
// the operator's real argument parser (runProgram → parseRunConfig), and every name the operator
// is told (Service, webhook configuration, TLS Secret, Lease, ports, cert dir) must be the one the
// chart actually renders and grants RBAC for. A drift here passes `helm lint` and fails only in a
// cluster (a webhook nobody answers, a caBundle patched on the wrong object), hence this test.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { auditPolicyCrd, parseAuditPolicy } from '../../operator/src/api/index.ts';
import { RUN_FLAGS, type RunConfig } from '../../operator/src/config/run-config.ts';
import { runProgram } from '../../operator/src/program.ts';
import { renderSidecarConfig } from '../../operator/src/render/render-config.ts';
import { MUTATE_PATH } from '../../operator/src/webhook/server.ts';
import { chartDir, helm, renderChart, repoRoot, type K8sObject } from '../support/helm.ts';

const NS = 'audit-system';
const valueSets: Record<string, { args: string[]; certMode: RunConfig['certMode']; openshift: 'true' | 'false' }> = {
  default: { args: [], certMode: 'self', openshift: 'false' },
  kind: { args: ['-f', path.join(chartDir, 'ci/kind-values.yaml')], certMode: 'self', openshift: 'false' },
  openshift: { args: ['-f', path.join(chartDir, 'ci/openshift-values.yaml')], certMode: 'openshift', openshift: 'true' },
  certManager: { args: ['--set', 'webhook.certMode=certManager'], certMode: 'cert-manager', openshift: 'false' },
  openshiftAuto: { args: ['--api-versions', 'security.openshift.io/v1'], certMode: 'self', openshift: 'true' },
  // Names follow the release: another release name must still line up.
  renamed: { args: ['--set', 'fullnameOverride=audit', '--set', 'operator.webhookPort=10443', '--set', 'operator.healthPort=18081'], certMode: 'self', openshift: 'false' },
};

const rendered: Record<string, K8sObject[]> = {};
// helm runs as a child process per values set; on a loaded CI machine that takes a while.
beforeAll(async () => {
  await Promise.all(Object.entries(valueSets).map(async ([name, v]) => (rendered[name] = await renderChart(v.args, NS))));
}, 120_000);

const one = (objs: K8sObject[], kind: string): any => {
  const found = objs.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};

/** resourceNames granted for a resource in the rendered Roles/ClusterRoles. */
function resourceNames(objs: K8sObject[], group: string, resource: string): string[] {
  return objs
    .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
    .flatMap((r) => (r as any).rules as Array<{ apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }>)
    .filter((rule) => rule.apiGroups?.includes(group) === true && rule.resources?.includes(resource) === true)
    .flatMap((rule) => rule.resourceNames ?? []);
}

/** Runs the Deployment's container args and env through the operator's own CLI parser. */
async function parseDeploymentArgs(deployment: any): Promise<{ code: number; err: string; config: RunConfig | undefined }> {
  const c = deployment.spec.template.spec.containers[0];
  // The downward API, resolved as the kubelet would for a pod in NS.
  const fieldValues: Record<string, string> = { 'metadata.namespace': NS, 'metadata.name': 'llmaudit-operator-7d9f8-abcde' };
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) env[e.name] = e.value ?? fieldValues[e.valueFrom?.fieldRef?.fieldPath] ?? '';
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  let config: RunConfig | undefined;
  const code = await runProgram({
    argv: c.args,
    stdin: Readable.from([]),
    env,
    stdout: new PassThrough(),
    stderr,
    hostname: 'unused',
    run: (cfg) => {
      config = cfg;
      return Promise.resolve(0);
    },
  });
  return { code, err, config };
}

describe('chart ↔ operator contract', () => {
  it.each(Object.keys(valueSets))('%s: the operator parses the Deployment args and every name lines up', async (name) => {
    const objs = rendered[name] ?? [];
    const expected = valueSets[name]!;
    const deployment = one(objs, 'Deployment');
    const { code, err, config } = await parseDeploymentArgs(deployment);
    expect(err).toBe('');
    expect(code).toBe(0);
    const cfg = config!;
    expect(cfg).toMatchObject({ namespace: NS, certMode: expected.certMode, openshift: expected.openshift, leaderElect: true, identity: 'llmaudit-operator-7d9f8-abcde' });

    // Webhook: the configuration the leader patches, the Service in the cert SANs, the path and port.
    const hook = one(objs, 'MutatingWebhookConfiguration');
    expect(hook.metadata.name).toBe(cfg.webhookConfigName);
    expect(resourceNames(objs, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations')).toEqual([cfg.webhookConfigName]);
    const svc = one(objs, 'Service');
    expect(svc.metadata.name).toBe(cfg.serviceName);
    const container = deployment.spec.template.spec.containers[0];
    const containerPort = (portName: string): number => container.ports.find((p: { name: string }) => p.name === portName).containerPort;
    for (const w of hook.webhooks) {
      expect(w.clientConfig.service).toEqual({ name: cfg.serviceName, namespace: NS, path: MUTATE_PATH, port: 443 });
      const svcPort = svc.spec.ports.find((p: { port: number }) => p.port === w.clientConfig.service.port);
      expect(containerPort(svcPort.targetPort)).toBe(cfg.webhookPort);
    }
    expect(svc.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(containerPort('health')).toBe(cfg.healthPort);
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) expect(container[probe].httpGet.port, probe).toBe('health');

    // helm test reaches /readyz through the Service on the health port.
    const testPod = objs.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test') as any;
    expect(testPod.spec.containers[0].args).toContain(`http://${cfg.serviceName}.${NS}.svc:${cfg.healthPort}/readyz`);
    expect(svc.spec.ports.find((p: { targetPort: string }) => p.targetPort === 'health').port).toBe(cfg.healthPort);

    // The pods run as the ServiceAccount the bindings grant the roles to.
    const sa = one(objs, 'ServiceAccount');
    expect(sa.metadata.namespace).toBe(NS);
    expect(deployment.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') as any[];
    expect(bindings.map((b) => b.kind).sort()).toEqual(['ClusterRoleBinding', 'RoleBinding']);
    for (const b of bindings) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: NS }]);
      const role = objs.find((o) => o.kind === b.roleRef.kind && o.metadata.name === b.roleRef.name);
      expect(role, `${b.kind}/${b.metadata.name} → ${b.roleRef.kind}/${b.roleRef.name}`).toBeDefined();
      if (b.kind === 'RoleBinding') expect([b.metadata.namespace, role?.metadata.namespace]).toEqual([NS, NS]);
    }

    // Leader election and the self-managed TLS Secret live under the names the Role allows.
    expect(resourceNames(objs, 'coordination.k8s.io', 'leases')).toEqual([cfg.leaseName]);
    expect(resourceNames(objs, '', 'secrets')).toEqual([cfg.certSecret]);

    // cert-manager / service-ca: the Secret they write is mounted where the operator reads it.
    const tlsVolume = deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'webhook-tls');
    if (cfg.certMode === 'self') {
      expect(tlsVolume).toBeUndefined();
    } else {
      expect(tlsVolume.secret.secretName).toBe(cfg.certSecret);
      const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'webhook-tls');
      expect(mount).toEqual({ name: 'webhook-tls', mountPath: cfg.certDir, readOnly: true });
    }
    if (cfg.certMode === 'cert-manager') {
      const cert = one(objs, 'Certificate');
      expect(cert.spec.secretName).toBe(cfg.certSecret);
      expect(cert.spec.dnsNames).toContain(`${cfg.serviceName}.${NS}.svc`);
    }
    if (cfg.certMode === 'openshift') {
      expect(svc.metadata.annotations['service.beta.openshift.io/serving-cert-secret-name']).toBe(cfg.certSecret);
      expect(hook.metadata.annotations['service.beta.openshift.io/inject-cabundle']).toBe('true');
    }
  });

  it('the sidecar image and pull policy reach the operator', async () => {
    const { config } = await parseDeploymentArgs(one(rendered.kind ?? [], 'Deployment'));
    expect(config).toMatchObject({ sidecarImage: 'llmaudit/sidecar:e2e', sidecarImagePullPolicy: 'Never' });
    const { config: def } = await parseDeploymentArgs(one(rendered.default ?? [], 'Deployment'));
    const chart = parse(await helm(['show', 'chart', chartDir]).then((r) => r.stdout)) as { appVersion: string };
    expect(def?.sidecarImage).toBe(`ghcr.io/llmaudit/sidecar:${chart.appVersion}`);
  });

  it('operator/CONTRACT.md lists exactly the run flags the parser knows, and the chart passes only those', () => {
    const contract = readFileSync(path.join(repoRoot, 'operator/CONTRACT.md'), 'utf8');
    const runSection = contract.slice(contract.indexOf('`run` flags'), contract.indexOf('Labels/annotations'));
    const documented = [...runSection.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.values(RUN_FLAGS).sort());
    for (const name of Object.keys(valueSets)) {
      const args = (one(rendered[name] ?? [], 'Deployment').spec.template.spec.containers[0].args as string[]).slice(1);
      for (const a of args) expect(Object.values(RUN_FLAGS), `${name}: ${a}`).toContain(/^--([a-z-]+)=/.exec(a)?.[1]);
    }
  });

  it('the chart ships the generated CRD unchanged', () => {
    const crd = one(rendered.default ?? [], 'CustomResourceDefinition');
    expect(crd).toEqual(auditPolicyCrd());
  });
});

describe('the optional default AuditPolicy', () => {
  it('is off by default', () => {
    expect((rendered.default ?? []).some((o) => o.kind === 'AuditPolicy')).toBe(false);
  });

  it('renders a policy the operator accepts and turns into a sidecar config', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-chart-'));
    try {
      const values = path.join(dir, 'values.yaml');
      await writeFile(values, [
        'defaultPolicy:',
        '  enabled: true',
        '  namespace: team-a',
        '  spec:',
        '    endpoints:',
        '      - { name: openai, upstream: "https://api.openai.com/v1", api: openai }',
        '      - { name: ollama, api: ollama, takeOverPort: 11434 }',
        '    capture: { mode: redacted }',
        '',
      ].join('\n'));
      const objs = await renderChart(['-f', values], NS);
      const raw = one(objs, 'AuditPolicy');
      expect(raw.metadata).toMatchObject({ name: 'default', namespace: 'team-a' });
      const policy = parseAuditPolicy(raw);
      expect(policy.spec.endpoints.map((e) => e.name)).toEqual(['openai', 'ollama']);
      expect(policy.spec.capture.mode).toBe('redacted');
      expect(() => renderSidecarConfig(policy)).not.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('enabled without endpoints fails at render time, not at the API server', async () => {
    await expect(helm(['template', 'x', chartDir, '--set', 'defaultPolicy.enabled=true'])).rejects.toThrow(/defaultPolicy\.spec\.endpoints/);
  });
});
