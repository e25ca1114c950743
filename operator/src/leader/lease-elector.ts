import { operatorError } from '../errors.ts';
import { isConflict } from '../kube/api-error.ts';
import { realClock, type Clock, type ClockTimer } from '../kube/clock.ts';
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
  /**
   * A leader that has not renewed for this long steps down (client-go default 10 s); < leaseDuration.
   * Every acquire / renew request is also aborted when it runs this long.
   */
  renewDeadlineMs?: number;
  /** Interval between acquire / renew attempts (client-go default 2 s). */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  /** Called the moment leadership ends; on close() the lease is released only after a returned promise settles. */
  onStoppedLeading: () => void | Promise<void>;
  observer?: (ev: ElectionEvent) => void;
  clock?: Clock;
  random?: () => number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection package
 * (https://kubernetes.io/docs/concepts/architecture/leases/#leader-election): a candidate takes a
 * lease that is absent, released (empty holder) or not renewed for leaseDuration as measured on
 * its *own* clock since it last saw the record change (so clock skew between nodes does not
 * matter); every write carries the resourceVersion it read, so two candidates can never both win.
 *
 * The leader renews every retryPeriod and steps down renewDeadline after the start of its last
 * successful renew — on a timer, whatever its requests are doing — before anyone else may take
 * over: another candidate saw that renew no earlier than it started, and waits leaseDuration
 * (> renewDeadline) from then. Every request is aborted after renewDeadline, like client-go's
 * context timeout, so an API server that hangs (not only one that errors) cannot hold a replica
 * in a leader's state past its lease. On shutdown the leader stops its work, then releases the
 * lease for a fast handover.
 */
export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectorOptions, 'observer'>> & Pick<LeaderElectorOptions, 'observer'>;
  private leading = false;
  private closed = false;
  private started = false;
  private timer: ClockTimer | undefined;
  private deadline: ClockTimer | undefined;
  private observed: { key: string; at: number } | undefined;
  private lastLease: KubeObject | undefined;
  private currentLeader: string | undefined;
  private inFlight: Promise<void> | undefined;
  private attemptAbort: AbortController | undefined;

  constructor(options: LeaderElectorOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, clock: realClock, random: Math.random, ...options };
    // client-go refuses the same: a leader must be down before its lease can expire for others.
    if (this.o.renewDeadlineMs >= this.o.leaseDurationMs) throw operatorError('LLMAUDIT_E_OPERATOR_CONFIG_INVALID', 'leader election: the renew deadline must be shorter than the lease duration');
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

  /** Stops campaigning; a leader steps down, then releases the lease (unless release: false, which simulates a crash). */
  async close(options: { release?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.attemptAbort?.abort(new Error('elector closed'));
    await this.inFlight;
    if (this.leading) {
      await this.stepDown('closed');
      if (options.release !== false) await this.release();
    }
  }

  private tick(): void {
    if (this.closed) return;
    this.inFlight = this.attempt().finally(() => {
      this.inFlight = undefined;
      if (this.closed) return;
      // client-go jitters the acquire period by up to 20% so candidates do not march in lockstep.
      const delay = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + 0.2 * this.o.random());
      this.timer = this.o.clock.setTimeout(() => this.tick(), delay);
    });
  }

  private async attempt(): Promise<void> {
    const clock = this.o.clock;
    const startedAt = clock.now();
    const abort = new AbortController();
    this.attemptAbort = abort;
    const bound = clock.setTimeout(() => abort.abort(new Error(`no answer within the renew deadline (${this.o.renewDeadlineMs} ms)`)), this.o.renewDeadlineMs);
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew(startedAt, abort.signal);
    } catch (err) {
      if (!this.closed) this.o.observer?.({ type: 'error', error: err });
    } finally {
      bound.cancel();
      this.attemptAbort = undefined;
    }
    if (this.closed) return;
    // An answer that arrived after the deadline (the abort raced it) does not count.
    if (!ok || abort.signal.aborted || clock.now() - startedAt >= this.o.renewDeadlineMs) return;
    // Others measure expiry from when they saw this write, which is no earlier than startedAt.
    this.deadline?.cancel();
    this.deadline = clock.setTimeout(() => {
      this.attemptAbort?.abort(new Error('renew deadline passed'));
      void this.stepDown('renew-deadline');
    }, startedAt + this.o.renewDeadlineMs - clock.now());
    if (!this.leading) {
      this.leading = true;
      this.o.observer?.({ type: 'started-leading' });
      this.o.onStartedLeading();
    }
  }

  private async stepDown(reason: 'renew-deadline' | 'released' | 'closed'): Promise<void> {
    this.deadline?.cancel();
    this.deadline = undefined;
    if (!this.leading) return;
    this.leading = false;
    this.o.observer?.({ type: 'stopped-leading', reason });
    await this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(now: number, signal: AbortSignal): Promise<boolean> {
    const id = this.o.identity;
    const api = this.o.api;
    const current = await api.get('leases', this.o.namespace, this.o.name, { signal });
    if (current === undefined) {
      try {
        this.lastLease = await api.create('leases', this.lease(undefined, { holderIdentity: id, leaseDurationSeconds: this.durationSeconds(), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 }), { signal });
        this.seeLeader(id);
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const spec = (current.spec ?? {}) as LeaseSpec;
    const key = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${current.metadata.resourceVersion ?? ''}`;
    // Seen when the answer arrived (as client-go's observedTime), not when the request left: a
    // slow answer may show a renew made just before it, whose lease runs from then.
    const seenAt = this.o.clock.now();
    if (this.observed?.key !== key) this.observed = { key, at: seenAt };
    const holder = spec.holderIdentity ?? '';
    this.seeLeader(holder);
    const durationMs = (spec.leaseDurationSeconds ?? this.durationSeconds()) * 1000;
    if (holder !== '' && holder !== id && this.observed.at + durationMs > seenAt) return false;
    const next: LeaseSpec =
      holder === id
        ? { ...spec, renewTime: microTime(now), leaseDurationSeconds: this.durationSeconds() }
        : { holderIdentity: id, leaseDurationSeconds: this.durationSeconds(), acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      this.lastLease = await api.replace('leases', this.lease(current, next), { signal });
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
    if (spec.holderIdentity !== this.o.identity) return;
    // As client-go's release(): empty holder, 1 s duration, so the next candidate need not wait.
    const now = this.o.clock.now();
    const abort = new AbortController();
    const bound = this.o.clock.setTimeout(() => abort.abort(new Error('release timed out')), this.o.renewDeadlineMs);
    try {
      await this.o.api.replace('leases', this.lease(current, { leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: spec.leaseTransitions ?? 0 }), { signal: abort.signal });
    } catch (err) {
      this.o.observer?.({ type: 'error', error: err });
    } finally {
      bound.cancel();
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
