// The operator's witness key: an Ed25519 cosigner key (C2SP tlog-cosignature, type 0x04) kept in
// the Secret `llmaudit-witness-key` of the operator's namespace. The first replica to start
// creates it; the others (and later starts) read it. It is never replaced: a Secret that is there
// but unreadable stops the witness with an error rather than silently starting a new identity,
// since every cosignature an auditor holds names the old key. Its verifier key is published in
// the ConfigMap `llmaudit-witness` (key verifier.key) of the same namespace.
import { generateCosignerKey, parseCosignerKey, type Cosigner } from '@llmaudit/sidecar/auditlog';
import { MANAGED_BY } from '../controllers/policy-decision.ts';
import { isConflict } from '../kube/api-error.ts';
import type { KubeApi, KubeObject } from '../kube/types.ts';
import { operatorError } from '../errors.ts';

export const WITNESS_KEY_SECRET = 'llmaudit-witness-key';
export const WITNESS_CONFIGMAP = 'llmaudit-witness';
export const SIGNER_FILE = 'signer.key';
export const VERIFIER_FILE = 'verifier.key';

/** The witness's name in cosignature lines: witness.llmaudit.dev/<operator namespace>. */
export const witnessKeyName = (namespace: string): string => `witness.llmaudit.dev/${namespace}`;

function secretText(secret: KubeObject, key: string): string | undefined {
  const v = (secret.data as Record<string, string> | undefined)?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function cosignerOf(secret: KubeObject): Cosigner {
  const text = secretText(secret, SIGNER_FILE);
  if (text === undefined) throw operatorError('LLMAUDIT_E_WITNESS_KEY', `Secret ${WITNESS_KEY_SECRET} has no ${SIGNER_FILE}; it is never replaced automatically: restore it, or delete it to start a new witness identity`);
  try {
    return parseCosignerKey(text.trim());
  } catch (err) {
    throw operatorError('LLMAUDIT_E_WITNESS_KEY', `Secret ${WITNESS_KEY_SECRET} key ${SIGNER_FILE}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads the witness key, creating it when absent (the first start). */
export async function ensureWitnessKey(api: KubeApi, namespace: string): Promise<Cosigner> {
  const existing = await api.get('secrets', namespace, WITNESS_KEY_SECRET);
  let cosigner: Cosigner;
  if (existing !== undefined) cosigner = cosignerOf(existing);
  else {
    const fresh = generateCosignerKey(witnessKeyName(namespace));
    try {
      await api.create('secrets', {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: WITNESS_KEY_SECRET, namespace, labels: { ...MANAGED_BY } },
        data: { [SIGNER_FILE]: Buffer.from(`${fresh.signerKey}\n`).toString('base64'), [VERIFIER_FILE]: Buffer.from(`${fresh.verifierKey}\n`).toString('base64') },
      });
      cosigner = parseCosignerKey(fresh.signerKey);
    } catch (err) {
      // Another replica created it first: use theirs.
      if (!isConflict(err)) throw err;
      const theirs = await api.get('secrets', namespace, WITNESS_KEY_SECRET);
      if (theirs === undefined) throw err;
      cosigner = cosignerOf(theirs);
    }
  }
  await publishVerifierKey(api, namespace, cosigner.verifierKey);
  return cosigner;
}

async function publishVerifierKey(api: KubeApi, namespace: string, verifierKey: string): Promise<void> {
  const data = { [VERIFIER_FILE]: `${verifierKey}\n` };
  const cm = await api.get('configmaps', namespace, WITNESS_CONFIGMAP);
  if (cm === undefined) {
    try {
      await api.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: WITNESS_CONFIGMAP, namespace, labels: { ...MANAGED_BY } }, data });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  } else if ((cm.data as Record<string, string> | undefined)?.[VERIFIER_FILE] === data[VERIFIER_FILE]) return;
  await api.patch('configmaps', namespace, WITNESS_CONFIGMAP, { data }, { type: 'merge' });
}
