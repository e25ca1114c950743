import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookServer, type WebhookServer } from '../webhook/server.ts';
import { httpsPost } from '../webhook/https-post.test-support.ts';
import { createCertDirSource, readCertDir, type CertKeyPair } from './cert-dir.ts';
import { generateCa, generateServingCert, serviceDnsNames } from './generate.ts';
import { caBundleOf, planRotation, type CertBundle } from './rotation.ts';
import { createSelfManagedCerts, type CertStore } from './self-managed.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const NAMES = serviceDnsNames('llmaudit-webhook', 'llmaudit');
const SNI = 'llmaudit-webhook.llmaudit.svc';

function memoryStore(): CertStore & { saved: CertBundle[]; value: CertBundle | null } {
  const s = {
    value: null as CertBundle | null,
    saved: [] as CertBundle[],
    load: async () => s.value,
    save: async (b: CertBundle) => {
      s.value = b;
      s.saved.push(b);
    },
  };
  return s;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startServer(tls?: CertKeyPair): { server: WebhookServer; ready: Promise<{ port: number }> } {
  const server = createWebhookServer({
    port: 0,
    host: '127.0.0.1',
    ...(tls === undefined ? {} : { tls }),
    lookupPolicy: () => undefined,
    cluster: () => ({ serverVersion: { major: '1', minor: '31' }, openshift: false, sidecarImage: 'img' }),
    emitEvent: () => undefined,
    count: () => undefined,
  });
  cleanups.push(() => server.close());
  return { server, ready: server.start() };
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
const probe = (port: number, ca: string) => httpsPost({ port, ca, servername: SNI, path: '/nope', body: '' });

describe('certificate generation', () => {
  it('a CA and a serving cert for the Service names, verifiable by Node', async () => {
    const now = new Date();
    const ca = await generateCa({ commonName: 'test-ca', now, validityMs: 3650 * DAY });
    const leaf = await generateServingCert({ ca, dnsNames: NAMES, now, validityMs: 30 * DAY });
    const caX = new X509Certificate(ca.certPem);
    const leafX = new X509Certificate(leaf.certPem);
    expect(caX.ca).toBe(true);
    expect(leafX.ca).toBe(false);
    expect(leafX.verify(caX.publicKey)).toBe(true);
    expect(leafX.checkIssued(caX)).toBe(true);
    expect(leafX.subjectAltName).toBe('DNS:llmaudit-webhook.llmaudit.svc, DNS:llmaudit-webhook.llmaudit.svc.cluster.local, DNS:llmaudit-webhook.llmaudit, DNS:llmaudit-webhook');
    expect(leafX.checkHost(SNI)).toBe(SNI);
    expect(leafX.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(Date.parse(leafX.validTo) - Date.parse(leafX.validFrom)).toBe(30 * DAY + 5 * MIN);
    expect(leafX.serialNumber).not.toBe(caX.serialNumber);
  });
});

describe('planRotation', () => {
  it('renews at 2/3 of the lifetime, and when names or the CA change', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const ca = await generateCa({ commonName: 'ca', now: t0, validityMs: 300 * DAY });
    const leaf = await generateServingCert({ ca, dnsNames: NAMES, now: t0, validityMs: 30 * DAY });
    const bundle: CertBundle = { caCert: ca.certPem, caKey: ca.keyPem, cert: leaf.certPem, key: leaf.keyPem };
    const policy = { renewFraction: 2 / 3, dnsNames: NAMES, caPhaseGapMs: 2 * MIN };
    const at = (ms: number) => new Date(t0.getTime() + ms);
    expect(planRotation(null, t0, policy).action).toBe('all');
    expect(planRotation(bundle, at(DAY), policy).action).toBe('none');
    expect(planRotation(bundle, at(19 * DAY), policy).action).toBe('none');
    expect(planRotation(bundle, at(21 * DAY), policy).action).toBe('serving');
    expect(planRotation(bundle, at(DAY), { ...policy, dnsNames: ['other.svc'] }).action).toBe('serving');
    // CA at 2/3 of 300 days: first phase keeps the serving cert that still works.
    const freshLeaf = await generateServingCert({ ca, dnsNames: NAMES, now: at(199 * DAY), validityMs: 30 * DAY });
    expect(planRotation({ ...bundle, cert: freshLeaf.certPem, key: freshLeaf.keyPem }, at(201 * DAY), policy).action).toBe('ca');
    expect(planRotation({ ...bundle, caCert: 'garbage' }, t0, policy).action).toBe('all');
  });

  it('after a CA rotation the serving cert moves to the new CA only after the phase gap', async () => {
    const t0 = new Date();
    const oldCa = await generateCa({ commonName: 'old', now: t0, validityMs: 300 * DAY });
    const newCa = await generateCa({ commonName: 'new', now: t0, validityMs: 300 * DAY });
    const leaf = await generateServingCert({ ca: oldCa, dnsNames: NAMES, now: t0, validityMs: 30 * DAY });
    const bridged: CertBundle = { caCert: newCa.certPem, caKey: newCa.keyPem, cert: leaf.certPem, key: leaf.keyPem, previousCaCert: oldCa.certPem };
    const policy = { renewFraction: 2 / 3, dnsNames: NAMES, caPhaseGapMs: 2 * MIN };
    expect(planRotation(bridged, new Date(t0.getTime() + MIN), policy).action).toBe('none');
    expect(planRotation(bridged, new Date(t0.getTime() + 3 * MIN), policy).action).toBe('serving');
    expect(caBundleOf(bridged)).toBe(newCa.certPem + oldCa.certPem);
  });
});

describe('self-managed certificates', () => {
  it('renews the serving cert before expiry; the running HTTPS server serves the new one without a restart', async () => {
    const store = memoryStore();
    const patched: string[] = [];
    const holder: { server?: WebhookServer } = {};
    const real = Date.now();
    // The injected clock starts 50 minutes in the past: with a 60-minute serving cert renewed at
    // 2/3, the cert issued "then" is due now, yet every cert is valid in real time for TLS.
    let clock = new Date(real - 50 * MIN);
    const certs = createSelfManagedCerts({
      store,
      patchCaBundle: async (pem) => {
        patched.push(pem);
      },
      onBundle: (b) => holder.server?.setCertificate({ cert: b.cert, key: b.key }),
      isLeader: () => true,
      serviceName: 'llmaudit-webhook',
      namespace: 'llmaudit',
      now: () => clock,
      servingValidityMs: 60 * MIN,
      caValidityMs: 3650 * DAY,
    });
    const first = await certs.tick();
    expect(first.plan?.action).toBe('all');
    const b1 = first.bundle!;
    expect(patched).toEqual([b1.caCert]);

    const started = startServer({ cert: b1.cert, key: b1.key });
    const server = (holder.server = started.server);
    const { port } = await started.ready;
    const before = await probe(port, b1.caCert);
    expect(before.status).toBe(404);
    expect(before.peer.serialNumber).toBe(serialOf(b1.cert));

    clock = new Date(real - 45 * MIN);
    expect((await certs.tick()).plan?.action).toBe('none');

    clock = new Date(real);
    const second = await certs.tick();
    expect(second.plan?.action).toBe('serving');
    const b2 = second.bundle!;
    expect(b2.cert).not.toBe(b1.cert);
    expect(b2.caCert).toBe(b1.caCert);
    expect(store.saved).toHaveLength(2);
    // Same CA: the caBundle needs no patch.
    expect(patched).toHaveLength(1);
    const after = await probe(port, b1.caCert);
    expect(after.peer.serialNumber).toBe(serialOf(b2.cert));
    expect(after.peer.serialNumber).not.toBe(before.peer.serialNumber);
    expect(server.server.listening).toBe(true);
  });

  it('a follower only loads what the leader stored, and never writes', async () => {
    const store = memoryStore();
    const seen: CertBundle[] = [];
    const follower = createSelfManagedCerts({ store, patchCaBundle: () => Promise.reject(new Error('follower patched')), onBundle: (b) => seen.push(b), isLeader: () => false, serviceName: 's', namespace: 'n' });
    expect((await follower.tick()).bundle).toBeNull();
    const leader = createSelfManagedCerts({ store, patchCaBundle: async () => undefined, onBundle: () => undefined, isLeader: () => true, serviceName: 's', namespace: 'n' });
    await leader.tick();
    await follower.tick();
    await follower.tick();
    expect(seen).toHaveLength(1);
    expect(store.saved).toHaveLength(1);
  });
});

describe('cert-manager / service-ca mode: certificates from --cert-dir', () => {
  async function pairFor(names: string[]): Promise<{ ca: string; pair: CertKeyPair }> {
    const ca = await generateCa({ commonName: 'ext-ca', now: new Date(), validityMs: DAY });
    const leaf = await generateServingCert({ ca, dnsNames: names, now: new Date(), validityMs: DAY });
    return { ca: ca.certPem, pair: { cert: leaf.certPem, key: leaf.keyPem } };
  }

  it('loads tls.crt/tls.key, reloads the server when the mounted Secret changes, refuses a mismatched pair', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-certdir-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // As the kubelet does it: files behind a ..data symlink swapped atomically; here, atomic renames.
    const put = async (p: CertKeyPair) => {
      await writeFile(path.join(dir, 'tls.crt.new'), p.cert);
      await writeFile(path.join(dir, 'tls.key.new'), p.key);
      await rename(path.join(dir, 'tls.key.new'), path.join(dir, 'tls.key'));
      await rename(path.join(dir, 'tls.crt.new'), path.join(dir, 'tls.crt'));
    };
    const one = await pairFor(NAMES);
    await put(one.pair);
    const holder: { server?: WebhookServer } = {};
    let changed: () => void = () => undefined;
    const source = createCertDirSource({
      dir,
      pollMs: 200, // whichever comes first: fs.watch or the poll
      onChange: (p) => {
        holder.server?.setCertificate(p);
        changed();
      },
    });
    cleanups.push(() => source.close());
    const first = await readCertDir(dir);
    const started = startServer(first);
    holder.server = started.server;
    const { port } = await started.ready;
    await source.start();
    expect((await probe(port, one.ca)).peer.serialNumber).toBe(serialOf(one.pair.cert));

    const two = await pairFor(NAMES);
    const reloaded = new Promise<void>((resolve) => {
      changed = resolve;
    });
    await put(two.pair);
    await reloaded;
    expect((await probe(port, two.ca)).peer.serialNumber).toBe(serialOf(two.pair.cert));

    await writeFile(path.join(dir, 'tls.key'), one.pair.key);
    await expect(source.reload()).rejects.toMatchObject({ code: 'LLMAUDIT_E_WEBHOOK_TLS' });
    // The server keeps the last good pair.
    expect((await probe(port, two.ca)).peer.serialNumber).toBe(serialOf(two.pair.cert));
  });
});
