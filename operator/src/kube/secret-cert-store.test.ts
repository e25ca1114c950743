import { describe, expect, it } from 'vitest';
import { webhookCaBundlePatcher } from './ca-bundle.ts';
import { MemoryKubeApi } from './memory-api.ts';
import { secretCertStore } from './secret-cert-store.ts';

const bundle = (tag: string) => ({ caCert: `ca-${tag}`, caKey: `cakey-${tag}`, cert: `crt-${tag}`, key: `key-${tag}` });

describe('secretCertStore', () => {
  it('round-trips a bundle and refuses a save based on a stale read (two leaders in a handover)', async () => {
    const api = new MemoryKubeApi();
    const a = secretCertStore(api, 'llmaudit', 'tls');
    const b = secretCertStore(api, 'llmaudit', 'tls');
    expect(await a.load()).toBeNull();
    expect(await b.load()).toBeNull();
    await a.save(bundle('a'));
    await expect(b.save(bundle('b'))).rejects.toMatchObject({ statusCode: 409 });
    expect(await b.load()).toEqual(bundle('a'));
    await b.save({ ...bundle('b'), previousCaCert: 'ca-a' });
    await expect(a.save(bundle('a2'))).rejects.toMatchObject({ statusCode: 409 });
    expect(await a.load()).toEqual({ ...bundle('b'), previousCaCert: 'ca-a' });
    expect(api.peek('secrets', 'llmaudit', 'tls')).toMatchObject({ type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('crt-b').toString('base64') } });
  });
});

describe('webhookCaBundlePatcher', () => {
  it('sets caBundle on every webhook, keeps the rest, and writes nothing when it is already set', async () => {
    const api = new MemoryKubeApi();
    await api.create('mutatingwebhookconfigurations', { metadata: { name: 'mwc' }, webhooks: [{ name: 'a', clientConfig: { service: { name: 's' } }, failurePolicy: 'Ignore' }, { name: 'b', clientConfig: {} }] });
    const patch = webhookCaBundlePatcher(api, 'mwc');
    await patch('PEM');
    const w = api.peek('mutatingwebhookconfigurations', undefined, 'mwc')?.webhooks;
    const b64 = Buffer.from('PEM').toString('base64');
    expect(w).toEqual([{ name: 'a', clientConfig: { service: { name: 's' }, caBundle: b64 }, failurePolicy: 'Ignore' }, { name: 'b', clientConfig: { caBundle: b64 } }]);
    const writes = api.writes.length;
    await patch('PEM');
    expect(api.writes.length).toBe(writes);
    await expect(webhookCaBundlePatcher(api, 'missing')('PEM')).rejects.toThrow(/not found/);
  });
});
