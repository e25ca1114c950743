// The engine's state: local buckets survive a config reload; with Redis, two replicas share one
// limit and one budget through a real redis-server (started here on a free port, in a temp dir),
// and when Redis goes away mid-test the policy's onUnavailable decides (allow by default, counted).
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSidecarConfig, type SidecarConfig } from '../config/index.ts';
import { apiKeyFingerprint, createGovernance, type Governance } from './engine.ts';
import type { RequestFacts } from './decide.ts';
import { freePort, startRedisServer } from '../../../test/support/redis-server.ts';

const KEY = Buffer.alloc(32, 1);

function config(governance: Record<string, unknown>, policy = 'team-a'): SidecarConfig {
  return parseSidecarConfig({ policy, listeners: [{ port: 0 }], endpoints: [{ name: 'openai', upstream: 'http://127.0.0.1:1', api: 'openai' }], governance });
}

const facts = (): RequestFacts => ({ api: 'openai.chat', endpoint: 'openai', external: false, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, bodyBytes: 80, headers: { authorization: 'Bearer sk-client' }, now: Date.now() });

describe('local state across reloads', () => {
  it('a reloaded config keeps the buckets: a spent limit stays spent', async () => {
    const gov = createGovernance({ key: KEY });
    const g = { rateLimits: { rules: [{ by: 'apiKey', requestsPerMinute: 1 }] } };
    expect((await gov.admit(config(g), facts())).decision.block).toBeNull();
    const after = await gov.admit(config(g), facts()); // a new config object, as a reload makes
    expect(after.decision.block).toMatchObject({ code: 'LLMAUDIT_E_RATE_LIMITED' });
    expect(after.decision.record.rateLimit?.key).toMatch(/^rl:apiKey:requests:[0-9a-f]{16}$/);
    expect(after.decision.record.rateLimit?.key).not.toContain('sk-client');
    await gov.close();
  });
});

describe('Redis: one limit shared by every replica', () => {
  let dir: string;
  let port: number;
  let server: ChildProcess | null = null;
  const engines: Governance[] = [];
  const failures: unknown[] = [];

  const startRedis = async () => {
    server = await startRedisServer(port, dir);
  };
  const engine = () => {
    const e = createGovernance({ key: KEY, hooks: { storeFailure: (err) => failures.push(err) } });
    engines.push(e);
    return e;
  };
  const redisGov = (extra: Record<string, unknown> = {}) => ({ rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 3, tokensPerMinute: 2000 }], redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: `t${Date.now()}:`, timeoutMs: 500, ...extra } }, budgets: [{ period: 'day', usd: 0.001 }] });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmaudit-redis-'));
    port = await freePort();
    await startRedis();
  });
  afterAll(async () => {
    for (const e of engines) await e.close();
    server?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('two replicas admit 3 of 6 requests against one 3/min limit', async () => {
    const cfg = config(redisGov());
    const [a, b] = [engine(), engine()];
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await a.admit(cfg, facts()), await b.admit(cfg, facts()));
    expect(results.map((r) => r.decision.block?.code ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'LLMAUDIT_E_RATE_LIMITED', 'LLMAUDIT_E_RATE_LIMITED', 'LLMAUDIT_E_RATE_LIMITED']);
    expect(results[2]?.decision.record.rateLimit).toEqual({ key: 'rl:workload:requests:team-a', remaining: 0 });
    expect(results[3]?.decision.block?.retryAfterS).toBeGreaterThanOrEqual(1);
  });

  it('tokens and cost charged by one replica limit the other', async () => {
    const cfg = config(redisGov());
    const [a, b] = [engine(), engine()];
    const first = await a.admit(cfg, facts());
    // 3000 tokens on gpt-4o-mini: over the 2000 tokens a minute, and 0.0012 USD over the 0.001 budget.
    const cost = await a.settle(first, 'openai.chat', 'gpt-4o-mini', { inputTokens: 2000, outputTokens: 1500 });
    expect(cost).toBeCloseTo(0.0012, 9);
    const next = await b.admit(cfg, facts());
    expect(next.decision.record.reasons).toEqual(expect.arrayContaining(['budget:day', 'rate_limit:workload']));
    expect(next.decision.block?.code).toBe('LLMAUDIT_E_BUDGET_EXCEEDED');
  });

  it('Redis going away: fail-open admits and counts, fail-closed answers 503; back again, limits apply', async () => {
    const open = config(redisGov());
    const closed = config(redisGov({ onUnavailable: 'block' }));
    const e = engine();
    expect((await e.admit(open, facts())).decision.block).toBeNull();
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server?.kill('SIGKILL');
    await exited;
    const before = failures.length;
    const r = await e.admit(open, facts());
    expect(r.decision.block).toBeNull();
    expect(r.decision.record.reasons).toContain('rate_limit_unavailable');
    expect(r.decision.record.rateLimit).toBeUndefined();
    expect(failures.length).toBeGreaterThan(before);
    const refused = await e.admit(closed, facts());
    expect(refused.decision.block).toMatchObject({ status: 503, code: 'LLMAUDIT_E_RATE_LIMIT_UNAVAILABLE' });
    await startRedis();
    // ioredis reconnects on its own; the first decision after it has the store again.
    let back = await e.admit(open, facts());
    for (let i = 0; i < 50 && back.decision.record.reasons.includes('rate_limit_unavailable'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100)); // reconnect backoff of the client, nothing to await
      back = await e.admit(open, facts());
    }
    expect(back.decision.record.reasons).not.toContain('rate_limit_unavailable');
    expect(back.decision.record.rateLimit?.key).toBe('rl:workload:requests:team-a');
  });
});

describe('a store that cannot be set up', () => {
  it('is as unreachable: onUnavailable applies and the failure is counted', async () => {
    const failures: unknown[] = [];
    const gov = createGovernance({ key: KEY, hooks: { storeFailure: (err) => failures.push(err) } });
    const redis = { url: 'redis://127.0.0.1:1', passwordFile: '/nonexistent/llmaudit/redis-password' };
    const open = await gov.admit(config({ rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 1 }], redis } }), facts());
    expect(open.decision.block).toBeNull();
    expect(open.decision.record.reasons).toEqual(['rate_limit_unavailable']);
    const closed = await gov.admit(config({ rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 1 }], redis: { ...redis, onUnavailable: 'block' } } }), facts());
    expect(closed.decision.block?.code).toBe('LLMAUDIT_E_RATE_LIMIT_UNAVAILABLE');
    expect(failures.length).toBe(2);
    await gov.close();
  });
});

describe('API key fingerprints', () => {
  it('are stable per credential and governance key, differ between credentials and keys, and never hold the credential', () => {
    const other = Buffer.alloc(32, 2);
    const a = apiKeyFingerprint(KEY, { authorization: 'Bearer sk-client-a' });
    expect(apiKeyFingerprint(KEY, { authorization: 'Bearer sk-client-a' })).toBe(a);
    expect(apiKeyFingerprint(KEY, { 'x-api-key': 'sk-client-a' })).toBe(a);
    expect(apiKeyFingerprint(KEY, { authorization: 'Bearer sk-client-b' })).not.toBe(a);
    expect(apiKeyFingerprint(other, { authorization: 'Bearer sk-client-a' })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(apiKeyFingerprint(KEY, {})).toBe('none');
  });
});
