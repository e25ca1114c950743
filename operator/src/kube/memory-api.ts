import { randomUUID } from 'node:crypto';
import { KubeApiError } from './api-error.ts';
import { EventChannel } from './event-channel.ts';
import { matchesLabelSelector } from './label-selector.ts';
import { applyMergePatch, jsonEqual } from './merge-patch.ts';
import { RESOURCES, apiVersionOf } from './resources.ts';
import { INITIAL_EVENTS_END } from './types.ts';
import type { KubeApi, KubeObject, ObjectMeta, ListOptions, ListResult, PatchOptions, ReplaceOptions, RequestOptions, ResourceName, ServerVersion, WatchEvent, WatchOptions, WatchStream } from './types.ts';

type Op = 'list' | 'watch' | 'get' | 'create' | 'replace' | 'patch' | 'delete';

interface HistoryEntry {
  rv: number;
  resource: ResourceName;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  before: KubeObject | undefined;
  after: KubeObject;
}

interface OpenWatch {
  resource: ResourceName;
  options: WatchOptions;
  channel: EventChannel;
  stalled: boolean;
}

export interface MemoryWrite {
  op: Op;
  resource: ResourceName;
  key: string;
  subresource?: 'status';
}

/**
 * An in-memory API server behind {@link KubeApi}, for tests: one global resourceVersion counter
 * (like etcd's revision), watch streams resumable from a resourceVersion, 410 Gone once history is
 * compacted, status subresources, generation, optimistic concurrency, owner-reference garbage
 * collection, and knobs to inject errors, break, expire and silently stall watches. (Longer than
 * most files: it is a small API server, and splitting it would scatter one state machine.)
 */
export class MemoryKubeApi implements KubeApi {
  private rv = 0;
  private compactedRv = 0;
  private readonly store = new Map<ResourceName, Map<string, KubeObject>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly failures: { op: Op; resource: ResourceName | undefined; error: Error }[] = [];
  private readonly stallNext = new Map<ResourceName, number>();
  /** Keys in order, for chunked lists; dropped when a key is added or removed. */
  private readonly sortedKeys = new Map<ResourceName, string[]>();
  /** Every write, in order, so tests can assert "a second pass writes nothing". */
  readonly writes: MemoryWrite[] = [];
  /** How many watch requests were opened, per resource. */
  readonly watchCount = new Map<ResourceName, number>();
  readonly listCount = new Map<ResourceName, number>();
  private readonly now: () => Date;
  private readonly serverVersion: ServerVersion;
  private readonly apiGroups: ReadonlySet<string>;

  /** Whether watches take sendInitialEvents (the WatchList feature); false answers 422 as a server without it. */
  private readonly watchList: boolean;

  constructor(options: { now?: () => Date; version?: ServerVersion; apiGroups?: string[]; watchList?: boolean } = {}) {
    this.now = options.now ?? (() => new Date());
    this.watchList = options.watchList ?? true;
    this.serverVersion = options.version ?? { major: '1', minor: '31', gitVersion: 'v1.31.0' };
    this.apiGroups = new Set(options.apiGroups ?? ['apps', 'coordination.k8s.io', 'admissionregistration.k8s.io', 'llmaudit.dev']);
  }

  // ---- test knobs -------------------------------------------------------------------------

  /** The next `op` (on `resource`, or any) fails with `error`. */
  failNext(op: Op, resource: ResourceName | undefined, error: Error = new KubeApiError(500, 'InternalError', 'injected')): void {
    this.failures.push({ op, resource, error });
  }

  /** Forgets history: watches from an older resourceVersion get 410 Gone (etcd compaction). */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Open watches on `resource` get ERROR 410 Expired and end, as the API server does. */
  expireWatches(resource: ResourceName): void {
    for (const w of this.openWatches(resource)) {
      w.channel.push({ type: 'ERROR', object: goneStatus() });
      w.channel.end();
      this.watches.delete(w);
    }
  }

  /** Open watches on `resource` fail with a transport error. */
  breakWatches(resource: ResourceName, error: Error = new Error('connection reset')): void {
    for (const w of this.openWatches(resource)) {
      w.channel.end(error);
      this.watches.delete(w);
    }
  }

  /** Open watches on `resource` end cleanly, as when their timeoutSeconds runs out. */
  endWatches(resource: ResourceName): void {
    for (const w of this.openWatches(resource)) {
      w.channel.end();
      this.watches.delete(w);
    }
  }

  /** Open watches on `resource` stay connected but deliver nothing more (a silent stall). */
  stallWatches(resource: ResourceName): void {
    for (const w of this.openWatches(resource)) w.stalled = true;
  }

  /** The next `count` watches on `resource` open, then stay silent. */
  stallNextWatches(resource: ResourceName, count = 1): void {
    this.stallNext.set(resource, (this.stallNext.get(resource) ?? 0) + count);
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for bookmarks. */
  bookmark(resource: ResourceName): void {
    for (const w of this.openWatches(resource)) {
      if (w.options.allowWatchBookmarks === true && !w.stalled) {
        const kind = w.options.metadataOnly === true ? { apiVersion: META_V1, kind: 'PartialObjectMetadata' } : { apiVersion: apiVersionOf(resource), kind: RESOURCES[resource].kind };
        w.channel.push({ type: 'BOOKMARK', object: { ...kind, metadata: { resourceVersion: String(this.rv) } } });
      }
    }
  }

  openWatchCount(resource: ResourceName): number {
    return this.openWatches(resource).length;
  }

  /** Synchronous read of the stored object (tests). */
  peek(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.bucket(resource).get(keyOf(resource, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  all(resource: ResourceName): KubeObject[] {
    return [...this.bucket(resource).values()].map((o) => structuredClone(o));
  }

  // ---- KubeApi ----------------------------------------------------------------------------

  async list(resource: ResourceName, options: ListOptions = {}): Promise<ListResult> {
    await this.gate('list', resource, options.signal);
    this.listCount.set(resource, (this.listCount.get(resource) ?? 0) + 1);
    const shape = options.metadataOnly === true ? partialObjectMetadata : (o: KubeObject) => structuredClone(o);
    const listKind = options.metadataOnly === true ? { apiVersion: META_V1, kind: 'PartialObjectMetadataList' } : { apiVersion: apiVersionOf(resource), kind: `${RESOURCES[resource].kind}List` };
    if (options.limit === undefined && options.continue === undefined) {
      const items = [...this.bucket(resource).values()].filter((o) => matches(o, options)).map(shape);
      return { ...listKind, items, resourceVersion: String(this.rv) };
    }
    // Chunked list: pages in key order; the token carries the first page's resourceVersion, which
    // every page reports (a watch from it replays what changed meanwhile) and which expires (410)
    // once compacted, as etcd's does.
    let rv = this.rv;
    let after = '';
    if (options.continue !== undefined && options.continue !== '') {
      const token = JSON.parse(Buffer.from(options.continue, 'base64url').toString('utf8')) as { rv: number; after: string };
      if (token.rv < this.compactedRv) throw new KubeApiError(410, 'Expired', 'the provided continue parameter is too old');
      rv = token.rv;
      after = token.after;
    }
    const limit = options.limit !== undefined && options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY;
    let keys = this.sortedKeys.get(resource);
    if (keys === undefined) {
      keys = [...this.bucket(resource).keys()].sort();
      this.sortedKeys.set(resource, keys);
    }
    // First key after the token's (binary search): a page costs its own size, not the whole list.
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as string) <= after) lo = mid + 1;
      else hi = mid;
    }
    const items: KubeObject[] = [];
    let last = '';
    let more = false;
    for (let i = lo; i < keys.length; i++) {
      const k = keys[i] as string;
      const o = this.bucket(resource).get(k) as KubeObject;
      if (!matches(o, options)) continue;
      if (items.length >= limit) {
        more = true;
        break;
      }
      items.push(shape(o));
      last = k;
    }
    const next = more ? Buffer.from(JSON.stringify({ rv, after: last })).toString('base64url') : undefined;
    return { ...listKind, items, resourceVersion: String(rv), ...(next === undefined ? {} : { continue: next }) };
  }

  async watch(resource: ResourceName, options: WatchOptions): Promise<WatchStream> {
    await this.gate('watch', resource, options.signal);
    this.watchCount.set(resource, (this.watchCount.get(resource) ?? 0) + 1);
    const from = Number(options.resourceVersion);
    const w: OpenWatch = { resource, options: { ...options }, channel: new EventChannel(() => this.watches.delete(w)), stalled: false };
    const stalls = this.stallNext.get(resource) ?? 0;
    if (stalls > 0) {
      this.stallNext.set(resource, stalls - 1);
      w.stalled = true;
    }
    if (options.sendInitialEvents === true) {
      // What the API server checks (staging/src/k8s.io/apiserver, ValidateListOptions).
      if (!this.watchList) throw new KubeApiError(422, 'Invalid', 'sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled');
      if (options.allowWatchBookmarks !== true) throw new KubeApiError(422, 'Invalid', 'allowWatchBookmarks: Required value: allowWatchBookmarks must be set to true when sendInitialEvents is specified');
      this.watches.add(w);
      if (!w.stalled) {
        const shape = options.metadataOnly === true ? partialObjectMetadata : (o: KubeObject) => structuredClone(o);
        for (const o of this.bucket(resource).values()) if (matches(o, options)) w.channel.push({ type: 'ADDED', object: shape(o) });
        const kind = options.metadataOnly === true ? { apiVersion: META_V1, kind: 'PartialObjectMetadata' } : { apiVersion: apiVersionOf(resource), kind: RESOURCES[resource].kind };
        w.channel.push({ type: 'BOOKMARK', object: { ...kind, metadata: { resourceVersion: String(this.rv), annotations: { [INITIAL_EVENTS_END]: 'true' } } } });
      }
      return w.channel;
    }
    this.watches.add(w);
    if (!Number.isFinite(from) || from < this.compactedRv) {
      // The API server answers 200 and then one ERROR event with a 410 Status (api-concepts "410 Gone responses").
      w.channel.push({ type: 'ERROR', object: goneStatus() });
      w.channel.end();
      this.watches.delete(w);
      return w.channel;
    }
    for (const h of this.history) if (h.rv > from && h.resource === resource) this.deliver(w, h);
    return w.channel;
  }

  async get(resource: ResourceName, namespace: string | undefined, name: string, options: RequestOptions = {}): Promise<KubeObject | undefined> {
    await this.gate('get', resource, options.signal);
    return this.peek(resource, namespace, name);
  }

  async create(resource: ResourceName, object: KubeObject, options: RequestOptions = {}): Promise<KubeObject> {
    await this.gate('create', resource, options.signal);
    return this.insert(resource, object);
  }

  private insert(resource: ResourceName, object: KubeObject): KubeObject {
    const obj = structuredClone(object);
    const info = RESOURCES[resource];
    if (obj.metadata.name === undefined && obj.metadata.generateName !== undefined) {
      obj.metadata.name = obj.metadata.generateName + randomUUID().slice(0, 5);
    }
    const name = obj.metadata.name;
    if (name === undefined || name === '') throw new KubeApiError(422, 'Invalid', 'metadata.name: Required value');
    if (info.namespaced && (obj.metadata.namespace ?? '') === '') throw new KubeApiError(422, 'Invalid', 'metadata.namespace: Required value');
    const key = keyOf(resource, obj.metadata.namespace, name);
    if (this.bucket(resource).has(key)) throw new KubeApiError(409, 'AlreadyExists', `${resource} "${name}" already exists`);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      if (!this.uidExists(ref.uid)) throw new KubeApiError(422, 'Invalid', `owner ${ref.kind}/${ref.name} not found`);
    }
    obj.apiVersion ??= apiVersionOf(resource);
    obj.kind ??= info.kind;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = this.now().toISOString().replace(/\.\d+Z$/, 'Z');
    if (info.statusSubresource) {
      obj.metadata.generation = 1;
      delete obj.status;
    }
    return this.commit(resource, key, undefined, obj, 'create');
  }

  async replace(resource: ResourceName, object: KubeObject, options: ReplaceOptions = {}): Promise<KubeObject> {
    await this.gate('replace', resource, options.signal);
    const key = keyOf(resource, object.metadata.namespace, object.metadata.name ?? '');
    const current = this.mustGet(resource, key);
    const rv = object.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', `the object has been modified; please apply your changes to the latest version and try again`);
    }
    return this.update(resource, key, current, structuredClone(object), options.subresource, 'replace');
  }

  async patch(resource: ResourceName, namespace: string | undefined, name: string, body: unknown, options: PatchOptions): Promise<KubeObject> {
    await this.gate('patch', resource, options.signal);
    const key = keyOf(resource, namespace, name);
    const current = this.bucket(resource).get(key);
    if (current === undefined) {
      // Server-side apply creates what is missing; a merge patch 404s.
      if (options.type === 'apply' && options.subresource === undefined) {
        const obj = structuredClone(body) as KubeObject;
        obj.metadata = { ...obj.metadata, name, ...(namespace === undefined ? {} : { namespace }) };
        return this.insert(resource, obj);
      }
      throw new KubeApiError(404, 'NotFound', `${resource} "${name}" not found`);
    }
    const patchRv = (body as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion;
    if (patchRv !== undefined && patchRv !== current.metadata.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', 'the object has been modified');
    }
    // Server-side apply is approximated as a merge patch: enough for the fields the operator owns.
    const next = applyMergePatch(current, body) as KubeObject;
    return this.update(resource, key, current, next, options.subresource, 'patch');
  }

  async delete(resource: ResourceName, namespace: string | undefined, name: string, options: RequestOptions = {}): Promise<void> {
    await this.gate('delete', resource, options.signal);
    const key = keyOf(resource, namespace, name);
    const current = this.mustGet(resource, key);
    this.remove(resource, key, current);
  }

  async version(): Promise<ServerVersion> {
    return { ...this.serverVersion };
  }

  async hasApiGroup(group: string): Promise<boolean> {
    return this.apiGroups.has(group);
  }

  // ---- internals --------------------------------------------------------------------------

  private remove(resource: ResourceName, key: string, current: KubeObject): void {
    this.bucket(resource).delete(key);
    this.sortedKeys.delete(resource);
    this.writes.push({ op: 'delete', resource, key });
    const deleted = structuredClone(current);
    deleted.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource, type: 'DELETED', before: current, after: deleted });
    // Background cascading deletion by the garbage collector
    // (https://kubernetes.io/docs/concepts/architecture/garbage-collection/#owners-dependents).
    const uid = current.metadata.uid;
    for (const [res, bucket] of this.store) {
      for (const [k, o] of [...bucket]) {
        if ((o.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) this.remove(res, k, o);
      }
    }
  }

  private update(resource: ResourceName, key: string, current: KubeObject, next: KubeObject, subresource: 'status' | undefined, op: Op): KubeObject {
    const info = RESOURCES[resource];
    const merged: KubeObject = structuredClone(current);
    if (subresource === 'status') {
      if (next.status === undefined) delete merged.status;
      else merged.status = next.status;
    } else {
      for (const k of Object.keys(merged)) if (k !== 'metadata' && k !== 'status') delete merged[k];
      for (const [k, v] of Object.entries(next)) if (k !== 'metadata' && k !== 'status') merged[k] = v;
      if (!info.statusSubresource) {
        if (next.status === undefined) delete merged.status;
        else merged.status = next.status;
      }
      const m = next.metadata;
      merged.metadata = { ...m };
      keepServerFields(current.metadata, merged.metadata, ['name', 'uid', 'creationTimestamp']);
      if (current.metadata.namespace !== undefined) merged.metadata.namespace = current.metadata.namespace;
      if (current.metadata.generation !== undefined) {
        merged.metadata.generation = current.metadata.generation + (jsonEqual(specOf(current), specOf(merged)) ? 0 : 1);
      }
    }
    keepServerFields(current.metadata, merged.metadata, ['resourceVersion']);
    // A no-op write does not bump resourceVersion nor notify watchers, like the API server.
    if (jsonEqual(current, merged)) return structuredClone(current);
    return this.commit(resource, key, current, merged, op, subresource);
  }

  private commit(resource: ResourceName, key: string, before: KubeObject | undefined, obj: KubeObject, op: Op, subresource?: 'status'): KubeObject {
    obj.metadata.resourceVersion = String(++this.rv);
    if (before === undefined) this.sortedKeys.delete(resource);
    this.bucket(resource).set(key, obj);
    this.writes.push({ op, resource, key, ...(subresource === undefined ? {} : { subresource }) });
    this.record({ rv: this.rv, resource, type: before === undefined ? 'ADDED' : 'MODIFIED', before, after: obj });
    return structuredClone(obj);
  }

  private record(h: HistoryEntry): void {
    this.history.push(h);
    for (const w of this.watches) if (w.resource === h.resource) this.deliver(w, h);
  }

  private deliver(w: OpenWatch, h: HistoryEntry): void {
    if (w.stalled) return;
    const was = h.before !== undefined && matches(h.before, w.options);
    const is = matches(h.after, w.options);
    let type: WatchEvent['type'];
    if (h.type === 'DELETED') {
      if (!was) return;
      type = 'DELETED';
    } else if (was && is) type = 'MODIFIED';
    else if (is) type = 'ADDED';
    else if (was) type = 'DELETED';
    else return;
    w.channel.push({ type, object: w.options.metadataOnly === true ? partialObjectMetadata(h.after) : structuredClone(h.after) });
  }

  private async gate(op: Op, resource: ResourceName, signal: AbortSignal | undefined): Promise<void> {
    await Promise.resolve();
    if (signal?.aborted === true) throw new KubeApiError(0, 'Aborted', `${op} ${resource}: aborted`, { cause: signal.reason });
    const i = this.failures.findIndex((f) => f.op === op && (f.resource === undefined || f.resource === resource));
    if (i < 0) return;
    const [f] = this.failures.splice(i, 1);
    if (f !== undefined) throw f.error;
  }

  private openWatches(resource: ResourceName): OpenWatch[] {
    return [...this.watches].filter((w) => w.resource === resource && !w.channel.closed);
  }

  private bucket(resource: ResourceName): Map<string, KubeObject> {
    let b = this.store.get(resource);
    if (b === undefined) {
      b = new Map();
      this.store.set(resource, b);
    }
    return b;
  }

  private mustGet(resource: ResourceName, key: string): KubeObject {
    const o = this.bucket(resource).get(key);
    if (o === undefined) throw new KubeApiError(404, 'NotFound', `${resource} "${key}" not found`);
    return o;
  }

  private uidExists(uid: string): boolean {
    for (const b of this.store.values()) for (const o of b.values()) if (o.metadata.uid === uid) return true;
    return false;
  }
}

const META_V1 = 'meta.k8s.io/v1';

/** What the API server sends for an object when asked `as=PartialObjectMetadata`: apiVersion, kind and metadata only. */
function partialObjectMetadata(o: KubeObject): KubeObject {
  return { apiVersion: META_V1, kind: 'PartialObjectMetadata', metadata: structuredClone(o.metadata) };
}

function keyOf(resource: ResourceName, namespace: string | undefined, name: string): string {
  return RESOURCES[resource].namespaced ? `${namespace ?? ''}/${name}` : name;
}

function matches(o: KubeObject, options: ListOptions): boolean {
  if (options.namespace !== undefined && options.namespace !== '' && o.metadata.namespace !== options.namespace) return false;
  return matchesLabelSelector(options.labelSelector, o.metadata.labels);
}

function specOf(o: KubeObject): unknown {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

function goneStatus(): KubeObject {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 };
}

/** Fields the API server owns: an update keeps the stored values whatever the request says. */
function keepServerFields(from: ObjectMeta, to: ObjectMeta, keys: readonly ('name' | 'uid' | 'creationTimestamp' | 'resourceVersion')[]): void {
  for (const k of keys) {
    const v = from[k];
    if (v === undefined) delete to[k];
    else to[k] = v;
  }
}
