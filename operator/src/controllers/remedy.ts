import type { KubeObject } from '../kube/types.ts';

/**
 * The command that gives a pod admitted without the sidecar a replacement that goes through the
 * webhook: a rollout restart of its Deployment / StatefulSet / DaemonSet (the pod's ReplicaSet is
 * named `<deployment>-<pod-template-hash>`), else deleting the pod (a bare pod must be recreated
 * by whoever made it).
 */
export function remedyFor(pod: KubeObject): string {
  const ns = pod.metadata.namespace ?? 'default';
  const owner = (pod.metadata.ownerReferences ?? []).find((o) => o.controller === true);
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (owner?.kind === 'ReplicaSet' && hash !== undefined && owner.name.endsWith(`-${hash}`)) {
    return `kubectl rollout restart deployment/${owner.name.slice(0, -hash.length - 1)} -n ${ns}`;
  }
  if (owner?.kind === 'StatefulSet' || owner?.kind === 'DaemonSet') return `kubectl rollout restart ${owner.kind.toLowerCase()}/${owner.name} -n ${ns}`;
  return `kubectl delete pod ${pod.metadata.name ?? ''} -n ${ns}${owner === undefined ? ' and create it again' : ''}`;
}
