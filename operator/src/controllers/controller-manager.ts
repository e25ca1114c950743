import { setMaxListeners } from 'node:events';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { LABEL_INJECT } from '../api/names.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { Clock } from '../kube/clock.ts';
import { fencedApi } from '../kube/fenced-api.ts';
import type { KubeApi, KubeObject, ResourceName } from '../kube/types.ts';
import { objectKey, splitKey } from '../kube/types.ts';
import type { BackoffOptions } from './backoff.ts';
import { countPods } from './pod-counter.ts';
import { applyPolicy, type PolicyControllerDeps } from './policy-controller.ts';
import { injectedWith, requestedPolicy, resolvePolicyName } from './policy-lookup.ts';
import type { Log } from './types.ts';
import { WatchLoop, type WatchLoopEvent } from './watch-loop.ts';
import { WorkQueue } from './work-queue.ts';
import { mayNeedPatch, optInOf, workloadPatch } from './workload-labeller.ts';
import { podCacheShape, workloadCacheShape } from './cache-shapes.ts';
import { LABEL_HEADS } from '../witness/heads.ts';
import { createHeadsTrigger, type HeadsTrigger } from '../witness/heads-trigger.ts';

export interface WatchTuning {
  stallTimeoutMs?: number;
  backoff?: BackoffOptions;
  resyncMs?: number;
  pageSize?: number;
  /** Fill the caches by watch-list where the server offers it (WatchLoopOptions.watchList); default true. */
  watchList?: boolean;
  clock?: Clock;
}

export interface ControllerManagerDeps extends Omit<PolicyControllerDeps, 'api'> {
  api: KubeApi;
  /** The AuditPolicy cache, run on every replica (the webhook resolves policies from it). */
  policies: WatchLoop;
  log: Log;
  metrics?: OperatorMetrics;
  watch?: WatchTuning;
  retry?: BackoffOptions;
}

const WORKLOADS = ['deployments', 'statefulsets'] as const;
type WorkloadResource = (typeof WORKLOADS)[number];

/**
 * The leader's controllers: AuditPolicy (ConfigMap, Secret, PVC, status), the pod counter that
 * feeds status, and the workload labeller. Pods (only those labelled for injection) and workloads
 * are watched only while leading; every change is reduced to a key on a de-duplicating queue.
 * Caches are read by namespace, so one policy's reconcile costs its namespace's pods, not the
 * cluster's. Every request goes through a fenced view of the API: close() aborts what is in flight.
 */
export class ControllerManager {
  private readonly d: ControllerManagerDeps;
  private readonly fence = new AbortController();
  private readonly policyQueue: WorkQueue;
  private readonly workloadQueue: WorkQueue;
  private readonly pods: WatchLoop;
  private readonly workloads: Record<WorkloadResource, WatchLoop>;
  /** The witness's heads ConfigMaps (when the operator witnesses): a change re-rolls the policy's status. */
  private readonly heads: { loop: WatchLoop; trigger: HeadsTrigger } | undefined;
  /** Workloads found in step at this resourceVersion (no GET until it changes). */
  private readonly inStep = new Map<string, string>();
  private started = false;
  /** Pods and workloads are cached: policy status computed now is complete. */
  private synced = false;
  private closed = false;

  constructor(deps: ControllerManagerDeps) {
    // Every request in flight listens on the fence: no listener-count warning for a busy leader.
    setMaxListeners(0, this.fence.signal);
    this.d = { ...deps, api: fencedApi(deps.api, this.fence.signal) };
    const onError = (controller: string) => (key: string, err: unknown, attempt: number, retryInMs: number) => {
      deps.metrics?.reconciles.inc({ controller, result: 'error' });
      deps.log.warn({ controller, key, attempt, retryInMs, err }, 'reconcile failed');
    };
    this.policyQueue = new WorkQueue((k) => this.reconcilePolicy(k), { ...(deps.retry === undefined ? {} : { retry: deps.retry }), onError: onError('auditpolicy') });
    this.workloadQueue = new WorkQueue((k) => this.reconcileWorkload(k), { ...(deps.retry === undefined ? {} : { retry: deps.retry }), onError: onError('workload') });
    this.pods = this.loop('pods', { upsert: (o) => this.podChanged(o), delete: (o) => this.podChanged(o) }, { labelSelector: `${LABEL_INJECT}=true`, transform: podCacheShape });
    // Every workload of the cluster is watched (the opt-in is an annotation: no selector filters
    // it), so as metadata only, each cached as its identity and our annotations.
    const workloadLoop = (resource: WorkloadResource, kind: string): WatchLoop =>
      this.loop(resource, { upsert: (o) => this.workloadChanged(resource, o), delete: (o) => this.workloadChanged(resource, o) }, { metadataOnly: true, transform: (o) => workloadCacheShape(kind, o) });
    this.workloads = { deployments: workloadLoop('deployments', 'Deployment'), statefulsets: workloadLoop('statefulsets', 'StatefulSet') };
    if (deps.witness !== undefined) {
      const trigger = createHeadsTrigger({
        enqueue: (k) => {
          if (this.synced) this.policyQueue.add(k);
        },
      });
      this.heads = { trigger, loop: this.loop('configmaps', { upsert: (o) => trigger.changed(o), delete: () => undefined }, { labelSelector: `${LABEL_HEADS}=true` }) };
    }
  }

  /** Starts the watches; policies are reconciled once pods and workloads are known. */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    this.pods.start();
    this.heads?.loop.start();
    for (const r of WORKLOADS) this.workloads[r].start();
    await Promise.all([this.d.policies.synced, this.pods.synced, ...WORKLOADS.map((r) => this.workloads[r].synced)]);
    if (this.closed) return;
    this.synced = true;
    for (const p of this.d.policies.list()) this.policyQueue.add(objectKey(p));
  }

  /** Feed from the AuditPolicy watch (upserts and deletes alike). */
  policyChanged(policy: KubeObject): void {
    if (this.synced) this.policyQueue.add(objectKey(policy));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fence.abort(new Error('controllers stopped'));
    this.policyQueue.close();
    this.workloadQueue.close();
    this.heads?.trigger.close();
    await Promise.all([this.pods.close(), ...WORKLOADS.map((r) => this.workloads[r].close()), this.heads?.loop.close()]);
  }

  /** How many objects each cache holds (the "controllers synced" log line). */
  cacheSizes(): Record<'pods' | WorkloadResource, number> {
    return { pods: this.pods.size, deployments: this.workloads.deployments.size, statefulsets: this.workloads.statefulsets.size };
  }

  /** The cached workloads, as the cache holds them (tests: what a metadata-only watch keeps). */
  cachedWorkloads(resource: WorkloadResource): KubeObject[] {
    return this.workloads[resource].list();
  }

  /** Resolves when both queues are idle (tests). */
  async drain(): Promise<void> {
    while (!this.policyQueue.isIdle() || !this.workloadQueue.isIdle()) {
      await Promise.all([this.policyQueue.drain(), this.workloadQueue.drain()]);
    }
  }

  private loop(resource: ResourceName, handler: { upsert(o: KubeObject): void; delete(o: KubeObject): void }, shape: { labelSelector?: string; metadataOnly?: boolean; transform?: (o: KubeObject) => KubeObject } = {}): WatchLoop {
    const w = this.d.watch ?? {};
    return new WatchLoop({
      api: this.d.api,
      resource,
      handler,
      ...shape,
      ...(w.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: w.stallTimeoutMs }),
      ...(w.backoff === undefined ? {} : { backoff: w.backoff }),
      ...(w.resyncMs === undefined ? {} : { resyncMs: w.resyncMs }),
      ...(w.pageSize === undefined ? {} : { pageSize: w.pageSize }),
      watchList: w.watchList ?? true,
      ...(w.clock === undefined ? {} : { clock: w.clock }),
      observer: (ev) => this.observe(resource, ev),
    });
  }

  private observe(resource: ResourceName, ev: WatchLoopEvent): void {
    if (ev.type === 'relist') this.d.metrics?.watchRestarts.inc({ resource, reason: 'gone' });
    if (ev.type === 'watch-list-refused') this.d.log.info({ resource, err: ev.error }, 'the API server does not stream lists (sendInitialEvents): listing in pages');
    if (ev.type === 'restart') {
      this.d.metrics?.watchRestarts.inc({ resource, reason: ev.reason });
      this.d.log.warn({ resource, reason: ev.reason, delayMs: ev.delayMs, err: ev.error }, 'watch restarting');
    }
  }

  private policyNames(namespace: string): string[] {
    return this.d.policies.listNamespace(namespace).map((p) => p.metadata.name ?? '');
  }

  private podChanged(pod: KubeObject): void {
    if (!this.synced) return;
    const ns = pod.metadata.namespace ?? '';
    const policy = injectedWith(pod) ?? resolvePolicyName(this.policyNames(ns), requestedPolicy(pod.metadata));
    if (policy !== undefined) this.policyQueue.add(`${ns}/${policy}`);
  }

  private workloadChanged(resource: WorkloadResource, workload: KubeObject): void {
    const key = `${resource}|${objectKey(workload)}`;
    if (this.workloads[resource].get(objectKey(workload)) === undefined) this.inStep.delete(key);
    this.workloadQueue.add(key);
    if (!this.synced) return;
    const ns = workload.metadata.namespace ?? '';
    for (const p of this.policyNames(ns)) this.policyQueue.add(`${ns}/${p}`);
  }

  private async reconcileWorkload(key: string): Promise<void> {
    const [resource, objKey] = key.split('|') as [WorkloadResource, string];
    const cached = this.workloads[resource].get(objKey);
    if (cached === undefined || !mayNeedPatch(cached.metadata)) {
      this.inStep.delete(key);
      return;
    }
    const rv = cached.metadata.resourceVersion ?? '';
    if (this.inStep.get(key) === rv) return;
    // The cache holds metadata only: the pod template comes from a fresh GET, and only for the
    // workloads whose annotations say they opt in (or did).
    const { namespace, name } = splitKey(objKey);
    const w = await this.d.api.get(resource, namespace, name);
    if (w === undefined) return;
    const patch = workloadPatch(w);
    if (patch === undefined) {
      this.inStep.set(key, w.metadata.resourceVersion ?? '');
      return;
    }
    // Merge patch on labels/annotations touches only our keys; a 404 means it was just deleted.
    try {
      const patched = await this.d.api.patch(resource, namespace, name, patch, { type: 'merge' });
      this.inStep.set(key, patched.metadata.resourceVersion ?? '');
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw err;
    }
    this.d.metrics?.reconciles.inc({ controller: 'workload', result: 'ok' });
    this.d.log.info({ resource, workload: objKey, optedIn: w.metadata.annotations?.[LABEL_INJECT] === 'true' }, 'workload pod template updated');
  }

  private async reconcilePolicy(key: string): Promise<void> {
    const obj = this.d.policies.get(key);
    if (obj === undefined || obj.metadata.deletionTimestamp !== undefined) return;
    const policy = obj as unknown as AuditPolicy;
    const ns = policy.metadata.namespace ?? '';
    const name = policy.metadata.name ?? '';
    const names = this.policyNames(ns);
    const pods = this.pods.listNamespace(ns);
    const counts = countPods(pods, names).get(name) ?? { injected: 0, missing: [] };
    const missing = new Set(counts.missing);
    let workloads = 0;
    for (const r of WORKLOADS) {
      for (const w of this.workloads[r].listNamespace(ns)) {
        const optIn = optInOf(w.metadata);
        if (optIn !== undefined && resolvePolicyName(names, optIn) === name) workloads++;
      }
    }
    const livePodUids = new Set(pods.filter((p) => injectedWith(p) === name && p.metadata.deletionTimestamp === undefined).map((p) => p.metadata.uid ?? ''));
    const result = await applyPolicy(policy, { pods: counts, workloads, missingPods: pods.filter((p) => missing.has(p.metadata.name ?? '')), livePodUids }, { ...this.d });
    this.d.metrics?.reconciles.inc({ controller: 'auditpolicy', result: 'ok' });
    this.d.metrics?.podsMissing.set({ namespace: ns, policy: name }, counts.missing.length);
    if (result.writes.length > 0) this.d.log.info({ policy: key, writes: result.writes }, 'auditpolicy reconciled');
  }
}
