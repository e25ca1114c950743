import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import jsonpatch from 'fast-json-patch';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCa, generateServingCert, serviceDnsNames } from '../certs/generate.ts';
import { parseAuditPolicy } from '../api/parse-policy.ts';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { injectSidecar, type ClusterInfo } from '../inject/inject-sidecar.ts';
import type { PodLike } from '../inject/pod-types.ts';
import type { WebhookEvent } from './admission.ts';
import { httpsPost } from './https-post.test-support.ts';
import { createInjectionCounter } from './metrics.ts';
import { createWebhookServer, MUTATE_PATH, type WebhookServer } from './server.ts';

const SNI = 'llmaudit-webhook.llmaudit.svc';
const CLUSTER: ClusterInfo = { serverVersion: { major: '1', minor: '31' }, openshift: false, sidecarImage: 'ghcr.io/llmaudit/sidecar:0.1.0' };
const POLICY: AuditPolicy = parseAuditPolicy({
  apiVersion: 'llmaudit.dev/v1alpha1',
  kind: 'AuditPolicy',
  metadata: { name: 'default', namespace: 'demo' },
  spec: { endpoints: [{ name: 'ollama', api: 'ollama', takeOverPort: 11434 }, { name: 'openai', upstream: 'https://api.openai.com/v1', api: 'openai' }] },
});
const BROKEN = { ...structuredClone(POLICY), metadata: { name: 'broken', namespace: 'demo' }, spec: { ...structuredClone(POLICY.spec), endpoints: [] } } as unknown as AuditPolicy;
const POD = parse(readFileSync(new URL('../inject/testdata/ollama-in-pod.yaml', import.meta.url), 'utf8')) as PodLike;

let server: WebhookServer;
let port: number;
let ca: string;
const events: WebhookEvent[] = [];
/** What emitEvent returns after recording (a test may make the Events API hang). */
let eventResult: () => Promise<void> | undefined = () => undefined;
const registry = new Registry();
const lookups: [string, string | undefined][] = [];

beforeAll(async () => {
  const now = new Date();
  const caPair = await generateCa({ commonName: 'test-ca', now, validityMs: 86_400_000 });
  const leaf = await generateServingCert({ ca: caPair, dnsNames: serviceDnsNames('llmaudit-webhook', 'llmaudit'), now, validityMs: 3_600_000 });
  ca = caPair.certPem;
  server = createWebhookServer({
    port: 0,
    host: '127.0.0.1',
    tls: { cert: leaf.certPem, key: leaf.keyPem },
    maxBodyBytes: 256 * 1024,
    lookupPolicy: (namespace, name) => {
      lookups.push([namespace, name]);
      if (name === 'broken') return BROKEN;
      if (name === 'explode') throw new Error('cache not synced');
      return namespace === 'demo' && (name === undefined || name === 'default') ? POLICY : undefined;
    },
    cluster: () => CLUSTER,
    emitEvent: (e) => {
      events.push(e);
      return eventResult();
    },
    count: createInjectionCounter(registry),
  });
  port = (await server.start()).port;
});
afterAll(() => server.close());

function review(object: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'a1b2-c3', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'demo', object, ...extra },
  });
}
const post = (body: string | Buffer, path = MUTATE_PATH) => httpsPost({ port, ca, servername: SNI, path, body });
async function count(result: string): Promise<number> {
  const m = await registry.getSingleMetric('llmaudit_operator_injections_total')!.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('webhook over HTTPS', () => {
  it('AdmissionReview in, base64 JSONPatch out; the patch applied to the pod gives the injected pod', async () => {
    const res = await post(review(POD));
    expect(res.status).toBe(200);
    const out = JSON.parse(res.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect(out).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'a1b2-c3', allowed: true, patchType: 'JSONPatch' } });
    const patch = JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
    const patched = jsonpatch.applyPatch(structuredClone(POD), patch, true, false).newDocument;
    expect(patched).toEqual(injectSidecar(POD, POLICY, CLUSTER));
    expect(patched.spec.initContainers?.[0]?.name).toBe('llmaudit');
    expect(res.peer.subjectaltname).toContain(`DNS:${SNI}`);
    expect(await count('injected')).toBe(1);
  });

  it('the policy label picks the policy', async () => {
    lookups.length = 0;
    const pod = structuredClone(POD);
    pod.metadata!.labels = { ...pod.metadata!.labels, 'llmaudit.dev/policy': 'default' };
    expect((await post(review(pod))).status).toBe(200);
    expect(lookups).toEqual([['demo', 'default']]);
  });

  it('an injected pod (reinvocation) is admitted without a patch', async () => {
    const injected = injectSidecar(POD, POLICY, CLUSTER);
    const out = JSON.parse((await post(review(injected))).body) as { response: Record<string, unknown> };
    expect(out.response).toEqual({ uid: 'a1b2-c3', allowed: true });
    expect(await count('already_injected')).toBe(1);
  });

  it('unknown policy, invalid policy, lookup failure: admitted unchanged, Event emitted, counted', async () => {
    events.length = 0;
    const owned = structuredClone(POD);
    owned.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'chat-7d9f', uid: 'u-1', controller: true }];
    for (const [name, result, reason] of [['nope', 'no_policy', 'AuditPolicyNotFound'], ['broken', 'invalid_policy', 'AuditPolicyInvalid'], ['explode', 'error', 'InjectionFailed']] as const) {
      const pod = structuredClone(owned);
      pod.metadata!.labels = { 'llmaudit.dev/policy': name };
      const res = await post(review(pod));
      expect(res.status).toBe(200);
      const out = JSON.parse(res.body) as { response: { allowed: boolean; patch?: string; warnings?: string[] } };
      expect(out.response.allowed).toBe(true);
      expect(out.response.patch).toBeUndefined();
      expect(out.response.warnings?.[0]).toMatch(/^llmaudit: .*without the audit sidecar/);
      expect(await count(result)).toBe(1);
      expect(events.at(-1)).toMatchObject({ namespace: 'demo', type: 'Warning', reason, involvedObject: { kind: 'ReplicaSet', name: 'chat-7d9f' } });
    }
    expect(events).toHaveLength(3);
  });

  it('a hanging Events API does not hold the answer: the Event is started and left behind', async () => {
    // Regression: the webhook awaited the Event it creates for an uninjected pod, so an API server
    // slow to take Events held every such admission until the API server's own timeout.
    events.length = 0;
    let started = 0;
    eventResult = () => {
      started++;
      return new Promise<void>(() => undefined);
    };
    try {
      const pod = structuredClone(POD);
      pod.metadata!.labels = { 'llmaudit.dev/policy': 'nope' };
      const timeoutsBefore = await count('timeout');
      const res = await post(review(pod));
      const out = JSON.parse(res.body) as { response: { allowed: boolean; warnings?: string[] } };
      expect(out.response.warnings?.[0]).toMatch(/AuditPolicy demo\/nope not found/);
      expect(started).toBe(1);
      expect(await count('timeout')).toBe(timeoutsBefore);
    } finally {
      eventResult = () => undefined;
    }
  });

  it('a dry-run review gets the same answer and leaves no trace: no Event, no count', async () => {
    events.length = 0;
    const before = { injected: await count('injected'), noPolicy: await count('no_policy') };
    const injected = JSON.parse((await post(review(POD, { dryRun: true }))).body) as { response: { patch?: string } };
    const real = JSON.parse((await post(review(POD))).body) as { response: { patch?: string } };
    expect(injected.response.patch).toBe(real.response.patch);
    expect(await count('injected')).toBe(before.injected + 1); // the real one only
    const pod = structuredClone(POD);
    pod.metadata!.labels = { 'llmaudit.dev/policy': 'nope' };
    const refused = JSON.parse((await post(review(pod, { dryRun: true }))).body) as { response: { warnings?: string[] } };
    expect(refused.response.warnings?.[0]).toMatch(/not found/);
    expect(events).toEqual([]);
    expect(await count('no_policy')).toBe(before.noPolicy);
  });

  it('other operations and kinds are allowed untouched', async () => {
    const update = JSON.parse((await post(review(POD, { operation: 'UPDATE' }))).body) as { response: Record<string, unknown> };
    expect(update.response).toEqual({ uid: 'a1b2-c3', allowed: true });
    const dep = JSON.parse((await post(review({ metadata: {} }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }))).body) as { response: Record<string, unknown> };
    expect(dep.response).toEqual({ uid: 'a1b2-c3', allowed: true });
  });

  it('malformed reviews get 400, oversized bodies 413, other paths 404', async () => {
    expect((await post('{not json')).status).toBe(400);
    expect((await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }))).status).toBe(400);
    expect((await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }))).status).toBe(400);
    expect((await post(Buffer.alloc(300 * 1024, 0x20))).status).toBe(413);
    expect((await post(review(POD), '/validate')).status).toBe(404);
  });

  it('refuses TLS 1.1', async () => {
    const { connect } = await import('node:tls');
    const err = await new Promise<Error>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, servername: SNI, ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve(new Error('connected')));
      s.on('error', (e) => resolve(e));
    });
    expect(err.message).not.toBe('connected');
  });
});

describe('webhook budget', () => {
  it('a decision that takes longer than the budget admits the pod unchanged, in time, and is counted as a timeout', async () => {
    const now = new Date();
    const caPair = await generateCa({ commonName: 'budget-ca', now, validityMs: 86_400_000 });
    const leaf = await generateServingCert({ ca: caPair, dnsNames: serviceDnsNames('llmaudit-webhook', 'llmaudit'), now, validityMs: 3_600_000 });
    const reg = new Registry();
    let lookupsStarted = 0;
    const slow = createWebhookServer({
      port: 0,
      host: '127.0.0.1',
      tls: { cert: leaf.certPem, key: leaf.keyPem },
      budgetMs: 200,
      // A policy source that never answers (the cache is always local; this stands for any slow dependency).
      lookupPolicy: () => {
        lookupsStarted++;
        return new Promise<undefined>(() => undefined);
      },
      cluster: () => CLUSTER,
      emitEvent: () => undefined,
      count: createInjectionCounter(reg),
    });
    const p = (await slow.start()).port;
    try {
      const res = await httpsPost({ port: p, ca: caPair.certPem, servername: SNI, path: MUTATE_PATH, body: review(POD) });
      const out = JSON.parse(res.body) as { response: { uid: string; allowed: boolean; patch?: string; warnings?: string[] } };
      expect(out.response).toEqual({ uid: 'a1b2-c3', allowed: true, warnings: ['llmaudit: no injection decision within 200 ms; the pod runs without the audit sidecar'] });
      expect(lookupsStarted).toBe(1);
      const m = await reg.getSingleMetric('llmaudit_operator_injections_total')!.get();
      expect(m.values.map((v) => [v.labels.result, v.value])).toEqual([['timeout', 1]]);
    } finally {
      await slow.close();
    }
  });
});
