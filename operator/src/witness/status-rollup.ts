// The imperative half of the rollup, called by the AuditPolicy controller: reads the policy's
// heads ConfigMap, applies rollup.ts, sets llmaudit_operator_chains.
import type { AuditPolicy, AuditPolicyStatus } from '../api/audit-policy.ts';
import type { KubeApi } from '../kube/types.ts';
import { headsConfigMapName, readHeads } from './heads.ts';
import { rollupHeads, withWitnessStatus } from './rollup.ts';
import type { WitnessMetrics } from './witness-metrics.ts';

export interface PolicyWitness {
  /** The witness's cosigner verifier key, published in status.witnessKey. */
  verifierKey: string;
  metrics?: WitnessMetrics;
}

export async function applyWitnessRollup(api: KubeApi, policy: AuditPolicy, status: AuditPolicyStatus, witness: PolicyWitness, livePodUids: ReadonlySet<string>, now: Date): Promise<AuditPolicyStatus> {
  const ns = policy.metadata.namespace ?? '';
  const name = policy.metadata.name ?? '';
  const heads = readHeads(await api.get('configmaps', ns, headsConfigMapName(name)));
  const r = rollupHeads(heads, { livePodUids, checkpointIntervalSeconds: policy.spec.log.checkpointIntervalSeconds, now });
  if (witness.metrics !== undefined) {
    witness.metrics.chains.set({ namespace: ns, policy: name, state: 'witnessed' }, r.witnessed.length);
    witness.metrics.chains.set({ namespace: ns, policy: name, state: 'stale' }, r.stale.length);
    witness.metrics.chains.set({ namespace: ns, policy: name, state: 'inconsistent' }, r.inconsistent.length);
  }
  return withWitnessStatus(status, r, { generation: policy.metadata.generation ?? 0, previous: policy.status?.conditions, now: now.toISOString().replace(/\.\d+Z$/, 'Z'), witnessKey: witness.verifierKey });
}
