// hack/e2e-kind.sh only runs where Docker is; these checks keep it in step with the chart, the
// demo and the injection without a cluster: the names and values keys it uses must exist, and
// without Docker it must say so and exit 0.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseAuditPolicy } from '../../operator/src/api/index.ts';
import { injectSidecar } from '../../operator/src/inject/inject-sidecar.ts';
import type { PodLike } from '../../operator/src/inject/pod-types.ts';
import { chartDir, renderChart, repoRoot, type K8sObject } from '../support/helm.ts';

const run = promisify(execFile);
const SCRIPT = path.join(repoRoot, 'hack/e2e-kind.sh');
const script = readFileSync(SCRIPT, 'utf8');
const demo = (file: string) => parseAllDocuments(readFileSync(path.join(repoRoot, 'infra/demo', file), 'utf8')).map((d) => d.toJS() as K8sObject);

describe('hack/e2e-kind.sh', () => {
  it('without a Docker engine it says so and exits 0', async () => {
    const bin = await mkdtemp(path.join(tmpdir(), 'llmaudit-e2e-'));
    try {
      // A docker whose `docker info` fails, like a machine without a running engine.
      await writeFile(path.join(bin, 'docker'), '#!/bin/sh\nexit 1\n');
      await chmod(path.join(bin, 'docker'), 0o755);
      const tmp = path.join(bin, 'tmp');
      await mkdir(tmp);
      const { stdout } = await run('bash', [SCRIPT], { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, TMPDIR: tmp } });
      expect(stdout).toContain('skipped: no Docker engine');
      // Regression: the work directory was made before the skip, outside the cleanup trap.
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });

  it('uses the release, Deployment, values keys and namespace the chart renders', async () => {
    expect(script).toMatch(/helm upgrade --install llmaudit charts\/llmaudit -n "\$NS_SYS"/);
    expect(script).toContain('NS_SYS=llmaudit-system');
    const objs = await renderChart(['-f', path.join(chartDir, 'ci/kind-values.yaml'), '--set', 'operator.image.tag=e2e', '--set', 'sidecar.image.tag=e2e']);
    const deployment = objs.find((o) => o.kind === 'Deployment')!;
    for (const ref of script.match(/deploy\/[a-z0-9-]+/g) ?? []) {
      if (script.includes(`-n "$NS_SYS" logs ${ref}`)) expect(ref).toBe(`deploy/${deployment.metadata.name}`);
    }
    expect(script).toContain('deploy/llmaudit-operator');
    const values = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as { operator: { image: Record<string, unknown> }; sidecar: { image: Record<string, unknown> } };
    for (const key of script.match(/--set ([a-zA-Z.]+)=/g) ?? []) {
      const pathParts = key.slice('--set '.length, -1).split('.');
      let node: unknown = values;
      for (const p of pathParts) node = (node as Record<string, unknown> | undefined)?.[p];
      expect(node, key).toBeDefined();
    }
    // The images the script builds and loads are the ones the kind values point at.
    const images = (deployment as any).spec.template.spec.containers[0].args as string[];
    expect(images).toContain('--sidecar-image=llmaudit/sidecar:e2e');
    expect((deployment as any).spec.template.spec.containers[0].image).toBe('llmaudit/operator:e2e');
    expect(script).toContain('docker build -q -f Dockerfile.sidecar -t "llmaudit/sidecar:$TAG"');
    expect(script).toContain('docker build -q -f Dockerfile.operator -t "llmaudit/operator:$TAG"');
  });

  it('looks for the demo policy, Deployment and the log volume the injection really creates', async () => {
    const kustomization = parse(await readFile(path.join(repoRoot, 'infra/demo/kustomization.yaml'), 'utf8')) as { namespace: string };
    expect(script).toContain(`NS_APP=${kustomization.namespace}`);
    const policyDoc = demo('auditpolicy.yaml')[0]!;
    expect(script).toContain(`get auditpolicies ${policyDoc.metadata.name}`);
    const chat = demo('chat.yaml').find((o) => o.kind === 'Deployment') as any;
    expect(script).toContain(`annotate deployment ${chat.metadata.name} llmaudit.dev/inject=true`);
    expect(script).toContain(`-l app=${chat.spec.template.metadata.labels.app as string},llmaudit.dev/inject=true`);
    const policy = parseAuditPolicy({ ...policyDoc, metadata: { ...policyDoc.metadata, namespace: kustomization.namespace } });
    const pod: PodLike = { metadata: { name: 'chat-1', namespace: kustomization.namespace, labels: chat.spec.template.metadata.labels }, spec: chat.spec.template.spec };
    const injected = injectSidecar(pod, policy, { serverVersion: { major: '1', minor: '31' }, openshift: false, sidecarImage: 'llmaudit/sidecar:e2e' });
    const logVolume = injected.spec.volumes!.find((v) => (v as { persistentVolumeClaim?: unknown }).persistentVolumeClaim !== undefined)!;
    expect(script).toContain(`.spec.volumes[?(@.name=="${logVolume.name}")].persistentVolumeClaim.claimName`);
    // The sidecar runs as 10001 off OpenShift: the pod that reads the claim uses the same UID.
    const sidecar = injected.spec.initContainers!.find((c) => c.name === 'llmaudit')!;
    expect(script).toContain(`"runAsUser":${String(sidecar.securityContext!.runAsUser)}`);
  });
});
