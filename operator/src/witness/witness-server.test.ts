import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { appendCosignatures, generateSignerKey, parseCosignatureVerifierKey, verifyCosignatures } from '@llmaudit/sidecar/auditlog';
import { parseAddCheckpoint } from '@llmaudit/sidecar/witness';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { MemoryKubeApi } from '../kube/memory-api.ts';
import type { KubeObject } from '../kube/types.ts';
import { testPolicy } from '../testing/fixtures.ts';
import { HeadStore } from './head-store.ts';
import { headsConfigMapName, readHeads } from './heads.ts';
import { testLog, type TestLog } from './test-log.ts';
import { ensureWitnessKey, WITNESS_CONFIGMAP, WITNESS_KEY_SECRET } from './witness-key.ts';
import { createWitnessMetrics } from './witness-metrics.ts';
import { startWitnessServer, type WitnessServer } from './witness-server.ts';

const NS = 'team-a';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const servers: WitnessServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(replicas = 1) {
  const api = new MemoryKubeApi();
  const keys = generateSignerKey(`llmaudit.dev/${NS}/audit`);
  const policy = (await api.create('auditpolicies', testPolicy('audit', NS) as unknown as KubeObject)) as unknown as AuditPolicy;
  await api.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'llmaudit-audit-signing', namespace: NS }, data: { 'signing.key': Buffer.from(`${keys.signerKey}\n`).toString('base64') } });
  const cosigner = await ensureWitnessKey(api, 'llmaudit-system');
  const events: { reason: string; kind: string | undefined; message: string }[] = [];
  const registry = new Registry();
  const metrics = createWitnessMetrics(registry);
  const urls: string[] = [];
  for (let i = 0; i < replicas; i++) {
    const server = await startWitnessServer({
      api,
      store: new HeadStore({ api, cosigner }),
      lookupPolicy: (ns, name) => (ns === NS && name === 'audit' ? policy : undefined),
      emitEvent: async (ev) => void events.push({ reason: ev.reason, kind: ev.regarding.kind, message: ev.message }),
      metrics,
      log: silent,
      port: 0,
      host: '127.0.0.1',
    });
    servers.push(server);
    urls.push(`http://127.0.0.1:${server.port}/${NS}/audit`);
  }
  const url = urls[0] as string;
  return { api, keys, cosigner, events, registry, url, urls, log: (pod = 'agent-1') => testLog(`llmaudit.dev/${NS}/${pod}/uid-${pod}`, keys) };
}

async function push(url: string, body: string) {
  const res = await request(`${url}/add-checkpoint`, { method: 'POST', body });
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

async function pushLog(url: string, log: TestLog, old: number, size?: number) {
  return push(url, await log.body(old, size));
}

describe('witness server (C2SP tlog-witness over HTTP)', () => {
  it('answers 200 with a cosignature line that verifies with the published witness key, and stores the head', async () => {
    const { api, cosigner, url, log, registry } = await setup();
    const l = log();
    l.grow(5);
    const res = await pushLog(url, l, 0);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^— witness\.llmaudit\.dev\/llmaudit-system [A-Za-z0-9+/=]+\n$/);
    const published = (await api.get('configmaps', 'llmaudit-system', WITNESS_CONFIGMAP))?.data as Record<string, string>;
    expect(published['verifier.key']?.trim()).toBe(cosigner.verifierKey);
    const cosigned = appendCosignatures(l.checkpoint(), [res.text]);
    expect(verifyCosignatures(cosigned, [parseCosignatureVerifierKey(cosigner.verifierKey)])).toHaveLength(1);
    const heads = readHeads(await api.get('configmaps', NS, headsConfigMapName('audit')));
    expect(heads[l.origin]).toMatchObject({ size: 5, pod: 'agent-1', policy: 'audit' });
    // The head keeps the cosigned checkpoint an auditor checks the log against.
    expect(heads[l.origin]?.checkpoint).toBe(cosigned);
    expect(await registry.metrics()).toContain('llmaudit_operator_witness_requests_total{result="cosigned"} 1');
  });

  it('answers 409 with text/x.tlog.size and the known size', async () => {
    const { url, log } = await setup();
    const l = log();
    l.grow(5);
    await pushLog(url, l, 0);
    l.grow(1);
    const res = await pushLog(url, l, 0);
    expect(res).toEqual({ status: 409, type: 'text/x.tlog.size', text: '5\n' });
  });

  it('answers 404 for an unknown policy, 403 for a wrong key, 422 for a bad proof, 400 for a malformed body, 405 for GET', async () => {
    const { url, log } = await setup();
    const l = log();
    l.grow(4);
    expect((await pushLog(url.replace('/audit', '/other'), l, 0)).status).toBe(404);
    const stranger = testLog(l.origin, generateSignerKey(`llmaudit.dev/${NS}/audit`));
    stranger.grow(4);
    expect((await pushLog(url, stranger, 0)).status).toBe(403);
    await pushLog(url, l, 0);
    l.grow(3);
    const bad = parseAddCheckpoint(Buffer.from(await l.body(4))).proof.map(() => Buffer.alloc(32, 7));
    expect((await push(url, await l.body(4, undefined, { proof: bad }))).status).toBe(422);
    expect((await push(url, 'hello')).status).toBe(400);
    expect((await request(`${url}/add-checkpoint`)).statusCode).toBe(405);
  });

  it('records a refused push on the head and reports it with Warning Events on the policy and the pod', async () => {
    const { api, url, log, events } = await setup();
    const l = log();
    l.grow(20);
    await pushLog(url, l, 0);
    const res = await pushLog(url, l, 0, 12);
    expect(res).toMatchObject({ status: 409, text: '20\n' });
    const heads = readHeads(await api.get('configmaps', NS, headsConfigMapName('audit')));
    expect(heads[l.origin]?.refused).toMatchObject({ kind: 'rollback', size: 12 });
    await expect.poll(() => events.map((e) => `${e.kind ?? ''} ${e.reason}`).sort()).toEqual(['AuditPolicy CheckpointRefused', 'Pod CheckpointRefused']);
  });

  it('two replicas racing on one head never cosign two different heads for one size', async () => {
    const { api, urls, keys } = await setup(2);
    const origin = `llmaudit.dev/${NS}/agent-1/uid-1`;
    const base = testLog(origin, keys);
    base.grow(10);
    await pushLog(urls[0] as string, base, 0);
    // Two forks of the same log at size 16, each sent to another replica, twenty times over.
    const cosignedAt16 = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const a = testLog(origin, keys);
      const b = testLog(origin, keys);
      a.leaves.push(...base.leaves);
      b.leaves.push(...base.leaves);
      a.grow(6, `a${round}`);
      b.grow(6, `b${round}`);
      const known = readHeads(await api.get('configmaps', NS, headsConfigMapName('audit')))[origin]?.size ?? 0;
      const [ra, rb] = await Promise.all([push(urls[0] as string, await a.body(known)), push(urls[1] as string, await b.body(known))]);
      const winners = [ra, rb].filter((r) => r.status === 200);
      expect(winners.length).toBeLessThanOrEqual(1);
      if (ra.status === 200) cosignedAt16.add(`${round}a`);
      if (rb.status === 200) cosignedAt16.add(`${round}b`);
      // Move the head on so each round races at a fresh size.
      base.leaves.splice(0, base.leaves.length, ...(ra.status === 200 ? a.leaves : rb.status === 200 ? b.leaves : base.leaves));
    }
    expect(cosignedAt16.size).toBeGreaterThan(0);
  });

  it('concurrent pushes from the two sidecars of one pod restart (same origin, same log) end at the larger head without a refusal', async () => {
    const { api, url, keys } = await setup();
    const origin = `llmaudit.dev/${NS}/agent-1/uid-1`;
    const log = testLog(origin, keys);
    log.grow(30);
    await pushLog(url, log, 0, 10);
    // The old container's final checkpoint (size 30) and the new one's first (also 30: it starts
    // from the old one's last checkpoint) arrive together.
    const [a, b] = await Promise.all([pushLog(url, log, 10, 30), pushLog(url, log, 10, 30)]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const retry = a.status === 409 ? a : b;
    expect(retry.text).toBe('30\n');
    expect((await pushLog(url, log, 30)).status).toBe(200);
    const head = readHeads(await api.get('configmaps', NS, headsConfigMapName('audit')))[origin];
    expect(head).toMatchObject({ size: 30 });
    expect(head?.refused).toBeUndefined();
  });

  it('creates the witness key once and reuses it on the next start; never replaces an unreadable one', async () => {
    const api = new MemoryKubeApi();
    const first = await ensureWitnessKey(api, 'ops');
    const again = await ensureWitnessKey(api, 'ops');
    expect(again.verifierKey).toBe(first.verifierKey);
    await api.patch('secrets', 'ops', WITNESS_KEY_SECRET, { data: { 'signer.key': Buffer.from('garbage').toString('base64') } }, { type: 'merge' });
    await expect(ensureWitnessKey(api, 'ops')).rejects.toMatchObject({ code: 'LLMAUDIT_E_WITNESS_KEY' });
  });
});
