// The operator exactly as the chart's Deployment runs it — Dockerfile.operator's standalone bundle
// at /app, the rendered container (UID 10001, read-only root, no capabilities, an emptyDir at /tmp
// and nothing else writable) — in bubblewrap instead of a container engine. Offline: --help, crd
// and inject. Against a real kube-apiserver (KUBEBUILDER_ASSETS): `run` with the service account
// mounted the way the kubelet mounts it, up to /readyz, a served AdmissionReview, a reconciled
// policy, and exit 0 on SIGTERM — with no write refused anywhere.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { MUTATE_PATH } from '../../operator/src/webhook/server.ts';
import type { Container, PodSecurityContext, Volume } from '../../operator/src/inject/pod-types.ts';
import { ENVTEST_SKIP_REASON, envtestAssets, eventually, startEnvtest, type Envtest } from '../envtest/harness.ts';
import { renderChart, type K8sObject } from '../support/helm.ts';
import { bwrapRequirement, expectedHostUid, planContainer, processStatus, readImageConfig, startSandbox, writeKubeletVolume, type PodFacts, type SandboxPlan, type Sandboxed } from './pod-sandbox.ts';
import { buildStandaloneBundles, repoRoot, type Bundles } from './standalone-bundles.ts';

const requirement = bwrapRequirement();
if (!requirement.run) console.warn(`test/hardened: ${requirement.reason}`);
const envtest = envtestAssets();
if (requirement.run && envtest === undefined) console.warn(`test/hardened: ${ENVTEST_SKIP_REASON}; the operator runs its offline commands only`);

const NAMESPACE = 'llmaudit-system';
const POD: PodFacts = { name: 'llmaudit-operator-6b9c8d7f5-q4wzp', namespace: NAMESPACE, uid: '0c7e4d2a-5b61-4f0e-8a3d-2f1b9c6e7d54', nodeName: 'node-a' };
const HOST_NODE = { '/nodejs/bin/node': process.execPath };
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const WRITE_REFUSED = /EROFS|EACCES|EPERM|read-only file system|permission denied/i;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Rendered {
  objects: K8sObject[];
  container: Container;
  podSecurityContext: PodSecurityContext | undefined;
  volumes: Volume[];
  serviceAccount: string;
}

async function renderOperator(healthPort: number, webhookPort: number, extra: string[] = []): Promise<Rendered> {
  const objects = await renderChart(['--skip-tests', '--set', `operator.healthPort=${healthPort}`, '--set', `operator.webhookPort=${webhookPort}`, ...extra], NAMESPACE);
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const spec = (deployment.spec as { template: { spec: { containers: Container[]; securityContext?: PodSecurityContext; volumes?: Volume[]; serviceAccountName: string } } }).template.spec;
  return { objects, container: spec.containers.find((c) => c.name === 'operator')!, podSecurityContext: spec.securityContext, volumes: spec.volumes ?? [], serviceAccount: spec.serviceAccountName };
}

describe.runIf(requirement.run)('operator image + chart Deployment: UID 10001, read-only root filesystem, no capabilities', () => {
  let work: string;
  let bundles: Bundles;
  let running: Sandboxed | null = null;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'llmaudit-hardened-operator-'));
    await chmod(work, 0o755);
    bundles = await buildStandaloneBundles(path.join(work, 'build'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  afterEach(() => {
    if (running !== null && running.bwrap.exitCode === null) running.bwrap.kill('SIGKILL');
    running = null;
  });

  function plan(rendered: Rendered, serviceEnv: Record<string, string>, volumeSources: Record<string, string> = {}): SandboxPlan {
    return planContainer({
      image: readImageConfig(path.join(repoRoot, 'Dockerfile.operator')),
      appSource: bundles.operator,
      container: rendered.container,
      ...(rendered.podSecurityContext === undefined ? {} : { podSecurityContext: rendered.podSecurityContext }),
      volumes: rendered.volumes,
      volumeSources,
      pod: POD,
      serviceEnv,
    });
  }

  let defaults: Promise<Rendered> | undefined;
  /** The Deployment's container (chart defaults) with other arguments; the image's entrypoint stays. */
  async function runCommand(args: string[], stdin?: string): Promise<{ code: number | null; out: Sandboxed }> {
    defaults ??= renderOperator(8081, 9443);
    const p = plan(await defaults, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' });
    running = startSandbox({ ...p, argv: ['/nodejs/bin/node', '/app/llmaudit-operator.mjs', ...args] }, HOST_NODE, stdin);
    return { code: await running.exited, out: running };
  }

  it('the chart container is what this sandbox runs: UID 10001, read-only root, only /tmp writable', async () => {
    defaults ??= renderOperator(8081, 9443);
    const p = plan(await defaults, {});
    expect(p).toMatchObject({ uid: 10001, gid: 10001, cwd: '/app', capDropAll: true });
    expect(p.argv.slice(0, 3)).toEqual(['/nodejs/bin/node', '/app/llmaudit-operator.mjs', 'run']);
    expect(p.argv).toContain('--cert-dir=/etc/llmaudit/webhook-tls');
    expect(p.mounts.filter((m) => m.kind !== 'ro-bind').map((m) => m.dest)).toEqual(['/tmp']);
  });

  it('offline: --help, crd and inject run and write nothing', async () => {
    const help = await runCommand(['--help']);
    expect(help.code, help.out.output()).toBe(0);
    expect(help.out.output()).toMatch(/run\s.*\n.*inject\s.*\n.*crd\s/s);

    const crd = await runCommand(['crd']);
    expect(crd.code, crd.out.output()).toBe(0);
    expect(parse(crd.out.text.join('\n'))).toMatchObject({ kind: 'CustomResourceDefinition', metadata: { name: 'auditpolicies.llmaudit.dev' } });

    const testdata = path.join(repoRoot, 'operator/src/cli/testdata');
    const manifest = `${readFileSync(path.join(testdata, 'policy.yaml'), 'utf8')}\n---\n${readFileSync(path.join(testdata, 'app.yaml'), 'utf8')}`;
    const inject = await runCommand(['inject', '-f', '-'], manifest);
    expect(inject.code, inject.out.output()).toBe(0);
    const deployment = parseAllDocuments(inject.out.text.join('\n')).map((d) => d.toJS() as K8sObject).find((o) => o?.kind === 'Deployment') as unknown as { spec: { template: { spec: { initContainers: Container[] } } } };
    expect(deployment.spec.template.spec.initContainers[0]).toMatchObject({ name: 'llmaudit', securityContext: { runAsUser: 10001, readOnlyRootFilesystem: true } });

    for (const r of [help, crd, inject]) expect(r.out.output()).not.toMatch(WRITE_REFUSED);
  });

  it('--set webhook.certMode=certManager: the mounted webhook Secret is readable by the operator, and only readable', async () => {
    // Regression: the Secret was mounted 0400 (root) with no fsGroup, so UID 10001 got EACCES and the operator never became ready.
    const rendered = await renderOperator(8081, 9443, ['--set', 'webhook.certMode=certManager']);
    const tlsDir = path.join(work, 'tls-cert-manager');
    await writeKubeletVolume(tlsDir, rendered.volumes.find((v) => v.name === 'webhook-tls')!, { 'tls.crt': 'certificate', 'tls.key': 'key' }, rendered.podSecurityContext);
    const p = plan(rendered, {}, { 'webhook-tls': tlsDir });
    const script = "const fs = require('node:fs'); const r = {}; for (const f of ['tls.crt', 'tls.key']) { const p = '/etc/llmaudit/webhook-tls/' + f; try { r[f] = fs.readFileSync(p, 'utf8'); } catch (e) { r[f] = e.code; } try { fs.appendFileSync(p, 'x'); r[f + ' write'] = 'ok'; } catch (e) { r[f + ' write'] = e.code; } } console.log(JSON.stringify(r));";
    running = startSandbox({ ...p, argv: ['/nodejs/bin/node', '-e', script] }, HOST_NODE);
    expect(await running.exited, running.output()).toBe(0);
    expect(running.lines[0]).toEqual({ 'tls.crt': 'certificate', 'tls.key': 'key', 'tls.crt write': 'EROFS', 'tls.key write': 'EROFS' });
  });

  describe.runIf(envtest !== undefined)('against a real kube-apiserver (envtest)', () => {
    let env: Envtest;
    beforeAll(async () => {
      env = await startEnvtest();
    }, 90_000);
    afterAll(async () => {
      await env?.stop();
    });

    /** A CA and a serving certificate for the webhook Service, as cert-manager would issue them (openssl). */
    function issueServingCert(dir: string, service: string): { ca: string; cert: string; key: string } {
      const ssl = (...args: string[]): void => {
        execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      };
      ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=webhook-ca');
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${service}`);
      writeFileSync(path.join(dir, 'ext'), `subjectAltName=DNS:${service}\n`);
      ssl('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '1', '-extfile', 'ext');
      const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
      return { ca: read('ca.crt'), cert: read('tls.crt'), key: read('tls.key') };
    }

    it.each([
      { certMode: 'self', policyNamespace: 'shop' },
      { certMode: 'certManager', policyNamespace: 'bakery' },
    ])('run (--cert-mode $certMode): ready, serves the injection webhook, reconciles a policy, exits 0 on SIGTERM, no write refused', async ({ certMode, policyNamespace }) => {
      const [healthPort, webhookPort] = [await freePort(), await freePort()];
      const rendered = await renderOperator(healthPort, webhookPort, ['--set', `webhook.certMode=${certMode}`]);
      const base = path.join(work, `run-${certMode}`);
      await mkdir(base, { mode: 0o755 });
      await env.createNamespace(NAMESPACE);
      // cert-manager's own kinds are not served here; the Secret it would write is made below.
      const manifests = path.join(base, 'chart.yaml');
      await writeFile(manifests, rendered.objects.filter((o) => !o.apiVersion.startsWith('cert-manager.io/')).map((o) => stringify(o)).join('---\n'));
      execFileSync(path.join(repoRoot, '.tools/bin/kubectl'), ['--kubeconfig', env.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', manifests], { stdio: 'pipe' });
      const service = rendered.objects.find((o) => o.kind === 'Service')!.metadata.name;
      const serverName = `${service}.${NAMESPACE}.svc`;

      // The service account volume the kubelet projects into every pod (token, ca.crt, namespace; 0644).
      const saDir = path.join(base, 'serviceaccount');
      await mkdir(saDir, { mode: 0o755 });
      const files = { token: await env.serviceAccountToken(NAMESPACE, rendered.serviceAccount), 'ca.crt': env.caPem, namespace: NAMESPACE };
      for (const [name, text] of Object.entries(files)) await writeFile(path.join(saDir, name), text, { mode: 0o644 });
      const volumeSources: Record<string, string> = {};
      let issuedCa: string | undefined;
      const tlsVolume = rendered.volumes.find((v) => v.name === 'webhook-tls');
      if (certMode !== 'self') {
        expect(tlsVolume, 'the chart mounts the webhook Secret').toBeDefined();
        const issued = issueServingCert(base, serverName);
        issuedCa = issued.ca;
        volumeSources['webhook-tls'] = path.join(base, 'webhook-tls');
        await writeKubeletVolume(volumeSources['webhook-tls'], tlsVolume!, { 'tls.crt': issued.cert, 'tls.key': issued.key }, rendered.podSecurityContext);
      }
      const p = plan(rendered, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(env.url).port }, volumeSources);
      running = startSandbox({ ...p, mounts: [...p.mounts, { kind: 'ro-bind', dest: SA_DIR, src: saDir }] }, HOST_NODE);
      const started = await running.waitFor('operator started');
      expect(started).toMatchObject({ namespace: NAMESPACE, healthPort, leaderElect: true });
      const pid = await running.pid;
      const status = processStatus(pid);
      const hostUid = String(expectedHostUid(p));
      expect(status.Uid!.split(/\s+/)).toEqual([hostUid, hostUid, hostUid, hostUid]);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status[set], set).toBe('0000000000000000');
      expect(status.NoNewPrivs).toBe('1');

      // The kubelet's readiness probe: /readyz answers 200 once the policy cache synced and the
      // webhook holds its certificate (the probe polls too: there is no event to await).
      await eventually(async () => ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200 ? true : undefined), '/readyz 200', 30_000).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${running!.output()}`);
      });
      expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);

      // Self-managed: the leader patched the caBundle. cert-manager mode: the CA that issued the mounted pair.
      const webhookName = rendered.objects.find((o) => o.kind === 'MutatingWebhookConfiguration')!.metadata.name;
      const ca =
        issuedCa ??
        Buffer.from(
          await eventually(async () => {
            const r = await env.api<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhookName}`);
            return r.body.webhooks[0]?.clientConfig.caBundle;
          }, 'the caBundle'),
          'base64',
        ).toString('utf8');
      await env.createNamespace(policyNamespace);
      const created = await env.api('POST', `/apis/llmaudit.dev/v1alpha1/namespaces/${policyNamespace}/auditpolicies`, {
        apiVersion: 'llmaudit.dev/v1alpha1',
        kind: 'AuditPolicy',
        metadata: { name: 'default', namespace: policyNamespace },
        spec: { endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);

      const webhook = new Agent({ connect: { ca, servername: serverName } });
      try {
        const review = {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid: '9d3c1b2a-1111-4c2a-9f00-5e6d7c8b9a01',
            kind: { group: '', version: 'v1', kind: 'Pod' },
            resource: { group: '', version: 'v1', resource: 'pods' },
            namespace: policyNamespace,
            operation: 'CREATE',
            userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
            object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'chat-', namespace: policyNamespace, labels: { app: 'chat', 'llmaudit.dev/inject': 'true' } }, spec: { containers: [{ name: 'chat', image: 'ghcr.io/example/chat:1.4.2' }] } },
          },
        };
        // The policy reaches the operator's cache through its watch: ask until the answer patches.
        const answer = await eventually(async () => {
          const res = await request(`https://127.0.0.1:${webhookPort}${MUTATE_PATH}`, { method: 'POST', dispatcher: webhook, headers: { 'content-type': 'application/json' }, body: JSON.stringify(review) });
          const body = (await res.body.json()) as { response: { uid: string; allowed: boolean; patch?: string } };
          return body.response.patch === undefined ? undefined : body.response;
        }, 'an injecting AdmissionReview answer');
        expect(answer).toMatchObject({ uid: review.request.uid, allowed: true });
        const patch = Buffer.from(answer.patch!, 'base64').toString('utf8');
        expect(patch).toContain('"readOnlyRootFilesystem":true');
      } finally {
        await webhook.close();
      }

      // The leader reconciles the policy: its ConfigMap is written (to the API, not to disk).
      await eventually(async () => ((await env.api('GET', `/api/v1/namespaces/${policyNamespace}/configmaps/llmaudit-default-config`)).status === 200 ? true : undefined), 'the policy ConfigMap', 30_000);

      process.kill(pid, 'SIGTERM');
      expect(await running.exited, running.output()).toBe(0);
      expect(running.output()).not.toMatch(WRITE_REFUSED);
      expect(running.lines.filter((l) => (l.level as number) >= 50), running.output()).toEqual([]);
    }, 90_000);
  });
});
