import { isGone } from '../kube/api-error.ts';
import { operatorError } from '../errors.ts';
import { realClock, sleep, type Clock, type ClockTimer } from '../kube/clock.ts';
import type { KubeApi, KubeObject, ResourceName, WatchStream } from '../kube/types.ts';
import { INITIAL_EVENTS_END, objectKey } from '../kube/types.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';

export type WatchLoopEvent =
  | { type: 'listed'; count: number; pages: number; resourceVersion: string; via: 'list' | 'watch-list' }
  | { type: 'watch-list-refused'; error: unknown }
  | { type: 'watching'; resourceVersion: string }
  | { type: 'relist'; reason: 'gone' }
  | { type: 'rewatch'; reason: 'server-closed' }
  | { type: 'restart'; reason: 'error' | 'stall'; delayMs: number; error: unknown }
  | { type: 'resync'; count: number };

export interface WatchLoopHandler {
  /** An object appeared or changed (also: every object on relist and on resync). */
  upsert(obj: KubeObject): void;
  delete(obj: KubeObject): void;
}

export interface WatchLoopOptions {
  api: KubeApi;
  resource: ResourceName;
  namespace?: string;
  labelSelector?: string;
  handler: WatchLoopHandler;
  /** List and watch metadata only (PartialObjectMetadata): no spec, no status reach the process. */
  metadataOnly?: boolean;
  /**
   * What is kept of each object before it is cached and handed on (list items and watch events;
   * not bookmarks): the cache holds what the controllers read, not the whole object.
   */
  transform?: (obj: KubeObject) => KubeObject;
  /** No event and no bookmark for this long: the stream is presumed dead and restarted. */
  stallTimeoutMs?: number;
  /** Server-side watch timeout; the server then ends the stream cleanly and we rewatch. */
  watchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  /** Re-deliver every cached object this often (0: never). */
  resyncMs?: number;
  /** Objects per list page (limit/continue), so a large relist never holds the whole answer at once. */
  pageSize?: number;
  /**
   * Fill the cache from a watch-list (`sendInitialEvents`, api-concepts "Streaming lists") instead
   * of a paged list: one stream, one object per line, served from the API server's watch cache.
   * A server that refuses it (400/422: the WatchList feature off, or older than 1.27) is listed in
   * pages from then on.
   */
  watchList?: boolean;
  random?: () => number;
  clock?: Clock;
  observer?: (ev: WatchLoopEvent) => void;
}

/**
 * List, then watch from the list's resourceVersion, forever (api-concepts "Efficient detection of
 * changes"). 410 Gone (an ERROR event or an HTTP 410) relists; the server closing the stream
 * rewatches from the last resourceVersion seen; any other error or a silent stall restarts the
 * watch after a capped, jittered exponential backoff. Bookmarks keep the resourceVersion fresh so a
 * restart rarely needs a relist. See docs/adr/0007-own-watch-loop-and-leader-election.md.
 */
export class WatchLoop {
  private readonly o: Required<Omit<WatchLoopOptions, 'namespace' | 'labelSelector' | 'observer' | 'transform'>> & Pick<WatchLoopOptions, 'namespace' | 'labelSelector' | 'observer' | 'transform'>;
  private readonly cache = new Map<string, KubeObject>();
  /** The same objects by namespace: a policy's reconcile reads its namespace, not the cluster. */
  private readonly byNamespace = new Map<string, Map<string, KubeObject>>();
  private closed = false;
  private started = false;
  private stream: WatchStream | undefined;
  private pending: AbortController | undefined;
  private readonly stop = new AbortController();
  private resyncTimer: ClockTimer | undefined;
  private syncedResolve!: () => void;
  /** Cleared when the server refuses a watch-list: paged lists from then on. */
  private watchList: boolean;
  private runPromise: Promise<void> | undefined;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void>;
  hasSynced = false;

  constructor(options: WatchLoopOptions) {
    this.o = {
      stallTimeoutMs: 120_000,
      watchTimeoutSeconds: 300 + Math.floor((options.random ?? Math.random)() * 300),
      backoff: { initialMs: 1000, maxMs: 30_000 },
      resyncMs: 300_000,
      pageSize: 500,
      metadataOnly: false,
      watchList: false,
      random: Math.random,
      clock: realClock,
      ...options,
    };
    this.watchList = this.o.watchList;
    this.synced = new Promise((resolve) => (this.syncedResolve = resolve));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.runPromise = this.run();
    this.scheduleResync();
  }

  /** How many objects are cached. */
  get size(): number {
    return this.cache.size;
  }

  /** Cached objects (a snapshot). */
  list(): KubeObject[] {
    return [...this.cache.values()];
  }

  /** Cached objects of one namespace (a snapshot), without scanning the others. */
  listNamespace(namespace: string): KubeObject[] {
    const m = this.byNamespace.get(namespace);
    return m === undefined ? [] : [...m.values()];
  }

  private scheduleResync(): void {
    if (this.o.resyncMs <= 0 || this.closed) return;
    this.resyncTimer = this.o.clock.setTimeout(() => {
      this.resync();
      this.scheduleResync();
    }, this.o.resyncMs);
  }

  private put(key: string, obj: KubeObject): void {
    this.cache.set(key, obj);
    const ns = obj.metadata.namespace ?? '';
    let m = this.byNamespace.get(ns);
    if (m === undefined) {
      m = new Map();
      this.byNamespace.set(ns, m);
    }
    m.set(key, obj);
  }

  private drop(key: string, obj: KubeObject): void {
    this.cache.delete(key);
    const ns = obj.metadata.namespace ?? '';
    const m = this.byNamespace.get(ns);
    m?.delete(key);
    if (m?.size === 0) this.byNamespace.delete(ns);
  }

  get(key: string): KubeObject | undefined {
    return this.cache.get(key);
  }

  /** Re-delivers every cached object to the handler (the periodic resync). */
  resync(): void {
    const items = this.list();
    this.o.observer?.({ type: 'resync', count: items.length });
    for (const obj of items) this.o.handler.upsert(obj);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.resyncTimer?.cancel();
    this.stop.abort();
    this.pending?.abort();
    this.stream?.close();
    await this.runPromise;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let needList = true;
    let rv = '';
    while (!this.closed) {
      try {
        // Keys seen by a watch-list's initial events, until its end bookmark; undefined otherwise.
        let initial: Set<string> | undefined;
        if (needList && this.watchList) {
          try {
            this.stream = await this.openWatch('', true);
            initial = new Set();
          } catch (err) {
            if (!refusesWatchList(err)) throw err;
            this.watchList = false;
            this.o.observer?.({ type: 'watch-list-refused', error: err });
          }
        }
        if (needList && initial === undefined) {
          rv = await this.relist();
          needList = false;
          attempt = 0;
        }
        this.stream ??= await this.openWatch(rv, false);
        // close() may have run while the watch was being opened: it found no stream to close.
        if (this.closed) break;
        this.o.observer?.({ type: 'watching', resourceVersion: rv });
        const result = await this.consume(this.stream, rv, () => (attempt = 0), initial);
        rv = result.rv;
        if (result.listed) needList = false;
        if (this.closed) break;
        if (result.outcome === 'gone') {
          needList = true;
          this.o.observer?.({ type: 'relist', reason: 'gone' });
        } else if (result.outcome === 'stall') {
          throw operatorError('LLMAUDIT_E_KUBE_WATCH', `${this.o.resource}: no event nor bookmark for ${this.o.stallTimeoutMs} ms`, { details: { stall: true } });
        } else {
          this.o.observer?.({ type: 'rewatch', reason: 'server-closed' });
        }
      } catch (err) {
        if (this.closed) break;
        if (isGone(err)) {
          needList = true;
          this.o.observer?.({ type: 'relist', reason: 'gone' });
          continue;
        }
        const delayMs = backoffDelay(attempt++, this.o.backoff, this.o.random);
        const stall = (err as { details?: { stall?: boolean } }).details?.stall === true;
        this.o.observer?.({ type: 'restart', reason: stall ? 'stall' : 'error', delayMs, error: err });
        await sleep(this.o.clock, delayMs, this.stop.signal);
      } finally {
        this.stream?.close();
        this.stream = undefined;
      }
    }
  }

  private openWatch(resourceVersion: string, sendInitialEvents: boolean): Promise<WatchStream> {
    this.pending = new AbortController();
    return this.o.api.watch(this.o.resource, {
      signal: this.pending.signal,
      resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: this.o.watchTimeoutSeconds,
      ...(sendInitialEvents ? { sendInitialEvents: true } : {}),
      ...(this.o.metadataOnly ? { metadataOnly: true } : {}),
      ...(this.o.namespace === undefined ? {} : { namespace: this.o.namespace }),
      ...(this.o.labelSelector === undefined ? {} : { labelSelector: this.o.labelSelector }),
    });
  }

  /** After a full list (paged, or a watch-list's initial events): drops what was not in it; the first one resolves `synced`. */
  private listed(seen: Set<string>, pages: number, resourceVersion: string, via: 'list' | 'watch-list'): void {
    for (const [key, obj] of [...this.cache]) {
      if (!seen.has(key)) {
        this.drop(key, obj);
        this.o.handler.delete(obj);
      }
    }
    this.o.observer?.({ type: 'listed', count: seen.size, pages, resourceVersion, via });
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.syncedResolve();
    }
  }

  private async relist(): Promise<string> {
    const seen = new Set<string>();
    let resourceVersion = '';
    let token: string | undefined;
    let pages = 0;
    do {
      // Pages of pageSize (api-concepts "Retrieving large results sets in chunks"): each page is
      // cached and handed on before the next is asked for; all pages share the first one's resourceVersion.
      const page = await this.o.api.list(this.o.resource, {
        signal: this.stop.signal,
        limit: this.o.pageSize,
        ...(this.o.metadataOnly ? { metadataOnly: true } : {}),
        ...(token === undefined ? {} : { continue: token }),
        ...(this.o.namespace === undefined ? {} : { namespace: this.o.namespace }),
        ...(this.o.labelSelector === undefined ? {} : { labelSelector: this.o.labelSelector }),
      });
      pages++;
      if (resourceVersion === '') resourceVersion = page.resourceVersion;
      const items = this.o.transform === undefined ? page.items : page.items.map(this.o.transform);
      // The page is dropped here: only the kept shapes outlive this iteration.
      page.items = [];
      for (const obj of items) {
        const key = objectKey(obj);
        seen.add(key);
        this.put(key, obj);
      }
      for (const obj of items) this.o.handler.upsert(obj);
      token = page.continue;
    } while (token !== undefined && token !== '');
    this.listed(seen, pages, resourceVersion, 'list');
    return resourceVersion;
  }

  /**
   * Applies a watch's events to the cache until the stream ends. With `initial` (a watch-list), the
   * events up to the bookmark annotated INITIAL_EVENTS_END are the full list: `listed` says whether
   * that bookmark came.
   */
  private async consume(stream: WatchStream, startRv: string, progressed: () => void, initial?: Set<string>): Promise<{ outcome: 'gone' | 'stall' | 'ended'; rv: string; listed: boolean }> {
    let rv = startRv;
    let seen = initial;
    let stalled = false;
    let timer: ClockTimer | undefined;
    const arm = (): void => {
      timer?.cancel();
      timer = this.o.clock.setTimeout(() => {
        stalled = true;
        stream.close();
      }, this.o.stallTimeoutMs);
    };
    arm();
    try {
      for await (const ev of stream) {
        arm();
        if (ev.type === 'ERROR') {
          const status = ev.object as unknown as { code?: number; reason?: string; message?: string };
          if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') return { outcome: 'gone', rv, listed: initial !== undefined && seen === undefined };
          throw operatorError('LLMAUDIT_E_KUBE_WATCH', `${this.o.resource}: ${status.code ?? '?'} ${status.reason ?? ''} ${status.message ?? ''}`.trim());
        }
        const objRv = ev.object.metadata.resourceVersion;
        if (objRv !== undefined && objRv !== '') rv = objRv;
        progressed();
        if (ev.type === 'BOOKMARK') {
          if (seen !== undefined && ev.object.metadata.annotations?.[INITIAL_EVENTS_END] === 'true') {
            this.listed(seen, 0, rv, 'watch-list');
            seen = undefined;
          }
          continue;
        }
        const obj = this.o.transform === undefined ? ev.object : this.o.transform(ev.object);
        const key = objectKey(obj);
        if (ev.type === 'DELETED') {
          seen?.delete(key);
          this.drop(key, obj);
          this.o.handler.delete(obj);
        } else {
          seen?.add(key);
          this.put(key, obj);
          this.o.handler.upsert(obj);
        }
      }
    } finally {
      timer?.cancel();
    }
    return { outcome: stalled ? 'stall' : 'ended', rv, listed: initial !== undefined && seen === undefined };
  }
}

/** The API server refusing `sendInitialEvents`: the WatchList feature off (422), or a server older than 1.27 (400/422). */
function refusesWatchList(err: unknown): boolean {
  const code = (err as { statusCode?: unknown }).statusCode;
  return code === 400 || code === 422;
}
