import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { parseAuditPolicy } from '../api/parse-policy.ts';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { injectionPatch, injectSidecar, supportsNativeSidecars, type ClusterInfo } from './inject-sidecar.ts';
import type { Container, PodLike } from './pod-types.ts';

const DIR = new URL('./testdata/', import.meta.url);
const corpus: [string, PodLike][] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => [f, parse(readFileSync(new URL(f, DIR), 'utf8')) as PodLike]);
const load = (name: string): PodLike => structuredClone(corpus.find(([f]) => f === name)![1]);

const TEST_POLICY: AuditPolicy = parseAuditPolicy({
  apiVersion: 'llmaudit.dev/v1alpha1',
  kind: 'AuditPolicy',
  metadata: { name: 'default', namespace: 'shop' },
  spec: {
    endpoints: [
      { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' },
      { name: 'anthropic', upstream: 'https://api.anthropic.com', api: 'anthropic' },
      { name: 'ollama', api: 'ollama', takeOverPort: 11434 },
    ],
  },
});
const CLUSTER: ClusterInfo = { serverVersion: { major: '1', minor: '31' }, openshift: false, sidecarImage: 'ghcr.io/llmaudit/sidecar:0.1.0' };
const OLD_CLUSTER: ClusterInfo = { ...CLUSTER, serverVersion: { major: '1', minor: '28' } };
const OPENSHIFT: ClusterInfo = { ...CLUSTER, openshift: true, serverVersion: { major: '1', minor: '30+' } };

const sidecarOf = (pod: PodLike): Container | undefined => [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'llmaudit');
const envOf = (c: Container | undefined, name: string): string | undefined => c?.env?.find((e) => e.name === name)?.value;
const container = (pod: PodLike, name: string): Container => pod.spec.containers.find((c) => c.name === name)!;

function expectHardened(c: Container): void {
  expect(c.securityContext).toMatchObject({
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(c.resources).toMatchObject({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } });
}

describe('injectSidecar over the pod corpus', () => {
  it('has a pod for every case injection must handle', () => {
    expect(corpus.map(([f]) => f)).toEqual(expect.arrayContaining([
      'multi-container.yaml', 'init-and-sidecars.yaml', 'security-context.yaml', 'openshift-assigned-uid.yaml', 'already-injected.yaml', 'ollama-in-pod.yaml', 'none.yaml',
    ]));
  });

  for (const [file, pod] of corpus) {
    for (const [label, cluster] of [['1.31', CLUSTER], ['1.28', OLD_CLUSTER], ['openshift', OPENSHIFT]] as const) {
      it(`${file} (${label}): invariants, idempotence, JSON Patch round trip`, () => {
        const before = structuredClone(pod);
        const { pod: injected, patch } = injectionPatch(pod, TEST_POLICY, cluster);
        expect(pod, 'input untouched').toEqual(before);
        // Applying twice equals applying once.
        expect(injectSidecar(injected, TEST_POLICY, cluster)).toEqual(injected);
        // The patch, applied by an independent RFC 6902 implementation, gives the injected pod.
        const applied = jsonpatch.applyPatch(structuredClone(pod), jsonpatch.deepClone(patch), true, false).newDocument;
        expect(applied).toEqual(injected);
        if (file === 'already-injected.yaml') {
          expect(patch).toEqual([]);
          expect(injected).toBe(pod);
          return;
        }
        const sidecar = sidecarOf(injected)!;
        expect(sidecar).toBeDefined();
        expectHardened(sidecar);
        if (label === '1.28') {
          expect(injected.spec.containers.at(-1)!.name).toBe('llmaudit');
          expect(sidecar.restartPolicy).toBeUndefined();
        } else {
          expect(injected.spec.initContainers![0]!.name).toBe('llmaudit');
          expect(sidecar.restartPolicy).toBe('Always');
          expect(sidecar.startupProbe).toMatchObject({ httpGet: { path: '/readyz', port: 9090 } });
        }
        expect(injected.metadata?.annotations?.['llmaudit.dev/injected']).toBe('default');
        expect(injected.spec.volumes?.map((v) => v.name)).toEqual(expect.arrayContaining(['llmaudit-config', 'llmaudit-signing', 'llmaudit-log', 'llmaudit-tmp']));
        expect(sidecar.env?.map((e) => e.name).slice(0, 4)).toEqual(['POD_NAME', 'POD_NAMESPACE', 'POD_UID', 'NODE_NAME']);
        expect(sidecar.env?.find((e) => e.name === 'LLMAUDIT_APP_CONTAINER')?.value).toBe(pod.spec.containers.find((c) => !/ollama\/ollama/.test(c.image ?? ''))?.name);
        expect(sidecar.volumeMounts).toEqual(expect.arrayContaining([
          { name: 'llmaudit-config', mountPath: '/etc/llmaudit/config', readOnly: true },
          { name: 'llmaudit-signing', mountPath: '/etc/llmaudit/signing', readOnly: true },
          { name: 'llmaudit-log', mountPath: '/var/lib/llmaudit' },
          { name: 'llmaudit-tmp', mountPath: '/tmp' },
        ]));
        // Every original container is still there, in order, changed at most in its env.
        const strip = (c: Container) => ({ ...c, env: undefined });
        const originals = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map(strip);
        const after = [...(injected.spec.initContainers ?? []), ...injected.spec.containers].filter((c) => c.name !== 'llmaudit').map(strip);
        expect(after).toEqual(originals);
        // Every original env entry survives unless the takeover had to move the server.
        for (const c of pod.spec.containers) for (const e of c.env ?? []) {
          if (e.name === 'OLLAMA_HOST' && c.image?.includes('ollama/ollama')) continue;
          expect(container(injected, c.name).env).toContainEqual(e);
        }
      });
    }
  }

  it('points app containers at the sidecar', () => {
    const out = injectSidecar(load('multi-container.yaml'), TEST_POLICY, CLUSTER);
    for (const name of ['api', 'nginx', 'fluent-bit']) {
      expect(envOf(container(out, name), 'OPENAI_BASE_URL')).toBe('http://127.0.0.1:15080/openai');
      expect(envOf(container(out, name), 'ANTHROPIC_BASE_URL')).toBe('http://127.0.0.1:15080/anthropic');
      expect(envOf(container(out, name), 'OLLAMA_HOST')).toBe('http://127.0.0.1:11434');
    }
    // $(VAR) expansion keeps working: new variables go after the existing ones.
    expect(container(out, 'api').env!.slice(0, 3).map((e) => e.name)).toEqual(['OPENAI_API_KEY', 'LOG_LEVEL', 'GREETING']);
    expect(out.metadata?.annotations?.['prometheus.io/scrape']).toBe('true');
  });

  it('Ollama port takeover: Ollama moves to 127.0.0.1:11435, the client keeps localhost:11434', () => {
    const out = injectSidecar(load('ollama-in-pod.yaml'), TEST_POLICY, CLUSTER);
    expect(container(out, 'ollama').env).toEqual([{ name: 'OLLAMA_HOST', value: '127.0.0.1:11435' }]);
    expect(envOf(container(out, 'agent'), 'OLLAMA_HOST')).toBe('http://127.0.0.1:11434');
    expect(envOf(container(out, 'ollama'), 'OPENAI_BASE_URL')).toBeUndefined();
    // The Ollama container keeps its port declaration and probe (they now reach it through the sidecar).
    expect(container(out, 'ollama').ports).toEqual([{ name: 'http', containerPort: 11434 }]);
  });

  it('takeover by container name when the image is not ollama/ollama', () => {
    const policy = parseAuditPolicy({ ...TEST_POLICY, spec: { endpoints: [{ name: 'llm', api: 'ollama', takeOverPort: 11434, takeOverBackendPort: 12000, takeOverContainer: 'llm' }] } });
    const pod: PodLike = { spec: { containers: [{ name: 'llm', image: 'registry.local/my-ollama:1' }, { name: 'app', image: 'app' }] } };
    const out = injectSidecar(pod, policy, CLUSTER);
    expect(envOf(container(out, 'llm'), 'OLLAMA_HOST')).toBe('127.0.0.1:12000');
    expect(envOf(container(out, 'app'), 'OLLAMA_HOST')).toBe('http://127.0.0.1:11434');
  });

  it('keeps env the user set, records it, and overrides it when the policy says so', () => {
    const kept = injectSidecar(load('user-set-env.yaml'), TEST_POLICY, CLUSTER);
    expect(envOf(container(kept, 'app'), 'OPENAI_BASE_URL')).toBe('https://gateway.internal/v1');
    expect(envOf(container(kept, 'app'), 'ANTHROPIC_BASE_URL')).toBe('http://127.0.0.1:15080/anthropic');
    expect(kept.metadata?.annotations?.['llmaudit.dev/env-kept']).toBe('app/OPENAI_BASE_URL');

    const overriding = structuredClone(TEST_POLICY);
    overriding.spec.endpoints[0]!.overrideEnv = true;
    const over = injectSidecar(load('user-set-env.yaml'), overriding, CLUSTER);
    expect(envOf(container(over, 'app'), 'OPENAI_BASE_URL')).toBe('http://127.0.0.1:15080/openai');
    expect(over.metadata?.annotations?.['llmaudit.dev/env-kept']).toBeUndefined();
  });

  it('per-endpoint env names, dedicated ports and "" (no env)', () => {
    const policy = parseAuditPolicy({
      ...TEST_POLICY,
      spec: { endpoints: [
        { name: 'vllm', upstream: 'http://vllm:8000/v1', api: 'vllm', env: 'VLLM_URL', port: 15081 },
        { name: 'raw', upstream: 'http://x', api: 'generic' },
        { name: 'quiet', upstream: 'https://api.openai.com/v1', api: 'openai', env: '' },
      ] },
    });
    const out = injectSidecar(load('none.yaml'), policy, CLUSTER);
    expect(container(out, 'chat').env).toEqual([{ name: 'VLLM_URL', value: 'http://127.0.0.1:15081' }]);
  });

  it('UID: 10001 off OpenShift; on OpenShift the UID the SCC gave the pod, and no runAsGroup', () => {
    expect(sidecarOf(injectSidecar(load('none.yaml'), TEST_POLICY, CLUSTER))!.securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10001 });
    const os = sidecarOf(injectSidecar(load('openshift-assigned-uid.yaml'), TEST_POLICY, OPENSHIFT))!.securityContext!;
    expect(os.runAsUser).toBe(1000680000);
    expect(os.runAsGroup).toBeUndefined();
    const podLevel = load('security-context.yaml');
    expect(sidecarOf(injectSidecar(podLevel, TEST_POLICY, OPENSHIFT))!.securityContext!.runAsUser).toBe(2000);
    // No UID anywhere yet: leave it to the SCC rather than guess one outside the namespace range.
    expect(sidecarOf(injectSidecar(load('none.yaml'), TEST_POLICY, OPENSHIFT))!.securityContext!.runAsUser).toBeUndefined();
  });

  it('signing key mode: 0440 with a pod fsGroup, 0444 without (root-owned Secret files)', () => {
    const mode = (pod: PodLike) => (pod.spec.volumes!.find((v) => v.name === 'llmaudit-signing') as unknown as { secret: { defaultMode: number } }).secret.defaultMode;
    expect(mode(injectSidecar(load('security-context.yaml'), TEST_POLICY, CLUSTER))).toBe(0o440);
    expect(mode(injectSidecar(load('none.yaml'), TEST_POLICY, CLUSTER))).toBe(0o444);
  });

  it('a Redis password Secret of spec.governance is mounted in the sidecar alone, read-only, like the signing key', () => {
    const spec = { ...TEST_POLICY.spec, governance: { rateLimits: { redis: { url: 'redis://redis:6379', passwordSecretRef: { name: 'redis-auth' } } } } };
    const policy = parseAuditPolicy({ apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'default', namespace: 'shop' }, spec });
    const pod = injectSidecar(load('none.yaml'), policy, CLUSTER);
    expect(pod.spec.volumes?.find((v) => v.name === 'llmaudit-redis')).toEqual({ name: 'llmaudit-redis', secret: { secretName: 'redis-auth', defaultMode: 0o444, items: [{ key: 'password', path: 'password', mode: 0o444 }] } });
    expect(sidecarOf(pod)?.volumeMounts).toContainEqual({ name: 'llmaudit-redis', mountPath: '/etc/llmaudit/redis', readOnly: true });
    for (const c of pod.spec.containers) expect(c.volumeMounts ?? []).not.toContainEqual(expect.objectContaining({ name: 'llmaudit-redis' }));
    expect(injectSidecar(load('none.yaml'), TEST_POLICY, CLUSTER).spec.volumes?.map((v) => v.name)).not.toContain('llmaudit-redis');
  });

  it('an erase token Secret of spec.erase is mounted in the sidecar alone, read-only, like the signing key', () => {
    const spec = { ...TEST_POLICY.spec, erase: { tokenSecretRef: { name: 'erase-auth' } } };
    const policy = parseAuditPolicy({ apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: { name: 'default', namespace: 'shop' }, spec });
    const pod = injectSidecar(load('none.yaml'), policy, CLUSTER);
    expect(pod.spec.volumes?.find((v) => v.name === 'llmaudit-erase')).toEqual({ name: 'llmaudit-erase', secret: { secretName: 'erase-auth', defaultMode: 0o444, items: [{ key: 'token', path: 'token', mode: 0o444 }] } });
    expect(sidecarOf(pod)?.volumeMounts).toContainEqual({ name: 'llmaudit-erase', mountPath: '/etc/llmaudit/erase', readOnly: true });
    for (const c of pod.spec.containers) expect(c.volumeMounts ?? []).not.toContainEqual(expect.objectContaining({ name: 'llmaudit-erase' }));
    const withFsGroup = injectSidecar(load('security-context.yaml'), policy, CLUSTER);
    expect(withFsGroup.spec.volumes?.find((v) => v.name === 'llmaudit-erase')).toMatchObject({ secret: { defaultMode: 0o440 } });
    expect(injectSidecar(load('none.yaml'), TEST_POLICY, CLUSTER).spec.volumes?.map((v) => v.name)).not.toContain('llmaudit-erase');
  });

  it('policy fields that shape the pod: image, pull policy, resources, storage, signing Secret', () => {
    const policy = parseAuditPolicy({
      ...TEST_POLICY,
      spec: {
        endpoints: [{ name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }],
        storage: { existingClaim: 'shared-logs', subPath: 'chat' },
        signing: { secretRef: { name: 'my-key', key: 'ed25519' } },
        sidecar: { image: 'my.registry/llmaudit:2', imagePullPolicy: 'Always', resources: { requests: { cpu: '200m' }, limits: { memory: '1Gi' } }, ports: { admin: 9191 } },
      },
    });
    const out = injectSidecar(load('none.yaml'), policy, CLUSTER);
    const s = sidecarOf(out)!;
    expect(s).toMatchObject({ image: 'my.registry/llmaudit:2', imagePullPolicy: 'Always', resources: { requests: { cpu: '200m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } } });
    expect(s.startupProbe).toMatchObject({ httpGet: { port: 9191 } });
    expect(s.volumeMounts).toContainEqual({ name: 'llmaudit-log', mountPath: '/var/lib/llmaudit', subPath: 'chat' });
    const vols = Object.fromEntries(out.spec.volumes!.map((v) => [v.name, v]));
    expect(vols['llmaudit-log']).toEqual({ name: 'llmaudit-log', persistentVolumeClaim: { claimName: 'shared-logs' } });
    expect(vols['llmaudit-signing']).toMatchObject({ secret: { secretName: 'my-key', items: [{ key: 'ed25519', path: 'signing.key' }] } });
    expect(vols['llmaudit-config']).toMatchObject({ configMap: { name: 'llmaudit-default-config' } });
    const defaults = injectSidecar(load('none.yaml'), TEST_POLICY, { ...CLUSTER, sidecarImagePullPolicy: 'IfNotPresent' });
    expect(sidecarOf(defaults)).toMatchObject({ image: 'ghcr.io/llmaudit/sidecar:0.1.0', imagePullPolicy: 'IfNotPresent' });
    expect(defaults.spec.volumes!.find((v) => v.name === 'llmaudit-log')).toEqual({ name: 'llmaudit-log', persistentVolumeClaim: { claimName: 'llmaudit-default-log' } });
  });

  it('a pod that already has a volume with our name fails with LLMAUDIT_E_INJECT_FAILED', () => {
    const pod = load('none.yaml');
    pod.spec.volumes = [{ name: 'llmaudit-tmp', emptyDir: {} }];
    let err: unknown;
    try {
      injectSidecar(pod, TEST_POLICY, CLUSTER);
    } catch (e) {
      err = e;
    }
    expect(isLlmauditError(err, 'LLMAUDIT_E_INJECT_FAILED')).toBe(true);
  });

  // Regression: pods injected by the namespace-wide webhook (no llmaudit.dev/inject label) were
  // invisible to the operator's label-selected pod watch, so status.podsInjected missed them.
  it('an injected pod always carries the opt-in label, so the operator counts it', () => {
    const bare = load('none.yaml');
    delete bare.metadata?.labels?.['llmaudit.dev/inject'];
    const { pod: out, patch } = injectionPatch(bare, TEST_POLICY, CLUSTER);
    expect(out.metadata?.labels?.['llmaudit.dev/inject']).toBe('true');
    expect(patch.some((op) => op.path === '/metadata/labels/llmaudit.dev~1inject' || (op.path === '/metadata/labels' && op.op === 'add'))).toBe(true);
    const labelled = load('multi-container.yaml');
    const before = { ...(labelled.metadata?.labels ?? {}) };
    expect(injectSidecar(labelled, TEST_POLICY, CLUSTER).metadata?.labels).toEqual({ ...before, 'llmaudit.dev/inject': 'true' });
  });

  it('native sidecars from 1.29 on (suffixed minors too)', () => {
    expect(supportsNativeSidecars({ major: '1', minor: '29' })).toBe(true);
    expect(supportsNativeSidecars({ major: '1', minor: '30+' })).toBe(true);
    expect(supportsNativeSidecars({ major: 1, minor: 28 })).toBe(false);
    expect(supportsNativeSidecars({ major: '2', minor: '0' })).toBe(true);
    expect(supportsNativeSidecars({ major: '', minor: '' })).toBe(false);
  });
});

describe('injectSidecar properties (generated pods)', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
  const env = fc.array(fc.record({ name: fc.constantFrom('OPENAI_BASE_URL', 'OLLAMA_HOST', 'A', 'B', 'ANTHROPIC_BASE_URL'), value: fc.string({ maxLength: 8 }) }), { maxLength: 4 });
  const containerArb = fc.record({
    name,
    image: fc.constantFrom('ollama/ollama:latest', 'docker.io/ollama/ollama@sha256:abc', 'nginx', 'app:1', 'notollama/ollama-ui'),
    env: fc.option(env, { nil: undefined }),
    securityContext: fc.option(fc.record({ runAsUser: fc.integer({ min: 1, max: 2_000_000_000 }) }), { nil: undefined }),
  }, { requiredKeys: ['name', 'image'] });
  const podArb = fc.record({
    metadata: fc.option(fc.record({ annotations: fc.option(fc.dictionary(fc.constantFrom('a', 'b/c', 'd~e'), fc.string({ maxLength: 4 })), { nil: undefined }) }, { requiredKeys: [] }), { nil: undefined }),
    spec: fc.record({
      containers: fc.uniqueArray(containerArb, { minLength: 1, maxLength: 4, selector: (c) => c.name }),
      initContainers: fc.option(fc.uniqueArray(containerArb, { maxLength: 2, selector: (c) => c.name }), { nil: undefined }),
      securityContext: fc.option(fc.record({ runAsUser: fc.integer({ min: 1, max: 9999 }), fsGroup: fc.integer({ min: 1, max: 9999 }) }, { requiredKeys: [] }), { nil: undefined }),
    }, { requiredKeys: ['containers'] }),
  }, { requiredKeys: ['spec'] });

  it('applying twice equals applying once, and the patch reproduces the injected pod', () => {
    fc.assert(
      fc.property(podArb, fc.constantFrom(CLUSTER, OLD_CLUSTER, OPENSHIFT), (raw, cluster) => {
        const pod = JSON.parse(JSON.stringify(raw)) as PodLike;
        // Generated names may collide between init and app containers; the API server refuses those pods.
        const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
        fc.pre(new Set(names).size === names.length && !names.includes('llmaudit'));
        const { pod: once, patch } = injectionPatch(pod, TEST_POLICY, cluster);
        expect(injectSidecar(once, TEST_POLICY, cluster)).toEqual(once);
        expect(jsonpatch.applyPatch(structuredClone(pod), jsonpatch.deepClone(patch), true, false).newDocument).toEqual(once);
        expect(sidecarOf(once)).toBeDefined();
      }),
      { numRuns: 200 },
    );
  });
});
