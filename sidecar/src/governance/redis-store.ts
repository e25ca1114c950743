/**
 * Rate-limit buckets and budget spend in Redis, shared by every replica of a workload (the way
 * Envoy's global rate limiting shares its counters). Each take and charge is one Lua script, run
 * atomically by Redis (https://redis.io/docs/latest/develop/programmability/eval-intro/), with the
 * server's clock (TIME) so replicas with skewed clocks agree. Client: ioredis (ADR 0015).
 *
 * Nothing waits on Redis for long: each command has a timeout, a connection that was up and broke
 * fails calls at once, and the engine applies the policy's onUnavailable when a call fails.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { BucketSpec, Limiter, TakeResult } from './rate-limit.ts';
import type { BudgetStore } from './budgets.ts';
import type { RedisConfig } from './schema.ts';
import { namedExport } from '../named-export.ts';

// KEYS: the buckets. ARGV: per bucket capacity, refill per ms, cost. All-or-nothing: every level
// is refilled and checked first, then either every bucket is charged or none is.
// Returns {allowed, retryAfterMs, level1, level2, ...} with levels as strings (Lua numbers become
// integers on the way out).
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local levels = {}
local ok = 1
local retry = 0
for i = 1, n do
  local cap = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local cost = tonumber(ARGV[i * 3])
  local v = redis.call('HMGET', KEYS[i], 'l', 't')
  local level = cap
  if v[1] then level = math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * rate) end
  levels[i] = level
  local need = cost
  if need <= 0 then need = 1e-9 end
  if level < need then
    ok = 0
    local w = math.ceil((need - level) / rate)
    if w > retry then retry = w end
  end
end
local out = {ok, retry}
for i = 1, n do
  local cap = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local level = levels[i]
  if ok == 1 then level = level - tonumber(ARGV[i * 3]) end
  redis.call('HSET', KEYS[i], 'l', tostring(level), 't', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - level) / rate) + 1000)
  out[#out + 1] = tostring(level)
end
return out
`;

// KEYS[1]: the bucket. ARGV: capacity, refill per ms, units charged (may drive the level below 0).
const CHARGE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'l', 't')
local level = cap
if v[1] then level = math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * rate) end
level = level - tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'l', tostring(level), 't', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - level) / rate) + 1000)
return tostring(level)
`;

// KEYS: budget keys. ARGV: USD to add, time to live in ms.
const SPEND = `
for i = 1, #KEYS do
  redis.call('INCRBYFLOAT', KEYS[i], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
`;

type Scripted = Redis & {
  llmauditTake(...args: Array<string | number>): Promise<string[] | number[]>;
  llmauditCharge(...args: Array<string | number>): Promise<string>;
  llmauditSpend(...args: Array<string | number>): Promise<number>;
};

let ioredis: Promise<typeof Redis> | null = null;

/**
 * A RedisStore, with ioredis loaded on the first one: a sidecar whose policy names no Redis never
 * loads the client (a few MiB of resident memory, docs/adr/0018-sidecar-cost-per-exchange.md).
 * Rejects as the constructor throws (a password file that cannot be read).
 */
export async function openRedisStore(cfg: RedisConfig, onError: (err: Error) => void): Promise<RedisStore> {
  const Client = await (ioredis ??= import('ioredis').then((m) => namedExport(m, 'Redis')));
  return new RedisStore(Client, cfg, onError);
}

export class RedisStore implements Limiter, BudgetStore {
  private readonly redis: Scripted;
  private readonly prefix: string;
  private closed = false;
  private connected = false;

  constructor(Client: typeof Redis, cfg: RedisConfig, onError: (err: Error) => void) {
    this.prefix = cfg.keyPrefix;
    const password = cfg.passwordFile === undefined ? undefined : readFileSync(cfg.passwordFile, 'utf8').trim();
    const redis = new Client(cfg.url, {
      ...(password === undefined ? {} : { password }),
      // Queued until the first connection (so a starting sidecar does not fail open), never after:
      // once connected, a lost connection fails calls at once (ready() below).
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      commandTimeout: cfg.timeoutMs,
      connectTimeout: Math.max(1000, cfg.timeoutMs),
      retryStrategy: (times: number) => Math.min(times * 200, 2000),
    });
    redis.on('error', onError); // reconnects on its own; every failed call is counted by the engine
    redis.once('ready', () => (this.connected = true));
    redis.defineCommand('llmauditTake', { lua: TAKE });
    redis.defineCommand('llmauditCharge', { numberOfKeys: 1, lua: CHARGE });
    redis.defineCommand('llmauditSpend', { lua: SPEND });
    this.redis = redis as Scripted;
  }

  /** Fails fast while a connection that once worked is down (the client reconnects meanwhile). */
  private ready(): void {
    if (this.connected && this.redis.status !== 'ready') throw Object.assign(new Error(`redis is ${this.redis.status}`), { code: 'ECONNREFUSED' });
  }

  async take(specs: readonly BucketSpec[], _now: number): Promise<TakeResult> {
    this.ready();
    const args: Array<string | number> = [specs.length];
    for (const s of specs) args.push(this.prefix + s.key);
    for (const s of specs) args.push(s.capacity, s.perMs, s.cost);
    const r = await this.redis.llmauditTake(...args);
    return { allowed: Number(r[0]) === 1, retryAfterMs: Number(r[1]), remaining: r.slice(2).map(Number) };
  }

  async charge(spec: BucketSpec, units: number, _now: number): Promise<void> {
    this.ready();
    await this.redis.llmauditCharge(this.prefix + spec.key, spec.capacity, spec.perMs, units);
  }

  async spent(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    this.ready();
    const v = await this.redis.mget(...keys.map((k) => this.prefix + k));
    return v.map((x) => (x === null ? 0 : Number(x)));
  }

  async add(keys: readonly string[], usd: number, ttlMs: number): Promise<void> {
    if (keys.length === 0) return;
    this.ready();
    await this.redis.llmauditSpend(keys.length, ...keys.map((k) => this.prefix + k), usd, ttlMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.redis.disconnect();
    return Promise.resolve();
  }
}
