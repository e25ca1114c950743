import { ANNOTATION_INJECTED, LABEL_POLICY } from '../api/names.ts';
import type { KubeObject } from '../kube/types.ts';

/**
 * Which AuditPolicy a pod (or pod template) belongs to, the one rule the webhook and the
 * controllers share: the policy it names (label, then annotation `llmaudit.dev/policy`, as the
 * webhook's admission.ts reads it), else the
 * only policy in its namespace, else the one named `default`; otherwise none.
 */
export function resolvePolicyName(policiesInNamespace: readonly string[], requested: string | undefined): string | undefined {
  if (requested !== undefined && requested !== '') return policiesInNamespace.includes(requested) ? requested : undefined;
  if (policiesInNamespace.length === 1) return policiesInNamespace[0];
  return policiesInNamespace.includes('default') ? 'default' : undefined;
}

/** The policy a pod or template asks for, if it names one. */
export function requestedPolicy(meta: KubeObject['metadata'] | undefined): string | undefined {
  const l = meta?.labels?.[LABEL_POLICY];
  if (l !== undefined && l !== '') return l;
  const a = meta?.annotations?.[LABEL_POLICY];
  return a !== undefined && a !== '' ? a : undefined;
}

/** The policy an injected pod was injected with (the marker annotation's value), if injected. */
export function injectedWith(pod: KubeObject): string | undefined {
  const v = pod.metadata.annotations?.[ANNOTATION_INJECTED];
  return v === undefined ? undefined : v;
}
