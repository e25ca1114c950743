import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { decide, inspectRequest, inspectResponse, type LimitFacts, type RequestFacts } from './decide.ts';
import { compilePolicy } from './policy.ts';
import { GovernanceSchema } from './schema.ts';
import { redactionToken } from './redact.ts';
import { requestTextFields } from './text-fields.ts';

const KEY = Buffer.alloc(32, 7);
const policy = (g: Record<string, unknown>, mode: 'full' | 'redacted' = 'full') => compilePolicy('p', Value.Default(GovernanceSchema, structuredClone(g)) as never, mode);
const facts = (body: unknown, extra: Partial<RequestFacts> = {}): RequestFacts => ({ api: 'openai.chat', endpoint: 'openai', external: true, body, bodyBytes: 100, headers: {}, now: Date.UTC(2026, 0, 1, 12), ...extra });
const NO_LIMITS: LimitFacts = { rateLimit: null, unavailable: false, budgets: [] };
const chat = (content: string) => ({ model: 'gpt-4o', messages: [{ role: 'user', content }] });

describe('text fields', () => {
  it('walks each family where its text lives, with JSON pointers', () => {
    expect(requestTextFields('anthropic.messages', { system: [{ type: 'text', text: 's' }], messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'r' }] }] }).map((f) => f.path)).toEqual(['/system/0/text', '/messages/0/content/0/content']);
    expect(requestTextFields('openai.responses', { instructions: 'i', input: [{ type: 'function_call_output', output: 'o' }] }).map((f) => f.path)).toEqual(['/instructions', '/input/0/output']);
    expect(requestTextFields('ollama.generate', { system: 's', prompt: 'p' }).map((f) => f.path)).toEqual(['/system', '/prompt']);
    expect(requestTextFields('opaque', { a: { 'b/c': 'x' } }).map((f) => f.path)).toEqual(['/a/b~1c']);
  });
});

describe('decide', () => {
  it('is a pure function: the same request, policy and state give the same decision and tokens', () => {
    const p = policy({ detectors: { email: { action: 'redact-upstream' } } });
    const a = decide(p, facts(chat('mail a@b.io')), inspectRequest(facts(chat('mail a@b.io')), p, KEY), NO_LIMITS);
    const b = decide(p, facts(chat('mail a@b.io')), inspectRequest(facts(chat('mail a@b.io')), p, KEY), NO_LIMITS);
    expect(a).toEqual(b);
    const token = redactionToken(KEY, 'email', 'EMAIL', 'a@b.io');
    expect(a.forwardBody).toEqual(chat(`mail ${token}`));
    expect(a.record).toMatchObject({ decision: 'redact', detections: [{ detector: 'email', path: '/request/body/messages/0/content', count: 1, action: 'redact-upstream' }] });
  });

  it('sums the risk rules and blocks at the threshold; monitor mode records the block and blocks nothing', () => {
    const g = { detectors: { email: { action: 'flag' } }, risk: { blockAt: 100, headers: [{ name: 'x-team', equals: 'red', weight: 5 }] } };
    const f = facts(chat('a@b.io'), { headers: { 'x-team': 'red' } });
    const enforce = policy(g);
    const ins = inspectRequest(f, enforce, KEY);
    expect(ins.risk).toBe(70 + 50 + 5); // personal data + external endpoint + header
    const d = decide(enforce, f, ins, NO_LIMITS);
    expect(d.record).toMatchObject({ decision: 'block', reasons: ['risk', 'detector:email'], risk: 125 });
    expect(d.block).toMatchObject({ status: 403, code: 'LLMAUDIT_E_POLICY_BLOCKED', reason: 'risk' });
    const monitor = policy({ ...g, mode: 'monitor' });
    const m = decide(monitor, f, inspectRequest(f, monitor, KEY), NO_LIMITS);
    expect(m.record).toMatchObject({ decision: 'block', mode: 'monitor' });
    expect(m.block).toBeNull();
  });

  it('turns rate limits, budgets and an unreachable store into 429s and 503 per policy', () => {
    const p = policy({ budgets: [{ period: 'day', usd: 1 }], rateLimits: { redis: { url: 'redis://x', onUnavailable: 'block' } } });
    const f = facts(chat('hi'));
    const ins = inspectRequest(f, p, KEY);
    const spent = decide(p, f, ins, { ...NO_LIMITS, budgets: [{ period: 'day', usd: 1, spent: 1.2, action: 'block', retryAfterS: 3600 }] });
    expect(spent.block).toMatchObject({ status: 429, code: 'LLMAUDIT_E_BUDGET_EXCEEDED', retryAfterS: 3600 });
    const limited = decide(p, f, ins, { ...NO_LIMITS, rateLimit: { key: 'k', remaining: 0, allowed: false, retryAfterMs: 1500, by: 'apiKey' } });
    expect(limited.block).toMatchObject({ status: 429, code: 'LLMAUDIT_E_RATE_LIMITED', retryAfterS: 2, reason: 'rate_limit:apiKey' });
    expect(decide(p, f, ins, { ...NO_LIMITS, unavailable: true }).block).toMatchObject({ status: 503, code: 'LLMAUDIT_E_RATE_LIMIT_UNAVAILABLE' });
  });

  it('capture.mode redacted redacts every detector in the stored copy, requests and responses, and forwards unchanged', () => {
    const p = policy({}, 'redacted');
    const f = facts(chat('card 4111 1111 1111 1111'));
    const d = decide(p, f, inspectRequest(f, p, KEY), NO_LIMITS);
    expect(d.forwardBody).toBeUndefined();
    expect([...d.logReplacements.values()]).toEqual([`card ${redactionToken(KEY, 'card', 'CARD', '4111 1111 1111 1111')}`]);
    const r = inspectResponse('openai.chat', { choices: [{ message: { content: 'reach me at 10.0.0.7' } }] }, p, KEY);
    expect(r.detections).toEqual([{ detector: 'ipv4', path: '/response/body/choices/0/message/content', count: 1, action: 'redact-in-log' }]);
  });
});
