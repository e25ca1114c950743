// The sidecar's witness pusher against the operator's real witness server (heads in an in-memory
// Kubernetes API), with a real audit log on a temp dir.
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSignerKey, openLog, parseCosignatureVerifierKey, verifyCheckpoint, verifyCosignatures, parseVerifierKey, type AuditLog } from '@llmaudit/sidecar/auditlog';
import { WitnessPusher } from '@llmaudit/sidecar/witness';
import { samplePayload, tempDir } from '../../sidecar/src/auditlog/test-support.ts';
import type { AuditPolicy } from '../../operator/src/api/audit-policy.ts';
import { MemoryKubeApi } from '../../operator/src/kube/memory-api.ts';
import type { KubeObject } from '../../operator/src/kube/types.ts';
import { testPolicy } from '../../operator/src/testing/fixtures.ts';
import { HeadStore } from '../../operator/src/witness/head-store.ts';
import { headsConfigMapName, readHeads } from '../../operator/src/witness/heads.ts';
import { ensureWitnessKey } from '../../operator/src/witness/witness-key.ts';
import { createWitnessMetrics } from '../../operator/src/witness/witness-metrics.ts';
import { startWitnessServer } from '../../operator/src/witness/witness-server.ts';

const NS = 'team-a';
const ORIGIN = `llmaudit.dev/${NS}/agent-1/uid-1`;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function witnessFixture() {
  const api = new MemoryKubeApi();
  const keys = generateSignerKey(`llmaudit.dev/${NS}/audit`);
  const policy = (await api.create('auditpolicies', testPolicy('audit', NS) as unknown as KubeObject)) as unknown as AuditPolicy;
  await api.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'llmaudit-audit-signing', namespace: NS }, data: { 'signing.key': Buffer.from(keys.signerKey).toString('base64') } });
  const cosigner = await ensureWitnessKey(api, 'llmaudit-system');
  const server = await startWitnessServer({
    api,
    store: new HeadStore({ api, cosigner }),
    lookupPolicy: (ns, name) => (ns === NS && name === 'audit' ? policy : undefined),
    emitEvent: async () => undefined,
    metrics: createWitnessMetrics(new Registry()),
    log: silent,
    port: 0,
    host: '127.0.0.1',
  });
  cleanups.push(() => server.close());
  // A front door that can play "witness down" (503) before passing requests on.
  let down = false;
  const front: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (down) return void res.writeHead(503).end('down\n');
      void request(`http://127.0.0.1:${server.port}${req.url ?? '/'}`, { method: 'POST', body: Buffer.concat(chunks) }).then(async (r) => {
        res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type']) }).end(await r.body.text());
      });
    });
  });
  let connections = 0;
  front.on('connection', (socket) => {
    connections++;
    socket.on('close', () => connections--);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => front.close(() => resolve())));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/${NS}/audit`;
  const heads = async () => readHeads(await api.get('configmaps', NS, headsConfigMapName('audit')));
  return { api, keys, cosigner, url, heads, setDown: (d: boolean) => void (down = d), connections: () => connections };
}

async function openTestLog(signerKey: string, dir?: string): Promise<{ log: AuditLog; dir: string }> {
  const d = dir ?? (await tempDir('llmaudit-witness-')).dir;
  if (dir === undefined) cleanups.push(() => rm(d, { recursive: true, force: true }));
  const log = await openLog({ dir: d, origin: ORIGIN, signerKey, durability: 'strict' });
  cleanups.push(() => log.close());
  return { log, dir: d };
}

function pusherFor(log: AuditLog, url: string, registry = new Registry()) {
  const p = new WitnessPusher({ url, log, registry, logger: silent, intervalMs: 60_000, backoff: { minMs: 10, maxMs: 40 } });
  cleanups.push(() => p.close(0));
  return p;
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  await expect.poll(cond, { timeout: 10_000, interval: 10 }).toBe(true);
}

describe('witness pusher', () => {
  it('pushes each new checkpoint with a consistency proof and stores the cosignature beside it', async () => {
    const w = await witnessFixture();
    const { log, dir } = await openTestLog(w.keys.signerKey);
    const pusher = pusherFor(log, w.url);
    for (let i = 0; i < 5; i++) await log.append(samplePayload(i));
    pusher.offer(await log.checkpoint());
    await until(() => pusher.cosigned()?.split('\n')[1] === '5');
    for (let i = 5; i < 12; i++) await log.append(samplePayload(i));
    pusher.offer(await log.checkpoint());
    await until(() => pusher.cosigned()?.split('\n')[1] === '12');
    expect((await w.heads())[ORIGIN]?.size).toBe(12);
    const stored = await readFile(path.join(dir, 'checkpoints', '000000000012'), 'utf8');
    verifyCheckpoint(stored, parseVerifierKey(w.keys.verifierKey));
    expect(verifyCosignatures(stored, [parseCosignatureVerifierKey(w.cosigner.verifierKey)])).toHaveLength(1);
    expect(pusher.withCosignatures(log.latestCheckpoint())).toBe(stored);
  });

  it('keeps one connection to the witness open between pushes and closes it when closed', async () => {
    const w = await witnessFixture();
    const { log } = await openTestLog(w.keys.signerKey);
    const pusher = pusherFor(log, w.url);
    for (let n = 1; n <= 3; n++) {
      await log.append(samplePayload(n));
      pusher.offer(await log.checkpoint());
      await until(() => pusher.cosigned()?.split('\n')[1] === String(n));
    }
    expect(w.connections()).toBe(1);
    await pusher.close();
    await until(() => w.connections() === 0);
  });

  it('queues while the witness is down (newest wins), counts the failures, and catches up when it is back', async () => {
    const w = await witnessFixture();
    const { log } = await openTestLog(w.keys.signerKey);
    const registry = new Registry();
    const pusher = pusherFor(log, w.url, registry);
    w.setDown(true);
    for (let i = 0; i < 3; i++) {
      await log.append(samplePayload(i));
      pusher.offer(await log.checkpoint());
    }
    await until(async () => (await registry.metrics()).includes('llmaudit_witness_failures_total{reason="server_error"}'));
    expect(await registry.metrics()).toContain('llmaudit_witness_pending 1');
    w.setDown(false);
    await until(() => pusher.cosigned()?.split('\n')[1] === '3');
    await until(async () => (await registry.metrics()).includes('llmaudit_witness_pending 0'));
    expect((await w.heads())[ORIGIN]?.size).toBe(3);
  });

  it('after a restart (old size unknown) follows the 409 to the witnessed size and proves from there', async () => {
    const w = await witnessFixture();
    const first = await openTestLog(w.keys.signerKey);
    const p1 = pusherFor(first.log, w.url);
    for (let i = 0; i < 4; i++) await first.log.append(samplePayload(i));
    p1.offer(await first.log.checkpoint());
    await until(() => p1.cosigned() !== null);
    await p1.close(0);
    await first.log.close();
    const second = await openTestLog(w.keys.signerKey, first.dir);
    const p2 = pusherFor(second.log, w.url);
    for (let i = 4; i < 9; i++) await second.log.append(samplePayload(i));
    p2.offer(await second.log.checkpoint());
    await until(() => p2.cosigned()?.split('\n')[1] === '9');
    expect((await w.heads())[ORIGIN]).toMatchObject({ size: 9 });
    expect((await w.heads())[ORIGIN]?.refused).toBeUndefined();
  });

  it('a log that went back behind the witnessed size is refused and counted as rolled back', async () => {
    const w = await witnessFixture();
    const big = await openTestLog(w.keys.signerKey);
    const registry = new Registry();
    const p1 = pusherFor(big.log, w.url);
    for (let i = 0; i < 6; i++) await big.log.append(samplePayload(i));
    p1.offer(await big.log.checkpoint());
    await until(() => p1.cosigned() !== null);
    // Another log with the same origin and key but fewer entries: what a truncated log signs.
    const small = await openTestLog(w.keys.signerKey);
    const p2 = pusherFor(small.log, w.url, registry);
    for (let i = 0; i < 2; i++) await small.log.append(samplePayload(i));
    p2.offer(await small.log.checkpoint());
    await until(async () => (await registry.metrics()).includes('llmaudit_witness_failures_total{reason="rolled_back"} 1'));
    expect((await w.heads())[ORIGIN]?.refused).toMatchObject({ kind: 'rollback', size: 2 });
    expect(p2.cosigned()).toBeNull();
  });
});
