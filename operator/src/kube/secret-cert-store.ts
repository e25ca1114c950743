import type { CertBundle } from '../certs/rotation.ts';
import type { CertStore } from '../certs/self-managed.ts';
import type { KubeApi, KubeObject } from './types.ts';

const KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key', previousCaCert: 'ca-previous.crt' } as const;

/**
 * The self-managed webhook certificates kept in one kubernetes.io/tls Secret (--cert-secret; the
 * extra ca.key / ca-previous.crt keys are allowed beside tls.crt / tls.key). Saves carry the
 * resourceVersion last loaded, so two leaders in a handover cannot overwrite each other: the
 * loser gets 409 and reloads on its next tick.
 */
export function secretCertStore(api: KubeApi, namespace: string, name: string): CertStore {
  let loaded: KubeObject | undefined;
  return {
    async load() {
      loaded = await api.get('secrets', namespace, name);
      const data = (loaded?.data ?? {}) as Record<string, string>;
      const read = (k: string): string | undefined => (data[k] === undefined ? undefined : Buffer.from(data[k], 'base64').toString('utf8'));
      const caCert = read(KEYS.caCert);
      const caKey = read(KEYS.caKey);
      const cert = read(KEYS.cert);
      const key = read(KEYS.key);
      if (caCert === undefined || caKey === undefined || cert === undefined || key === undefined || cert === '' || key === '') return null;
      const previousCaCert = read(KEYS.previousCaCert);
      return { caCert, caKey, cert, key, ...(previousCaCert === undefined || previousCaCert === '' ? {} : { previousCaCert }) };
    },
    async save(bundle: CertBundle) {
      const data: Record<string, string> = {};
      for (const [field, key] of Object.entries(KEYS)) {
        const v = bundle[field as keyof CertBundle];
        if (v !== undefined) data[key] = Buffer.from(v, 'utf8').toString('base64');
      }
      const body: KubeObject = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { ...(loaded?.metadata ?? { name, namespace }), labels: { ...(loaded?.metadata.labels ?? {}), 'app.kubernetes.io/managed-by': 'llmaudit-operator' } },
        data,
      };
      loaded = loaded === undefined ? await api.create('secrets', body) : await api.replace('secrets', body);
    },
  };
}
