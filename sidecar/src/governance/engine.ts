/**
 * The governance engine: the imperative shell around decide.ts. It compiles each config once,
 * keeps the state that outlives a request — token buckets, budget spend, the Redis connection —
 * across config reloads, reads that state for a decision, and charges usage and cost when an
 * exchange ends.
 *
 * Degrade-or-fail is decided here, once: when Redis cannot answer within its timeout the request
 * is decided without it, allowed (onUnavailable: allow, the default) or refused with 503 (block),
 * and the failure is counted (`llmaudit_governance_store_failures_total`).
 */
import { createHmac } from 'node:crypto';
import type { ApiKind, Usage } from '../adapters/types.ts';
import type { SidecarConfig } from '../config/schema.ts';
import { compilePolicy, type CompiledPolicy } from './policy.ts';
import { decide, inspectRequest, inspectResponse, type Decision, type Detection, type LimitFacts, type RequestFacts } from './decide.ts';
import { LocalLimiter, type BucketSpec, type Limiter } from './rate-limit.ts';
import { budgetKey, LocalBudgets, periodEnd, type BudgetStore } from './budgets.ts';
import { openRedisStore, type RedisStore } from './redis-store.ts';
import { costUsd } from './prices.ts';
import type { RedisConfig } from './schema.ts';

export interface GovernanceHooks {
  /** A call to the shared store failed or timed out. */
  storeFailure?: (err: unknown) => void;
}

/** What the end of an exchange needs from its start. */
export interface Admission {
  policy: CompiledPolicy;
  decision: Decision;
  /** Token buckets of this request, charged with its usage. */
  tokenBuckets: BucketSpec[];
  budgetKeys: string[];
  model: string | null;
}

export interface Governance {
  admit(config: SidecarConfig, facts: RequestFacts): Promise<Admission>;
  /** Cost of the exchange; charges its tokens and cost. Never throws. */
  settle(a: Admission, api: ApiKind, model: string | null, usage: Usage | null): Promise<number | null>;
  inspectResponse(a: Admission, api: ApiKind, body: unknown): { detections: Detection[]; logReplacements: Map<string, string> };
  close(): Promise<void>;
}

const policies = new WeakMap<SidecarConfig, CompiledPolicy>();

export function policyOf(config: SidecarConfig): CompiledPolicy {
  let p = policies.get(config);
  if (p === undefined) {
    p = compilePolicy(config.policy, config.governance, config.capture.mode);
    policies.set(config, p);
  }
  return p;
}

// A client sends the same credential on every request: its fingerprint is computed once (an HMAC
// costs more than the rest of a small request's admission), per governance key, for up to
// FINGERPRINTS_KEPT credentials; past that the memo starts over. Held in memory only.
const FINGERPRINTS_KEPT = 1024;
const fingerprints = new WeakMap<Buffer, Map<string, string>>();

/** The client's credential, as a keyed fingerprint: never the key itself. */
export function apiKeyFingerprint(key: Buffer, headers: RequestFacts['headers']): string {
  const one = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);
  const raw = one(headers['authorization']) ?? one(headers['x-api-key']) ?? one(headers['api-key']);
  if (raw === undefined || raw === '') return 'none';
  let memo = fingerprints.get(key);
  if (memo === undefined) fingerprints.set(key, (memo = new Map()));
  const known = memo.get(raw);
  if (known !== undefined) return known;
  const secret = raw.replace(/^Bearer\s{1,8}/i, '');
  const fp = createHmac('sha256', key).update('api-key\0').update(secret).digest('hex').slice(0, 16);
  if (memo.size >= FINGERPRINTS_KEPT) memo.clear();
  memo.set(raw, fp);
  return fp;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export function createGovernance(opts: { key: Buffer; hooks?: GovernanceHooks; now?: () => number }): Governance {
  const key = opts.key;
  const now = opts.now ?? Date.now;
  const local = new LocalLimiter();
  const localBudgets = new LocalBudgets();
  let redis: { url: string; store: Promise<RedisStore> } | null = null;
  const retired: Array<Promise<RedisStore>> = [];

  /** Null without Redis; else the store (ioredis is loaded with the first), rejecting as its set-up fails. */
  const storeFor = (cfg: RedisConfig | undefined): Promise<Limiter & BudgetStore> | null => {
    if (cfg === undefined) return null;
    if (redis === null || redis.url !== cfg.url) {
      if (redis !== null) retired.push(redis.store);
      const current = { url: cfg.url, store: openRedisStore(cfg, (err) => opts.hooks?.storeFailure?.(err)) };
      // A store that could not be set up is not kept: the next exchange tries again.
      current.store.catch(() => {
        if (redis === current) redis = null;
      });
      redis = current;
    }
    return redis.store;
  };
  const failed = (err: unknown) => opts.hooks?.storeFailure?.(err);

  return {
    async admit(config, facts) {
      const policy = policyOf(config);
      const g = policy.config;
      const ins = inspectRequest(facts, policy, key);
      const limits: LimitFacts = { rateLimit: null, unavailable: false, budgets: [] };
      let store: (Limiter & BudgetStore) | null = null;
      try {
        const opening = storeFor(g.rateLimits.redis);
        store = opening === null ? null : await opening;
      } catch (err) {
        // The store cannot even be set up (its password file unreadable): as unreachable.
        failed(err);
        limits.unavailable = g.rateLimits.rules.length > 0 || g.budgets.length > 0;
      }
      const timeoutMs = g.rateLimits.redis?.timeoutMs ?? 0;
      const t = facts.now;

      const requestBuckets: Array<{ spec: BucketSpec; by: string; id: string }> = [];
      const tokenBuckets: BucketSpec[] = [];
      for (const r of g.rateLimits.rules) {
        const id = r.by === 'workload' ? policy.workload : r.by === 'endpoint' ? `${policy.workload}/${facts.endpoint}` : apiKeyFingerprint(key, facts.headers);
        const burst = r.burst ?? 1;
        if (r.requestsPerMinute !== undefined) requestBuckets.push({ spec: { key: `rl:${r.by}:requests:${id}`, capacity: r.requestsPerMinute * burst, perMs: r.requestsPerMinute / 60_000, cost: 1 }, by: r.by, id });
        if (r.tokensPerMinute !== undefined) tokenBuckets.push({ key: `rl:${r.by}:tokens:${id}`, capacity: r.tokensPerMinute * burst, perMs: r.tokensPerMinute / 60_000, cost: 0 });
      }
      const budgetKeys = g.budgets.map((b) => budgetKey(policy.workload, b.period, t));
      // A request the policy already refuses takes nothing from anyone's bucket.
      const refused = g.mode === 'enforce' && ins.blocks.length > 0;
      if (!refused && !limits.unavailable && (requestBuckets.length > 0 || tokenBuckets.length > 0)) {
        const specs = [...requestBuckets.map((b) => b.spec), ...tokenBuckets];
        try {
          const r = await (store === null ? local.take(specs, t) : withTimeout(store.take(specs, t), timeoutMs));
          // The bucket shown: the first refusing one, else the request bucket with the least left.
          let pick = 0;
          for (let i = 1; i < specs.length; i++) if (i < requestBuckets.length && (r.remaining[i] as number) < (r.remaining[pick] as number)) pick = i;
          if (!r.allowed) {
            const i = specs.findIndex((s, k) => (r.remaining[k] as number) < (s.cost > 0 ? s.cost : Number.MIN_VALUE));
            if (i >= 0) pick = i;
          }
          const spec = specs[pick] as BucketSpec;
          const by = pick < requestBuckets.length ? (requestBuckets[pick]?.by ?? '') : (g.rateLimits.rules.find((x) => spec.key.startsWith(`rl:${x.by}:`))?.by ?? '');
          limits.rateLimit = { key: spec.key, remaining: r.remaining[pick] as number, allowed: r.allowed, retryAfterMs: r.retryAfterMs, by };
        } catch (err) {
          failed(err);
          limits.unavailable = true;
        }
      }
      if (!refused && !limits.unavailable && g.budgets.length > 0) {
        try {
          const spent = await (store === null ? localBudgets.spent(budgetKeys) : withTimeout(store.spent(budgetKeys), timeoutMs));
          limits.budgets = g.budgets.map((b, i) => ({ period: b.period, usd: b.usd, action: b.action, spent: spent[i] ?? 0, retryAfterS: Math.max(1, Math.ceil((periodEnd(b.period, t) - now()) / 1000)) }));
        } catch (err) {
          failed(err);
          limits.unavailable = true;
        }
      }
      const decision = decide(policy, facts, ins, limits);
      return { policy, decision, tokenBuckets, budgetKeys, model: ins.model.resolved };
    },

    async settle(a, api, model, usage) {
      const g = a.policy.config;
      const resolved = a.model ?? model;
      const cost = costUsd(api, resolved, usage, g.prices);
      let store: (Limiter & BudgetStore) | null;
      try {
        const opening = storeFor(g.rateLimits.redis);
        store = opening === null ? null : await opening;
      } catch (err) {
        failed(err);
        return cost;
      }
      const timeoutMs = g.rateLimits.redis?.timeoutMs ?? 0;
      const tokens = (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0);
      try {
        if (tokens > 0) {
          for (const b of a.tokenBuckets) await (store === null ? local.charge(b, tokens, now()) : withTimeout(store.charge(b, tokens, now()), timeoutMs));
        }
        if (cost !== null && cost > 0 && a.budgetKeys.length > 0) {
          const ttl = 32 * 86_400_000; // past the end of the longest period
          await (store === null ? localBudgets.add(a.budgetKeys, cost, ttl) : withTimeout(store.add(a.budgetKeys, cost, ttl), timeoutMs));
        }
      } catch (err) {
        failed(err);
      }
      return cost;
    },

    inspectResponse(a, api, body) {
      return inspectResponse(api, body, a.policy, key);
    },

    async close() {
      const r = redis as { store: Promise<RedisStore> } | null;
      redis = null;
      await Promise.all([...retired.splice(0), ...(r === null ? [] : [r.store])].map((p) => p.then((s) => s.close(), () => undefined)));
    },
  };
}
