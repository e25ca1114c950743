import type { KubeObject, ObjectMeta, OwnerReference } from '../kube/types.ts';

/**
 * What the leader's caches keep of each object: the fields the controllers read, nothing else.
 * A Deployment as the API server sends it is 5–20 KB of JSON (managedFields, the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation, the pod template); the operator
 * watches every Deployment and StatefulSet of the cluster (the opt-in is an annotation, which no
 * selector can filter), so what each one costs in the cache is what the operator costs.
 */

/** Our labels and annotations: the opt-in, the policy, the injected marker, the template-managed mark. */
const OWN_PREFIX = 'llmaudit.dev/';
/** The pod's ReplicaSet is `<deployment>-<pod-template-hash>` (remedy.ts names the Deployment from it). */
const POD_TEMPLATE_HASH = 'pod-template-hash';

function pick(map: Record<string, string> | undefined, keep: (key: string) => boolean): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(map)) {
    if (!keep(k)) continue;
    out ??= {};
    out[k] = v;
  }
  return out;
}

const own = (k: string): boolean => k.startsWith(OWN_PREFIX);

/** The identity every cached object keeps (keys, Events' `regarding`, resume points). */
function identity(m: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  return out;
}

/**
 * A Deployment or StatefulSet (full or PartialObjectMetadata) as the workload cache keeps it:
 * identity and our annotations. The labeller reads the pod template from a fresh GET when the
 * annotations say it may have to patch it (workload-labeller.ts `mayNeedPatch`).
 */
export function workloadCacheShape(kind: string, obj: KubeObject): KubeObject {
  const meta = identity(obj.metadata);
  const annotations = pick(obj.metadata.annotations, own);
  if (annotations !== undefined) meta.annotations = annotations;
  return { apiVersion: 'apps/v1', kind, metadata: meta };
}

/**
 * A pod labelled for injection as the pod cache keeps it: identity, our labels and annotations,
 * `pod-template-hash`, its controller reference, and `status.phase` (pod-counter.ts, remedy.ts).
 */
export function podCacheShape(obj: KubeObject): KubeObject {
  const meta = identity(obj.metadata);
  const labels = pick(obj.metadata.labels, (k) => own(k) || k === POD_TEMPLATE_HASH);
  if (labels !== undefined) meta.labels = labels;
  const annotations = pick(obj.metadata.annotations, own);
  if (annotations !== undefined) meta.annotations = annotations;
  const controller = (obj.metadata.ownerReferences ?? []).find((o) => o.controller === true);
  if (controller !== undefined) {
    const ref: OwnerReference = { apiVersion: controller.apiVersion, kind: controller.kind, name: controller.name, uid: controller.uid, controller: true };
    meta.ownerReferences = [ref];
  }
  const phase = (obj.status as { phase?: unknown } | undefined)?.phase;
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta, ...(typeof phase === 'string' ? { status: { phase } } : {}) };
}
