import type { KubeApi, KubeObject } from './types.ts';

export interface EventInput {
  /** The object the event is about. */
  regarding: KubeObject;
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. SidecarMissing. */
  reason: string;
  message: string;
}

export interface EventEmitterOptions {
  api: KubeApi;
  component: string;
  /** The replica (pod name), for reportingInstance. */
  instance: string;
  /** One event per (object, reason) at most this often. */
  minIntervalMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export type EmitEvent = (ev: EventInput) => Promise<void>;

/**
 * Creates core/v1 Events (what `kubectl describe` and `kubectl get events` show), rate-limited per
 * object and reason so a stuck condition re-checked on every resync does not flood etcd. Failures
 * are reported to onError and never thrown: an event is advice, not part of any decision.
 */
export function createEventEmitter(options: EventEmitterOptions): EmitEvent {
  const now = options.now ?? Date.now;
  const interval = options.minIntervalMs ?? 10 * 60_000;
  const last = new Map<string, number>();
  return async (ev) => {
    const m = ev.regarding.metadata;
    const key = `${m.uid ?? `${m.namespace ?? ''}/${m.name ?? ''}`}|${ev.reason}`;
    const t = now();
    const prev = last.get(key);
    if (prev !== undefined && t - prev < interval) return;
    last.set(key, t);
    if (last.size > 10_000) for (const [k, v] of last) if (t - v >= interval) last.delete(k);
    const ts = new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
    const namespace = m.namespace ?? 'default';
    try {
      await options.api.create('events', {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${m.name ?? 'object'}.`, namespace },
        involvedObject: { apiVersion: ev.regarding.apiVersion, kind: ev.regarding.kind, name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion },
        type: ev.type,
        reason: ev.reason,
        message: ev.message.slice(0, 1024),
        source: { component: options.component },
        reportingComponent: options.component,
        reportingInstance: options.instance,
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
      });
    } catch (err) {
      last.delete(key);
      options.onError?.(err);
    }
  };
}
