/**
 * Token buckets (the algorithm of Envoy's local rate limit filter and of most API gateways): a
 * bucket holds up to `capacity` units and refills at `perMs` units per millisecond. A request
 * takes one unit from each request bucket; a token bucket is only required to be positive when
 * the request starts, and is charged the response's usage afterwards (it may go negative: later
 * requests wait until it refills).
 *
 * The Limiter interface has two implementations: LocalLimiter (this process) and RedisLimiter
 * (redis-limiter.ts, shared by every replica). Both keep all-or-nothing semantics: a request is
 * either admitted by every bucket and charged in all, or charged in none.
 */

export interface BucketSpec {
  key: string;
  capacity: number;
  /** Refill rate, units per millisecond. */
  perMs: number;
  /** Units taken when admitted (0: only required to be positive). */
  cost: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Level of each bucket after the take, in spec order. */
  remaining: number[];
  /** When refused: milliseconds until every refusing bucket can admit. */
  retryAfterMs: number;
}

export interface Limiter {
  take(specs: readonly BucketSpec[], now: number): Promise<TakeResult>;
  /** Charges `units` to one bucket after the fact (response tokens). */
  charge(spec: BucketSpec, units: number, now: number): Promise<void>;
  close(): Promise<void>;
}

export interface BucketState {
  level: number;
  at: number;
}

/** The level of a bucket at `now`, refilled since its last update and capped at capacity. */
export function refill(state: BucketState | undefined, spec: BucketSpec, now: number): number {
  if (state === undefined) return spec.capacity;
  return Math.min(spec.capacity, state.level + Math.max(0, now - state.at) * spec.perMs);
}

/** Pure: what a take does to the given levels. */
export function decideTake(levels: readonly number[], specs: readonly BucketSpec[]): TakeResult {
  let allowed = true;
  let retryAfterMs = 0;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i] as BucketSpec;
    const level = levels[i] as number;
    const need = s.cost > 0 ? s.cost : Number.MIN_VALUE;
    if (level < need) {
      allowed = false;
      retryAfterMs = Math.max(retryAfterMs, Math.ceil((need - level) / s.perMs));
    }
  }
  const remaining = specs.map((s, i) => (allowed ? (levels[i] as number) - s.cost : (levels[i] as number)));
  return { allowed, remaining, retryAfterMs };
}

/**
 * Buckets in this process. The map outlives config reloads (the engine keeps its limiter), so a
 * reload does not refill anyone's bucket. Idle buckets are dropped once full again: at most one
 * entry per active key.
 */
export class LocalLimiter implements Limiter {
  private readonly buckets = new Map<string, BucketState & { full: number }>();
  private sweptAt = 0;

  take(specs: readonly BucketSpec[], now: number): Promise<TakeResult> {
    this.sweep(now);
    const levels = specs.map((s) => refill(this.buckets.get(s.key), s, now));
    const r = decideTake(levels, specs);
    specs.forEach((s, i) => this.buckets.set(s.key, { level: r.remaining[i] as number, at: now, full: now + Math.ceil((s.capacity - (r.remaining[i] as number)) / s.perMs) }));
    return Promise.resolve(r);
  }

  charge(spec: BucketSpec, units: number, now: number): Promise<void> {
    const level = refill(this.buckets.get(spec.key), spec, now) - units;
    this.buckets.set(spec.key, { level, at: now, full: now + Math.ceil((spec.capacity - level) / spec.perMs) });
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Buckets that have refilled completely hold no information: forget them, once a minute. */
  private sweep(now: number): void {
    if (now - this.sweptAt < 60_000) return;
    this.sweptAt = now;
    for (const [k, b] of this.buckets) if (b.full <= now) this.buckets.delete(k);
  }
}
