/**
 * Spending budgets per workload over a UTC day or month. The spend is the sum of the entries'
 * `usage.costUsd`, added when an exchange ends; a request is checked against what is spent before
 * it is forwarded, so the exchange that crosses the line completes and the next one is refused.
 */

export interface BudgetStore {
  /** USD spent under each key. */
  spent(keys: readonly string[]): Promise<number[]>;
  /** Adds `usd` under each key; a key lives `ttlMs` past its last addition. */
  add(keys: readonly string[], usd: number, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}

export type Period = 'day' | 'month';

/** The key of the period that contains `now`: `budget:<workload>:day:2026-12-07`. */
export function budgetKey(workload: string, period: Period, now: number): string {
  const iso = new Date(now).toISOString();
  return `budget:${workload}:${period}:${period === 'day' ? iso.slice(0, 10) : iso.slice(0, 7)}`;
}

/** Epoch ms at which the period containing `now` ends. */
export function periodEnd(period: Period, now: number): number {
  const d = new Date(now);
  return period === 'day' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Spend in this process (a restart starts the period's count over; Redis keeps it). */
export class LocalBudgets implements BudgetStore {
  private readonly spend = new Map<string, { usd: number; expires: number }>();

  spent(keys: readonly string[]): Promise<number[]> {
    const now = Date.now();
    return Promise.resolve(
      keys.map((k) => {
        const e = this.spend.get(k);
        if (e === undefined || e.expires <= now) return 0;
        return e.usd;
      }),
    );
  }

  add(keys: readonly string[], usd: number, ttlMs: number): Promise<void> {
    const now = Date.now();
    for (const [k, e] of this.spend) if (e.expires <= now) this.spend.delete(k);
    for (const k of keys) this.spend.set(k, { usd: (this.spend.get(k)?.usd ?? 0) + usd, expires: now + ttlMs });
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
