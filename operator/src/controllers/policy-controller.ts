import type { AuditPolicy, AuditPolicyStatus } from '../api/audit-policy.ts';
import { policyResourceNames } from '../api/names.ts';
import { isConflict } from '../kube/api-error.ts';
import type { EmitEvent } from '../kube/events.ts';
import { jsonEqual } from '../kube/merge-patch.ts';
import type { KubeApi, KubeObject } from '../kube/types.ts';
import type { PodCounts } from './pod-counter.ts';
import { reconcilePolicy, type PolicyContext } from './policy-decision.ts';
import { remedyFor } from './remedy.ts';
import { applyWitnessRollup, type PolicyWitness } from '../witness/status-rollup.ts';

export interface PolicyControllerDeps {
  api: KubeApi;
  render: PolicyContext['render'];
  verifierKey: PolicyContext['verifierKey'];
  /** Signed-note key generation (`generateSignerKey` from @llmaudit/sidecar/auditlog). */
  generateKey: (name: string) => { signerKey: string; verifierKey: string };
  emitEvent: EmitEvent;
  now?: () => Date;
  /** The operator's witness: its heads are rolled up into status (witness/status-rollup.ts). */
  witness?: PolicyWitness;
}

export interface PolicyInputs {
  pods: PodCounts;
  workloads: number;
  /** The pods counted in pods.missing (for their Events). */
  missingPods: readonly KubeObject[];
  /** UIDs of the policy's live injected pods (only their chains can go stale). */
  livePodUids?: ReadonlySet<string>;
}

/** What one reconcile wrote (tests, logs). */
export interface ReconcileResult {
  writes: string[];
}

/**
 * The imperative half of the AuditPolicy controller: read what exists, ask reconcilePolicy what
 * should, write only the difference, status last and only when it changed.
 */
export async function applyPolicy(policy: AuditPolicy, inputs: PolicyInputs, deps: PolicyControllerDeps): Promise<ReconcileResult> {
  const { api } = deps;
  const ns = policy.metadata.namespace ?? '';
  const name = policy.metadata.name ?? '';
  const names = policyResourceNames(name);
  const ref = policy.spec.signing.secretRef;
  const claim = policy.spec.storage.existingClaim ?? (policy.spec.storage.create !== undefined ? names.pvc : undefined);
  const [configMap, signingSecret, pvc] = await Promise.all([
    api.get('configmaps', ns, names.configMap),
    api.get('secrets', ns, ref?.name ?? names.signingSecret),
    claim === undefined ? Promise.resolve(undefined) : api.get('persistentvolumeclaims', ns, claim),
  ]);
  // The key name is the policy's identity in signed notes; the sidecar signs checkpoints with it.
  const freshKey = ref === undefined && signingSecret === undefined ? deps.generateKey(`llmaudit.dev/${ns}/${name}`) : undefined;
  const decision = reconcilePolicy(
    policy,
    { configMap, signingSecret, pvc, freshKey, pods: inputs.pods, workloads: inputs.workloads },
    { render: deps.render, verifierKey: deps.verifierKey, now: (deps.now?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z') },
  );
  const writes: string[] = [];
  let status = decision.status;
  if (deps.witness !== undefined) status = await applyWitnessRollup(api, policy, status, deps.witness, inputs.livePodUids ?? new Set(), deps.now?.() ?? new Date());

  if (decision.signingSecret !== undefined) {
    try {
      await api.create('secrets', decision.signingSecret);
      writes.push(`create secret ${names.signingSecret}`);
    } catch (err) {
      // Another writer (a previous leader) made it first: use theirs, on the next pass.
      if (!isConflict(err)) throw err;
      const { publicKey: _dropped, ...rest } = status;
      status = rest;
    }
  }
  if (decision.pvc !== undefined) {
    await createIfAbsent(api, 'persistentvolumeclaims', decision.pvc);
    writes.push(`create pvc ${names.pvc}`);
  }
  if (decision.configMap !== undefined) {
    if (configMap === undefined) {
      await createIfAbsent(api, 'configmaps', decision.configMap);
      writes.push(`create configmap ${names.configMap}`);
    } else if (!ownsSame(configMap, decision.configMap)) {
      await api.patch('configmaps', ns, names.configMap, { metadata: { labels: decision.configMap.metadata.labels, ownerReferences: decision.configMap.metadata.ownerReferences }, data: decision.configMap.data }, { type: 'merge' });
      writes.push(`update configmap ${names.configMap}`);
    }
  }
  if (!jsonEqual(policy.status ?? {}, status)) {
    await api.patch('auditpolicies', ns, name, { status: mergePatchFor(policy.status ?? {}, status) }, { type: 'merge', subresource: 'status' });
    writes.push('update status');
  }
  // Advice, not state: each Event names the command that gets the pod its sidecar.
  const remedies = [...new Set(inputs.missingPods.map(remedyFor))].sort();
  for (const pod of inputs.missingPods) {
    await deps.emitEvent({
      regarding: { apiVersion: 'v1', kind: 'Pod', ...pod },
      type: 'Warning',
      reason: 'SidecarMissing',
      message: `Pod is labelled llmaudit.dev/inject=true but runs without the llmaudit sidecar (AuditPolicy ${name}; the webhook was down or timed out when it was created); its LLM traffic is not recorded. Run: ${remedyFor(pod)}`,
    });
  }
  if (inputs.missingPods.length > 0) {
    const shown = inputs.pods.missing.slice(0, 5).join(', ') + (inputs.pods.missing.length > 5 ? ', …' : '');
    await deps.emitEvent({
      regarding: { apiVersion: 'llmaudit.dev/v1alpha1', kind: 'AuditPolicy', metadata: policy.metadata },
      type: 'Warning',
      reason: 'PodsMissingSidecar',
      message: `${inputs.pods.missing.length} pod(s) labelled for injection run without the llmaudit sidecar (${shown}); their LLM traffic is not recorded. Run: ${remedies.slice(0, 5).join('; ')}`,
    });
  }
  return { writes };
}

async function createIfAbsent(api: KubeApi, resource: 'configmaps' | 'persistentvolumeclaims', obj: KubeObject): Promise<void> {
  try {
    await api.create(resource, obj);
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

/** The observed object already has the desired data, labels and owner reference. */
function ownsSame(observed: KubeObject, desired: KubeObject): boolean {
  const labels = observed.metadata.labels ?? {};
  const labelsOk = Object.entries(desired.metadata.labels ?? {}).every(([k, v]) => labels[k] === v);
  return labelsOk && jsonEqual(observed.data ?? {}, desired.data ?? {}) && jsonEqual(observed.metadata.ownerReferences ?? [], desired.metadata.ownerReferences ?? []);
}

/** A merge patch turning `from` into `to` (top level: removed keys become null). */
function mergePatchFor(from: AuditPolicyStatus, to: AuditPolicyStatus): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  for (const [k, v] of Object.entries(to)) if (!jsonEqual((from as Record<string, unknown>)[k], v)) patch[k] = v;
  return patch;
}
