/**
 * What the sidecar's spans call the app: `service.name` (the workload) and `k8s.container.name`
 * (the app container). The sidecar cannot ask the API server (it has no Kubernetes access), so
 * the webhook, which sees the whole pod, passes both as env (LLMAUDIT_SERVICE_NAME,
 * LLMAUDIT_APP_CONTAINER; docs/configuration.md).
 */
import type { PodLike } from './pod-types.ts';

interface OwnerRef {
  kind?: string;
  name?: string;
  controller?: boolean;
}

/**
 * The workload's name: the app.kubernetes.io/name or app label; else the controlling owner
 * (a ReplicaSet's name minus its pod-template-hash, so a Deployment's pods are named after the
 * Deployment); else generateName without its trailing dash; else the pod name. null for a bare
 * pod template with none of these (offline injection of a template: the sidecar falls back to
 * its own derivation from the pod name).
 */
export function workloadName(pod: PodLike): string | null {
  const meta = pod.metadata ?? {};
  const labels = meta.labels ?? {};
  const fromLabel = labels['app.kubernetes.io/name'] ?? labels.app;
  if (fromLabel !== undefined && fromLabel !== '') return fromLabel;
  const owners = (meta.ownerReferences as OwnerRef[] | undefined) ?? [];
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (owner?.name !== undefined) {
    const hash = labels['pod-template-hash'];
    if (owner.kind === 'ReplicaSet' && hash !== undefined && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -(hash.length + 1));
    return owner.name;
  }
  if (meta.generateName !== undefined && meta.generateName !== '') return meta.generateName.replace(/-$/, '');
  return meta.name ?? null;
}

/** The first container that is not moved behind the sidecar (the Ollama takeover): the app. */
export function appContainerName(pod: PodLike, movedContainers: ReadonlySet<string>): string | null {
  return pod.spec.containers.find((c) => !movedContainers.has(c.name))?.name ?? null;
}
