// The witnessed heads of a policy rolled up into its status (pure): how many chains and entries
// the witness holds, the newest checkpoint time, and which chains are stale (a live pod that has
// not pushed for 3 × the checkpoint interval) or inconsistent (a push was refused: rollback, fork,
// truncation), with the Verified and Degraded conditions that follow.
import type { AuditPolicyStatus, Condition } from '../api/audit-policy.ts';
import type { Heads } from './heads.ts';

export const MAX_LISTED_CHAINS = 20;
export const STALE_INTERVALS = 3;

export interface WitnessRollup {
  chains: number;
  entries: number;
  lastCheckpointTime: string | undefined;
  witnessed: string[];
  stale: string[];
  inconsistent: string[];
}

export interface RollupInputs {
  /** UIDs of the policy's live pods: only their chains can go stale (a deleted pod's log is complete). */
  livePodUids: ReadonlySet<string>;
  checkpointIntervalSeconds: number;
  now: Date;
}

/** A chain's name in status: its pod, else its origin. */
const chainName = (h: { pod: string; origin: string }): string => (h.pod !== '' ? h.pod : h.origin);

export function rollupHeads(heads: Heads, inputs: RollupInputs): WitnessRollup {
  const list = Object.values(heads).sort((a, b) => chainName(a).localeCompare(chainName(b)));
  const staleBefore = inputs.now.getTime() - STALE_INTERVALS * inputs.checkpointIntervalSeconds * 1000;
  let entries = 0;
  let last: string | undefined;
  const witnessed: string[] = [];
  const stale: string[] = [];
  const inconsistent: string[] = [];
  for (const h of list) {
    entries += h.size;
    if (last === undefined || h.time > last) last = h.time;
    if (h.refused !== undefined) inconsistent.push(chainName(h));
    else witnessed.push(chainName(h));
    if (inputs.livePodUids.has(h.podUid) && Date.parse(h.time) < staleBefore) stale.push(chainName(h));
  }
  return { chains: list.length, entries, lastCheckpointTime: last, witnessed, stale, inconsistent };
}

function condition(type: string, status: Condition['status'], reason: string, message: string, gen: number, prev: readonly Condition[] | undefined, now: string): Condition {
  const old = prev?.find((c) => c.type === type);
  const lastTransitionTime = old !== undefined && old.status === status ? old.lastTransitionTime : now;
  return { type, status, observedGeneration: gen, lastTransitionTime, reason, message: message.slice(0, 32768) };
}

const listed = (names: string[]): string => `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`;

/**
 * The status with the rollup applied: the witness fields, a Verified condition, and Degraded
 * turned True (or its message extended) for stale and inconsistent chains.
 */
export function withWitnessStatus(status: AuditPolicyStatus, r: WitnessRollup, ctx: { generation: number; previous: readonly Condition[] | undefined; now: string; witnessKey: string | undefined }): AuditPolicyStatus {
  const { generation: gen, previous: prev, now } = ctx;
  const verified =
    r.inconsistent.length > 0
      ? condition('Verified', 'False', 'Inconsistent', `the witness refused checkpoints of ${r.inconsistent.length} chain(s) (${listed(r.inconsistent)}): their logs were rolled back, truncated or forked; see the CheckpointRefused Events`, gen, prev, now)
      : r.chains === 0
        ? condition('Verified', 'Unknown', 'NoCheckpoints', 'the witness has no checkpoint of this policy yet', gen, prev, now)
        : condition('Verified', 'True', 'Witnessed', `every checkpoint of ${r.chains} chain(s) the witness saw is consistent with the ones before`, gen, prev, now);
  const problems: { reason: string; message: string }[] = [];
  if (r.inconsistent.length > 0) problems.push({ reason: 'ChainsInconsistent', message: `${r.inconsistent.length} chain(s) failed the witness (${listed(r.inconsistent)})` });
  if (r.stale.length > 0) problems.push({ reason: 'ChainsStale', message: `${r.stale.length} chain(s) of running pods sent no checkpoint for ${STALE_INTERVALS} checkpoint intervals (${listed(r.stale)}): is the witness reachable from them?` });
  const conditions = (status.conditions ?? []).filter((c) => c.type !== 'Verified').map((c) => {
    if (c.type !== 'Degraded' || problems.length === 0) return c;
    if (c.status === 'True') return { ...c, message: `${c.message}; ${problems.map((p) => p.message).join('; ')}`.slice(0, 32768) };
    return condition('Degraded', 'True', problems[0]?.reason ?? 'Error', problems.map((p) => p.message).join('; '), gen, prev, now);
  });
  return {
    ...status,
    conditions: [...conditions, verified],
    chains: r.chains,
    entries: r.entries,
    ...(r.lastCheckpointTime === undefined ? {} : { lastCheckpointTime: r.lastCheckpointTime }),
    witnessedChains: r.witnessed.slice(0, MAX_LISTED_CHAINS),
    staleChains: r.stale.slice(0, MAX_LISTED_CHAINS),
    inconsistentChains: r.inconsistent.slice(0, MAX_LISTED_CHAINS),
    ...(ctx.witnessKey === undefined ? {} : { witnessKey: ctx.witnessKey }),
  };
}
