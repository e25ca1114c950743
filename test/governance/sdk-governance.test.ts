// Governance in the data path, seen through the official clients: a refused request never reaches
// the upstream and each SDK raises its own exception for the API family's error shape; redaction
// rewrites what is forwarded or what is stored; every entry records the decision; the real
// verifier accepts the log.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { Registry } from 'prom-client';
import type { Entry } from '../../sidecar/src/auditlog/index.ts';
import { createGovernanceMetrics } from '../../sidecar/src/governance/exchange-hook.ts';
import { parseSidecarConfig } from '../../sidecar/src/config/index.ts';
import { allFiles, openRealLog, startStack, type RealLog, type Stack } from '../proxy/harness.ts';

interface Upstream {
  url: string;
  bodies: Array<{ path: string; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

const CHAT = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2024-07-18', choices: [{ index: 0, message: { role: 'assistant', content: 'Write to bob@example.org' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } };
const MESSAGE = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-20241022', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 10, output_tokens: 2 } };
const OLLAMA = { model: 'llama3.2', created_at: '2024-01-01T00:00:00Z', message: { role: 'assistant', content: 'ok' }, done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 1 };

async function startUpstream(): Promise<Upstream> {
  const bodies: Upstream['bodies'] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      bodies.push({ path, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> });
      const answer = path.endsWith('/messages') ? MESSAGE : path.endsWith('/api/chat') ? OLLAMA : CHAT;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

async function setup(governance: Record<string, unknown>, capture: Record<string, unknown> = {}): Promise<{ up: Upstream; log: RealLog; stack: Stack; registry: Registry; entries(): Promise<Entry[]> }> {
  const up = await startUpstream();
  cleanups.push(() => up.close());
  const log = await openRealLog('strict');
  cleanups.push(() => log.close());
  const registry = new Registry();
  const stack = await startStack({
    config: {
      policy: 'team-a',
      endpoints: [
        { name: 'openai', upstream: `${up.url}/v1`, api: 'openai' },
        { name: 'anthropic', upstream: up.url, api: 'anthropic' },
        { name: 'ollama', upstream: up.url, api: 'ollama' },
        { name: 'azure', upstream: up.url, api: 'azure-openai' },
      ],
      log: { durability: 'strict' },
      capture,
      governance,
    },
    sink: log.log,
    chainDir: log.dir,
    deps: { origin: log.origin, governanceMetrics: createGovernanceMetrics(registry) },
  });
  cleanups.push(() => stack.close());
  return { up, log, stack, registry, entries: () => log.entries() };
}

const openai = (s: Stack) => new OpenAI({ apiKey: 'sk-proj-test', baseURL: `${s.base}/openai`, maxRetries: 0 });
const anthropic = (s: Stack) => new Anthropic({ apiKey: 'sk-ant-test', baseURL: `${s.base}/anthropic`, maxRetries: 0 });
const ollama = (s: Stack) => new Ollama({ host: `${s.base}/ollama` });

describe('blocked requests get the API family error through the official SDKs', () => {
  it('OpenAI: a denied model is PermissionDeniedError 403 and never reaches the upstream', async () => {
    const { up, stack, entries, log, registry } = await setup({ models: { deny: ['gpt-*'] } });
    const err = await openai(stack)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const e = err as InstanceType<typeof OpenAI.PermissionDeniedError>;
    expect(e.status).toBe(403);
    expect(e.code).toBe('LLMAUDIT_E_POLICY_BLOCKED');
    expect(e.message).toContain('model gpt-4o denied by gpt-*');
    expect(up.bodies).toHaveLength(0);
    const [entry] = await entries();
    expect(entry?.governance).toEqual({ costUsd: null, decision: 'block', detections: [], mode: 'enforce', reasons: ['model_denied'], risk: 100 });
    expect(entry?.policy).toMatchObject({ decision: 'block', reasons: ['model_denied'], risk: 100 });
    expect(entry?.response.status).toBe(403);
    expect(entry?.response.error?.code).toBe('LLMAUDIT_E_POLICY_BLOCKED');
    expect(entry?.trace.spanType).toBe('ERROR');
    expect((await log.verify()).ok).toBe(true);
    expect(await registry.getSingleMetricAsString('llmaudit_governance_decisions_total')).toContain('llmaudit_governance_decisions_total{decision="block",reason="model_denied"} 1');
  });

  it('OpenAI: a rate limit of 1 request a minute lets 1 of 3 through; the others are RateLimitError 429 with retry-after', async () => {
    const { up, stack, entries } = await setup({ rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 1 }] } });
    const client = openai(stack);
    const results: unknown[] = [];
    for (let i = 0; i < 3; i++) results.push(await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e));
    expect((results[0] as { id: string }).id).toBe('chatcmpl-1');
    for (const r of results.slice(1)) {
      expect(r).toBeInstanceOf(OpenAI.RateLimitError);
      const e = r as InstanceType<typeof OpenAI.RateLimitError>;
      expect(e.code).toBe('LLMAUDIT_E_RATE_LIMITED');
      expect(Number(e.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(e.headers?.get('retry-after'))).toBeLessThanOrEqual(60);
    }
    expect(up.bodies).toHaveLength(1);
    const es = await entries();
    expect(es.map((x) => x.governance)).toMatchObject([
      { decision: 'allow', rateLimit: { key: 'rl:workload:requests:team-a', remaining: 0 } },
      { decision: 'block', reasons: ['rate_limit:workload'], rateLimit: { key: 'rl:workload:requests:team-a', remaining: 0 } },
      { decision: 'block', reasons: ['rate_limit:workload'] },
    ]);
  });

  it('Anthropic: a blocked card number is PermissionDeniedError with the permission_error type', async () => {
    const { up, stack, entries } = await setup({ detectors: { card: { action: 'block' } } });
    const err = await anthropic(stack)
      .messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'my card is 4111 1111 1111 1111' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    const e = err as InstanceType<typeof Anthropic.PermissionDeniedError>;
    expect(e.status).toBe(403);
    expect((e.error as { error: { type: string; message: string } }).error.type).toBe('permission_error');
    expect(e.message).toContain('card found in /request/body/messages/0/content');
    expect(up.bodies).toHaveLength(0);
    const [entry] = await entries();
    expect(entry?.governance).toMatchObject({ decision: 'block', reasons: ['detector:card'], detections: [{ detector: 'card', path: '/request/body/messages/0/content', count: 1, action: 'block' }] });
    // A blocked value is not stored either.
    expect(JSON.stringify(entry?.request.body)).not.toContain('4111 1111 1111 1111');
    expect(JSON.stringify(entry?.request.body)).toMatch(/\[CARD:[0-9a-f]{8}\]/);
  });

  it('Ollama: a denied model is a ResponseError with status 403 and the plain error string', async () => {
    const { up, stack } = await setup({ models: { allow: ['llama3.1*'] } });
    const err = await ollama(stack)
      .chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ResponseError', status_code: 403 });
    expect((err as Error).message).toContain('model llama3.2 not in the allowed models');
    expect(up.bodies).toHaveLength(0);
  });
});

describe('rate limits in every family, streaming included', () => {
  it('Anthropic gets RateLimitError (rate_limit_error), Ollama a 429 ResponseError, a streaming OpenAI call RateLimitError before any chunk', async () => {
    const { up, stack } = await setup({ rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 1 }] } });
    await anthropic(stack).messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const a = await anthropic(stack)
      .messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(a).toBeInstanceOf(Anthropic.RateLimitError);
    expect((a as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    const o = await ollama(stack)
      .chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(o).toMatchObject({ name: 'ResponseError', status_code: 429 });
    const s = await openai(stack)
      .chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(s).toBeInstanceOf(OpenAI.RateLimitError);
    expect(up.bodies).toHaveLength(1);
  });
});

describe('redaction, caps, monitor mode, cost', () => {
  it('redact-upstream forwards keyed tokens; redact-in-log forwards the value and stores the token; neither value is on disk', async () => {
    const { up, stack, entries, log } = await setup({ detectors: { email: { action: 'redact-upstream' }, card: { action: 'redact-in-log' } } });
    const content = 'alice@example.com, card 4111 1111 1111 1111';
    await openai(stack).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
    const sent = (up.bodies[0]?.body['messages'] as Array<{ content: string }>)[0]?.content ?? '';
    expect(sent).toMatch(/^\[EMAIL:[0-9a-f]{8}\], card 4111 1111 1111 1111$/);
    const [entry] = await entries();
    const stored = (entry?.request.body as { messages: Array<{ content: string }> }).messages[0]?.content ?? '';
    expect(stored).toMatch(/^\[EMAIL:[0-9a-f]{8}\], card \[CARD:[0-9a-f]{8}\]$/);
    expect(stored.slice(0, 16)).toBe(sent.slice(0, 16)); // the same token upstream and in the log
    expect(entry?.governance).toMatchObject({ decision: 'redact', detections: [{ detector: 'email', action: 'redact-upstream' }, { detector: 'card', action: 'redact-in-log' }] });
    for (const f of await allFiles(log.dir)) {
      const bytes = await readFile(f, 'utf8');
      expect(bytes).not.toContain('alice@example.com');
      expect(bytes).not.toContain('4111 1111 1111 1111');
    }
    expect((await log.verify()).ok).toBe(true);
  });

  // capture.mode redacted used to store exactly what full stores: the card and address landed in clear.
  it('capture.mode redacted masks every detector in the stored request and response, and forwards unchanged', async () => {
    const { up, stack, entries } = await setup({}, { mode: 'redacted' });
    await openai(stack).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'alice@example.com, card 4111 1111 1111 1111' }] });
    expect((up.bodies[0]?.body['messages'] as Array<{ content: string }>)[0]?.content).toBe('alice@example.com, card 4111 1111 1111 1111');
    const [entry] = await entries();
    const text = JSON.stringify(entry?.request.body) + JSON.stringify(entry?.response.body);
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('bob@example.org');
    expect(text).not.toContain('4111');
    expect(entry?.policy.capture).toBe('redacted');
    expect(entry?.governance).toMatchObject({ decision: 'redact' });
  });

  it('clamps max_tokens to the ceiling in the forwarded request', async () => {
    const { up, stack, entries } = await setup({ caps: { maxOutputTokens: 100, outputTokens: 'clamp' } });
    await openai(stack).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5000, messages: [{ role: 'user', content: 'hi' }] });
    expect(up.bodies[0]?.body['max_tokens']).toBe(100);
    const [entry] = await entries();
    expect(entry?.governance).toMatchObject({ decision: 'flag', reasons: ['cap:output_tokens_clamped'] });
    expect((entry?.request.body as { max_tokens: number }).max_tokens).toBe(5000); // the log keeps what the client sent
  });

  it('monitor mode decides block, records it, and forwards', async () => {
    const { up, stack, entries } = await setup({ mode: 'monitor', models: { deny: ['gpt-*'] } });
    const r = await openai(stack).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.id).toBe('chatcmpl-1');
    expect(up.bodies).toHaveLength(1);
    const [entry] = await entries();
    expect(entry?.governance).toMatchObject({ decision: 'block', mode: 'monitor', reasons: ['model_denied'] });
    expect(entry?.response.status).toBe(200);
  });

  it('prices the exchange from its usage: usage.costUsd, governance.costUsd and llmaudit_cost_usd_total', async () => {
    const { stack, entries, registry } = await setup({});
    await openai(stack).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const [entry] = await entries();
    // gpt-4o-mini: 1000 × 0.15 + 500 × 0.60 per 1M tokens.
    expect(entry?.usage.costUsd).toBeCloseTo(0.00045, 9);
    expect(entry?.governance).toMatchObject({ costUsd: 0.00045, decision: 'allow' });
    expect(await registry.getSingleMetricAsString('llmaudit_cost_usd_total')).toContain('llmaudit_cost_usd_total{model="gpt-4o-mini",endpoint="openai"} 0.00045');
  });
});

describe('Azure deployments and hot reload', () => {
  it('resolves the Azure deployment in the path through aliases and refuses the denied model', async () => {
    const { up, stack, entries } = await setup({ models: { deny: ['gpt-4o'], aliases: { 'prod-chat': 'gpt-4o' } } });
    const client = new AzureOpenAI({ apiKey: 'k', endpoint: `${stack.base}/azure`, apiVersion: '2024-10-21', deployment: 'prod-chat', maxRetries: 0 });
    const err = await client.chat.completions.create({ model: '', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as Error).message).toContain('model gpt-4o denied by gpt-4o');
    expect(up.bodies).toHaveLength(0);
    expect((await entries())[0]?.governance).toMatchObject({ decision: 'block', reasons: ['model_denied'] });
  });

  it('a reload applies new rules to the next request and keeps the rate-limit buckets', async () => {
    const { up, stack, entries } = await setup({ rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 2 }] } });
    const client = openai(stack);
    const ask = (model: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(await ask('gpt-4o-mini')).toMatchObject({ id: 'chatcmpl-1' });
    const raw = { ...stack.config, governance: { ...stack.config.governance, models: { ...stack.config.governance.models, deny: ['o1*'] } } };
    stack.proxy.reload(parseSidecarConfig(JSON.parse(JSON.stringify(raw)) as unknown));
    expect(await ask('o1-mini')).toBeInstanceOf(OpenAI.PermissionDeniedError); // the new rule; takes no bucket
    expect(await ask('gpt-4o-mini')).toMatchObject({ id: 'chatcmpl-1' });
    expect(await ask('gpt-4o-mini')).toBeInstanceOf(OpenAI.RateLimitError); // 2 a minute, across the reload
    expect(up.bodies).toHaveLength(2);
    expect((await entries()).map((e) => (e.governance as { reasons: string[] }).reasons)).toEqual([[], ['model_denied'], [], ['rate_limit:workload']]);
  });
});
