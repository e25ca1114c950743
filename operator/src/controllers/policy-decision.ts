import { API_VERSION, KIND, type AuditPolicy, type AuditPolicyStatus, type Condition } from '../api/audit-policy.ts';
import { LABEL_POLICY, SIGNING_FILE, policyResourceNames } from '../api/names.ts';
import type { KubeObject, OwnerReference } from '../kube/types.ts';
import type { PodCounts } from './pod-counter.ts';

/** Key of the generated signing Secret that holds the verifier key (public; for humans and `kubectl get`). */
export const VERIFIER_FILE = 'verifier.key';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'llmaudit-operator' } as const;
const MAX_MISSING_LISTED = 20;

export interface PolicyObserved {
  configMap?: KubeObject | undefined;
  /** The generated Secret, or the one spec.signing.secretRef names. */
  signingSecret?: KubeObject | undefined;
  /** The created claim, or spec.storage.existingClaim. */
  pvc?: KubeObject | undefined;
  /** A new key, supplied by the shell when the generated Secret does not exist yet. */
  freshKey?: { signerKey: string; verifierKey: string } | undefined;
  pods: PodCounts;
  workloads: number;
}

export interface PolicyContext {
  /** AuditPolicy → ConfigMap data with the validated sidecar config (render/render-config.ts renderConfigMapData); throws when invalid. */
  render: (policy: AuditPolicy) => Record<string, string>;
  /** Signed-note signer key text → its verifier key; throws when it is not one. */
  verifierKey: (signerKey: string) => string;
  /** RFC 3339 time for lastTransitionTime. */
  now: string;
}

export interface PolicyDecision {
  /** Desired ConfigMap; undefined when the policy does not render (the old config stays in place). */
  configMap: KubeObject | undefined;
  /** Generated signing Secret to create (only when it does not exist). */
  signingSecret: KubeObject | undefined;
  /** Claim to create (only when asked for and absent). */
  pvc: KubeObject | undefined;
  status: AuditPolicyStatus;
}

interface Problem {
  reason: string;
  message: string;
  /** Blocks Ready (pods cannot start or record) rather than only degrading. */
  blocking: boolean;
}

/**
 * The whole AuditPolicy reconcile decision, as a pure function of the policy and what exists:
 * the ConfigMap the sidecar reads (rendered and validated against the sidecar's own schema),
 * the signing Secret, the claim, and the status with Ready/Degraded conditions
 * (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties).
 * Everything created carries a controller owner reference, so deleting the policy lets the
 * garbage collector delete it too.
 */
export function reconcilePolicy(policy: AuditPolicy, observed: PolicyObserved, ctx: PolicyContext): PolicyDecision {
  const name = policy.metadata.name ?? '';
  const namespace = policy.metadata.namespace ?? '';
  const names = policyResourceNames(name);
  const owner = ownerReference(policy);
  const labels = { ...MANAGED_BY, [LABEL_POLICY]: name };
  const problems: Problem[] = [];

  let configMap: KubeObject | undefined;
  try {
    const data = ctx.render(policy);
    configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: names.configMap, namespace, labels, ownerReferences: [owner] },
      data,
    };
  } catch (err) {
    problems.push({ reason: 'ConfigInvalid', message: `the policy does not render into a valid sidecar config: ${(err as Error).message}`, blocking: true });
  }

  let signingSecret: KubeObject | undefined;
  let publicKey: string | undefined;
  const ref = policy.spec.signing.secretRef;
  if (ref !== undefined) {
    const text = secretValue(observed.signingSecret, ref.key);
    if (observed.signingSecret === undefined) problems.push({ reason: 'SigningSecretMissing', message: `Secret ${ref.name} (spec.signing.secretRef) not found`, blocking: true });
    else if (text === undefined) problems.push({ reason: 'SigningSecretInvalid', message: `Secret ${ref.name} has no key ${ref.key}`, blocking: true });
    else {
      try {
        publicKey = ctx.verifierKey(text.trim());
      } catch (err) {
        problems.push({ reason: 'SigningSecretInvalid', message: `Secret ${ref.name} key ${ref.key} is not a signed-note Ed25519 signer key: ${(err as Error).message}`, blocking: true });
      }
    }
  } else if (observed.signingSecret !== undefined) {
    const verifier = secretValue(observed.signingSecret, VERIFIER_FILE);
    const signer = secretValue(observed.signingSecret, SIGNING_FILE);
    try {
      publicKey = verifier?.trim() ?? (signer === undefined ? undefined : ctx.verifierKey(signer.trim()));
    } catch {
      publicKey = undefined;
    }
    if (publicKey === undefined) problems.push({ reason: 'SigningSecretInvalid', message: `Secret ${names.signingSecret} has no usable ${SIGNING_FILE}; delete it to have a new key generated`, blocking: true });
  } else if (observed.freshKey !== undefined) {
    publicKey = observed.freshKey.verifierKey;
    signingSecret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: names.signingSecret, namespace, labels, ownerReferences: [owner] },
      data: { [SIGNING_FILE]: b64(`${observed.freshKey.signerKey}\n`), [VERIFIER_FILE]: b64(`${observed.freshKey.verifierKey}\n`) },
    };
  } else {
    problems.push({ reason: 'SigningSecretMissing', message: `Secret ${names.signingSecret} does not exist yet`, blocking: true });
  }

  let pvc: KubeObject | undefined;
  const storage = policy.spec.storage;
  if (storage.existingClaim !== undefined) {
    if (observed.pvc === undefined) problems.push({ reason: 'ClaimMissing', message: `PersistentVolumeClaim ${storage.existingClaim} (spec.storage.existingClaim) not found`, blocking: true });
  } else if (storage.create !== undefined && observed.pvc === undefined) {
    const c = storage.create;
    pvc = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: names.pvc, namespace, labels, ownerReferences: [owner] },
      spec: {
        accessModes: c.accessModes,
        resources: { requests: { storage: String(c.size) } },
        ...(c.storageClassName === undefined ? {} : { storageClassName: c.storageClassName }),
      },
    };
  }

  const missing = observed.pods.missing;
  if (missing.length > 0) {
    problems.push({
      reason: 'PodsMissingSidecar',
      message: `${missing.length} pod(s) labelled llmaudit.dev/inject=true run without the sidecar (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}); delete them to re-inject`,
      blocking: false,
    });
  }

  const gen = policy.metadata.generation ?? 0;
  const prev = policy.status?.conditions;
  const blocking = problems.filter((p) => p.blocking);
  const ready = blocking.length === 0
    ? condition('Ready', 'True', 'Reconciled', 'config, signing key and storage are in place', gen, prev, ctx.now)
    : condition('Ready', 'False', blocking[0]?.reason ?? 'Error', blocking.map((p) => p.message).join('; '), gen, prev, ctx.now);
  const degraded = problems.length === 0
    ? condition('Degraded', 'False', 'AsExpected', 'no problems found', gen, prev, ctx.now)
    : condition('Degraded', 'True', problems[0]?.reason ?? 'Error', problems.map((p) => p.message).join('; '), gen, prev, ctx.now);

  const old = policy.status ?? {};
  const status: AuditPolicyStatus = {
    // The witness rollup (witness/status-rollup.ts) sets these after this decision; kept as they are otherwise.
    ...pick(old, ['chains', 'entries', 'lastCheckpointTime', 'witnessedChains', 'staleChains', 'inconsistentChains', 'witnessKey']),
    observedGeneration: gen,
    conditions: [ready, degraded],
    workloads: observed.workloads,
    podsInjected: observed.pods.injected,
    podsMissing: missing.length,
    ...(missing.length > 0 ? { missingPods: missing.slice(0, MAX_MISSING_LISTED) } : {}),
    ...(publicKey === undefined ? {} : { publicKey }),
  };
  return { configMap, signingSecret, pvc, status };
}

export function ownerReference(policy: AuditPolicy): OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: policy.metadata.name ?? '', uid: policy.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** lastTransitionTime moves only when the status value changes (api-conventions "Conditions"). */
function condition(type: string, status: 'True' | 'False', reason: string, message: string, gen: number, prev: readonly Condition[] | undefined, now: string): Condition {
  const old = prev?.find((c) => c.type === type);
  const lastTransitionTime = old !== undefined && old.status === status ? old.lastTransitionTime : now;
  return { type, status, observedGeneration: gen, lastTransitionTime, reason, message: message.slice(0, 32768) };
}

function secretValue(secret: KubeObject | undefined, key: string): string | undefined {
  const data = (secret?.data ?? {}) as Record<string, string>;
  const v = data[key];
  if (v !== undefined) return Buffer.from(v, 'base64').toString('utf8');
  const sd = (secret?.stringData ?? {}) as Record<string, string>;
  return sd[key];
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
