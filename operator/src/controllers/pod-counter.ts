import { LABEL_INJECT } from '../api/names.ts';
import type { KubeObject } from '../kube/types.ts';
import { injectedWith, requestedPolicy, resolvePolicyName } from './policy-lookup.ts';

export interface PodCounts {
  injected: number;
  /** Names of pods labelled for injection that run without the sidecar, sorted. */
  missing: string[];
}

/** A pod that is gone or going does not count (its replacement will). */
function isLive(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return pod.metadata.deletionTimestamp === undefined && phase !== 'Succeeded' && phase !== 'Failed';
}

/**
 * Per-policy pod counts for status, from the pods of one namespace: injected pods carry the
 * marker annotation (its value is the policy); a live pod labelled `llmaudit.dev/inject=true`
 * without it slipped past the webhook (failurePolicy: Ignore, webhook down, or created before
 * the operator) and is reported rather than silently missed.
 */
export function countPods(pods: readonly KubeObject[], policiesInNamespace: readonly string[]): Map<string, PodCounts> {
  const out = new Map<string, PodCounts>();
  const bucket = (p: string): PodCounts => {
    let c = out.get(p);
    if (c === undefined) {
      c = { injected: 0, missing: [] };
      out.set(p, c);
    }
    return c;
  };
  for (const p of policiesInNamespace) bucket(p);
  for (const pod of pods) {
    if (!isLive(pod)) continue;
    const injected = injectedWith(pod);
    if (injected !== undefined) {
      if (out.has(injected)) bucket(injected).injected++;
      continue;
    }
    if (pod.metadata.labels?.[LABEL_INJECT] !== 'true') continue;
    const policy = resolvePolicyName(policiesInNamespace, requestedPolicy(pod.metadata));
    if (policy !== undefined) bucket(policy).missing.push(pod.metadata.name ?? '');
  }
  for (const c of out.values()) c.missing.sort();
  return out;
}
