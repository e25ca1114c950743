import { isConflict } from '../kube/api-error.ts';
import type { KubeApi, KubeObject } from '../kube/types.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export type ElectionEvent =
  | { type: 'started-leading' }
  | { type: 'stopped-leading'; reason: 'renew-deadline' | 'released' | 'closed' }
  | { type: 'new-leader'; identity: string }
  | { type: 'error'; error: unknown };

export interface LeaderElectorOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  /** Unique per replica: the pod name (plus a random suffix so a restarted pod is a new candidate). */
  identity: string;
  /** How long a lease holds without renewal before others may take it (client-go default 15 s). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down (client-go default 10 s); < leaseDuration. */
  renewDeadlineMs?: number;
  /** Interval between acquire / renew attempts (client-go default 2 s). */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  observer?: (ev: ElectionEvent) => void;
  now?: () => number;
  random?: () => number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection package
 * (https://kubernetes.io/docs/concepts/architecture/leases/#leader-election): a candidate takes a
 * lease that is absent, released (empty holder) or not renewed for leaseDuration as measured on
 * its *own* clock since it last saw the record change (so clock skew between nodes does not
 * matter); every write carries the resourceVersion it read, so two candidates can never both win.
 * The leader renews every retryPeriod and steps down if it cannot renew within renewDeadline —
 * before anyone else may take over — and releases the lease on shutdown for a fast handover.
 */
export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectorOptions, 'observer'>> & Pick<LeaderElectorOptions, 'observer'>;
  private leading = false;
  private closed = false;
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { key: string; at: number } | undefined;
  private lastRenew = 0;
  private lastLease: KubeObject | undefined;
  private currentLeader: string | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, now: Date.now, random: Math.random, ...options };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the lease (undefined when none). */
  get leader(): string | undefined {
    return this.currentLeader;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.tick();
  }

  /** Stops campaigning; a leader releases the lease (unless release: false, which simulates a crash) and steps down. */
  async close(options: { release?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.inFlight;
    if (this.leading) {
      if (options.release !== false) await this.release();
      this.stepDown('closed');
    }
  }

  private tick(): void {
    if (this.closed) return;
    this.inFlight = this.attempt().finally(() => {
      this.inFlight = undefined;
      if (this.closed) return;
      // client-go jitters the acquire period by up to 20% so candidates do not march in lockstep.
      const delay = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + 0.2 * this.o.random());
      this.timer = setTimeout(() => this.tick(), delay);
      this.timer.unref();
    });
  }

  private async attempt(): Promise<void> {
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.o.observer?.({ type: 'error', error: err });
    }
    if (this.closed) return;
    const now = this.o.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.o.observer?.({ type: 'started-leading' });
        this.o.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew >= this.o.renewDeadlineMs) {
      this.stepDown('renew-deadline');
    }
  }

  private stepDown(reason: 'renew-deadline' | 'released' | 'closed'): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.observer?.({ type: 'stopped-leading', reason });
    this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.o.now();
    const id = this.o.identity;
    const current = await this.o.api.get('leases', this.o.namespace, this.o.name);
    if (current === undefined) {
      try {
        this.lastLease = await this.o.api.create('leases', this.lease(undefined, { holderIdentity: id, leaseDurationSeconds: this.durationSeconds(), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 }));
        this.seeLeader(id);
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const spec = (current.spec ?? {}) as LeaseSpec;
    const key = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${current.metadata.resourceVersion ?? ''}`;
    if (this.observed?.key !== key) this.observed = { key, at: now };
    const holder = spec.holderIdentity ?? '';
    this.seeLeader(holder);
    const durationMs = (spec.leaseDurationSeconds ?? this.durationSeconds()) * 1000;
    if (holder !== '' && holder !== id && this.observed.at + durationMs > now) return false;
    const next: LeaseSpec =
      holder === id
        ? { ...spec, renewTime: microTime(now), leaseDurationSeconds: this.durationSeconds() }
        : { holderIdentity: id, leaseDurationSeconds: this.durationSeconds(), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      this.lastLease = await this.o.api.replace('leases', this.lease(current, next));
      this.seeLeader(id);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const current = this.lastLease;
    if (current === undefined) return;
    const spec = (current.spec ?? {}) as LeaseSpec;
    // As client-go's release(): empty holder, 1 s duration, so the next candidate need not wait.
    const now = this.o.now();
    try {
      await this.o.api.replace('leases', this.lease(current, { leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: spec.leaseTransitions ?? 0 }));
    } catch (err) {
      this.o.observer?.({ type: 'error', error: err });
    }
  }

  private lease(current: KubeObject | undefined, spec: LeaseSpec): KubeObject {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: current === undefined ? { name: this.o.name, namespace: this.o.namespace } : { ...current.metadata },
      spec,
    };
  }

  private seeLeader(identity: string): void {
    const id = identity === '' ? undefined : identity;
    if (id !== this.currentLeader) {
      this.currentLeader = id;
      if (id !== undefined) this.o.observer?.({ type: 'new-leader', identity: id });
    }
  }

  private durationSeconds(): number {
    return Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000));
  }
}

/** metav1.MicroTime: RFC 3339 with microseconds (https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/lease-v1/). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
