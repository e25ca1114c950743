/**
 * The slice of the Kubernetes API the operator uses, as plain JSON shapes. The operator talks to
 * the API server through {@link KubeApi} only, so the controllers run unchanged against the real
 * server (client-node-api.ts) and against the in-memory one tests use (memory-api.ts).
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

/** Any Kubernetes object; controllers narrow the fields they read. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** The resources the operator touches (CONTRACT.md "RBAC"). */
export type ResourceName =
  | 'auditpolicies'
  | 'configmaps'
  | 'secrets'
  | 'persistentvolumeclaims'
  | 'pods'
  | 'deployments'
  | 'statefulsets'
  | 'leases'
  | 'mutatingwebhookconfigurations'
  | 'events';

/** Every call can be aborted: a caller with a deadline (leader election, admission) aborts the HTTP request. */
export interface RequestOptions {
  signal?: AbortSignal;
}

export interface ListOptions extends RequestOptions {
  /** Omit for all namespaces (or for a cluster-scoped resource). */
  namespace?: string;
  labelSelector?: string;
  /** Page size (https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks). */
  limit?: number;
  /** The `continue` token of the previous page. */
  continue?: string;
  /**
   * Ask for metadata only (`Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`,
   * as client-go's metadata client): a `PartialObjectMetadataList` whose items carry apiVersion
   * `meta.k8s.io/v1`, kind `PartialObjectMetadata` and metadata — no spec, no status. For a watch,
   * each event's object is a `PartialObjectMetadata`.
   */
  metadataOnly?: boolean;
}

export interface ListResult {
  /** As the server answered: `meta.k8s.io/v1` for a metadata-only list. */
  apiVersion?: string;
  /** As the server answered: e.g. `DeploymentList`, or `PartialObjectMetadataList` (metadataOnly). */
  kind?: string;
  items: KubeObject[];
  /** The list's resourceVersion: a watch started from it misses nothing. */
  resourceVersion: string;
  /** Set when more pages follow: pass it as ListOptions.continue. */
  continue?: string;
}

export interface WatchOptions extends Omit<ListOptions, 'limit' | 'continue'> {
  resourceVersion: string;
  /** https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks */
  allowWatchBookmarks?: boolean;
  /** Server-side end of the watch (the server closes the stream cleanly after it). */
  timeoutSeconds?: number;
  /**
   * A watch-list (api-concepts "Streaming lists"): `sendInitialEvents=true` with
   * `resourceVersionMatch=NotOlderThan` (resourceVersion '' for the most recent state): the server
   * first sends every object as an ADDED event, then a BOOKMARK annotated
   * {@link INITIAL_EVENTS_END}, then changes as any watch. Needs allowWatchBookmarks. A server
   * without it (the WatchList feature: beta since Kubernetes 1.32, on by default in 1.32 and from
   * 1.34, off by default in 1.33) refuses the request with 400 or 422.
   */
  sendInitialEvents?: boolean;
}

/** The annotation on the BOOKMARK that ends a watch-list's initial events (value "true"). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** For ERROR the object is a metav1.Status ({ code: 410, reason: 'Expired' } when too old). */
export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

/** An open watch: iterate its events; the iteration ends when the server closes the stream, and throws on a transport error. */
export interface WatchStream extends AsyncIterable<WatchEvent> {
  /** Stops the watch; a pending iteration ends (done). Idempotent. */
  close(): void;
}

export type PatchType = 'merge' | 'apply';

export interface PatchOptions extends RequestOptions {
  /** merge: RFC 7386 JSON merge patch; apply: server-side apply (needs fieldManager). */
  type: PatchType;
  fieldManager?: string;
  force?: boolean;
  subresource?: 'status';
}

export interface ReplaceOptions extends RequestOptions {
  subresource?: 'status';
}

export interface KubeApi {
  list(resource: ResourceName, options?: ListOptions): Promise<ListResult>;
  watch(resource: ResourceName, options: WatchOptions): Promise<WatchStream>;
  /** Returns undefined on 404. */
  get(resource: ResourceName, namespace: string | undefined, name: string, options?: RequestOptions): Promise<KubeObject | undefined>;
  create(resource: ResourceName, object: KubeObject, options?: RequestOptions): Promise<KubeObject>;
  /** PUT; metadata.resourceVersion, when set, is an optimistic-concurrency precondition (409 Conflict). */
  replace(resource: ResourceName, object: KubeObject, options?: ReplaceOptions): Promise<KubeObject>;
  patch(resource: ResourceName, namespace: string | undefined, name: string, body: unknown, options: PatchOptions): Promise<KubeObject>;
  delete(resource: ResourceName, namespace: string | undefined, name: string, options?: RequestOptions): Promise<void>;
  /** GET /version (allowed to every authenticated user by the system:discovery ClusterRole). */
  version(): Promise<ServerVersion>;
  /** Whether the server serves an API group (discovery), e.g. security.openshift.io on OpenShift. */
  hasApiGroup(group: string): Promise<boolean>;
}

export interface ServerVersion {
  major: string;
  /** May carry a suffix, e.g. "29+" on EKS and GKE. */
  minor: string;
  gitVersion?: string;
}

export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  return ns === undefined || ns === '' ? (obj.metadata.name ?? '') : `${ns}/${obj.metadata.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
