import { jsonEqual } from './merge-patch.ts';
import type { KubeApi } from './types.ts';

interface Webhook {
  clientConfig?: { caBundle?: string };
  [k: string]: unknown;
}

/**
 * Writes `pem` into clientConfig.caBundle of every webhook of the MutatingWebhookConfiguration
 * (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#contacting-the-webhook).
 * A merge patch replaces the webhooks list whole, so it carries the resourceVersion it was built
 * from as a precondition (409 on a concurrent change; the caller retries). Needs only get + patch.
 */
export function webhookCaBundlePatcher(api: KubeApi, name: string): (pem: string) => Promise<void> {
  return async (pem) => {
    const mwc = await api.get('mutatingwebhookconfigurations', undefined, name);
    if (mwc === undefined) throw new Error(`MutatingWebhookConfiguration ${name} not found`);
    const caBundle = Buffer.from(pem, 'utf8').toString('base64');
    const webhooks = (mwc.webhooks ?? []) as Webhook[];
    const next = webhooks.map((w) => ({ ...w, clientConfig: { ...(w.clientConfig ?? {}), caBundle } }));
    if (jsonEqual(webhooks, next)) return;
    await api.patch('mutatingwebhookconfigurations', undefined, name, { metadata: { resourceVersion: mwc.metadata.resourceVersion }, webhooks: next }, { type: 'merge' });
  };
}
