// The official clients, unchanged, through the proxy to an upstream replaying recorded wire
// frames : the bytes each client receives through the proxy equal
// what it receives directly, the entry holds the reconstructed response and usage, and the real
// verifier accepts the log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import type { Entry } from '../../sidecar/src/auditlog/index.ts';
import { loadWireFixture, startReplayUpstream, type ReplayUpstream, type WireFixture } from '../support/replay-upstream.ts';
import { allFiles, openRealLog, startStack, type RealLog, type Stack } from './harness.ts';

const API_KEY = 'sk-proj-SDKsecretABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const ANTHROPIC_KEY = 'sk-ant-api03-SDKsecretAnthropic0123456789abcdefghij';

let up: ReplayUpstream;
let log: RealLog;
let stack: Stack;
let ollamaBase: string;
let current: WireFixture;

beforeAll(async () => {
  up = await startReplayUpstream();
  up.script(() => current.script);
  // strict: every SDK must cope with the held final frame and chunked re-framing.
  log = await openRealLog('strict');
  stack = await startStack({
    config: {
      listeners: [{ port: 0 }, { port: 0, defaultEndpoint: 'ollama' }],
      endpoints: [
        { name: 'openai', upstream: `${up.url}/v1`, api: 'openai' },
        { name: 'anthropic', upstream: up.url, api: 'anthropic' },
        { name: 'ollama', upstream: up.url, api: 'ollama' },
        { name: 'azure', upstream: up.url, api: 'azure-openai' },
      ],
      log: { durability: 'strict' },
    },
    sink: log.log,
    chainDir: log.dir,
    deps: { origin: log.origin },
  });
  ollamaBase = `http://127.0.0.1:${stack.ports[1]}`;
});

afterAll(async () => {
  await stack?.close();
  await up?.close();
  await log?.close();
});

/** A fetch that keeps the raw response body bytes the client read. */
function recordingFetch(bodies: Buffer[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (res.body === null) return res;
    const chunks: Buffer[] = [];
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          chunks.push(Buffer.from(chunk));
          ctl.enqueue(chunk);
        },
        flush() {
          bodies.push(Buffer.concat(chunks));
        },
      }),
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** Runs `call` directly against the upstream and through the proxy; returns both results. */
async function both<T>(fixture: string, call: (direct: boolean, fetchFn: typeof fetch) => Promise<T>): Promise<{ direct: T; proxied: T; directBytes: Buffer; proxiedBytes: Buffer; entry: Entry }> {
  current = loadWireFixture(fixture);
  const before = log.log.size;
  const directBodies: Buffer[] = [];
  const proxiedBodies: Buffer[] = [];
  const direct = await call(true, recordingFetch(directBodies));
  const proxied = await call(false, recordingFetch(proxiedBodies));
  await log.log.flush();
  while (log.log.size <= before) await log.log.flush();
  const entries = await log.entries();
  const entry = entries[entries.length - 1] as Entry;
  expect(directBodies[0]?.equals(current.body)).toBe(true);
  return { direct, proxied, directBytes: directBodies[0] as Buffer, proxiedBytes: proxiedBodies[0] as Buffer, entry };
}

function openai(direct: boolean, fetchFn: typeof fetch): OpenAI {
  return new OpenAI({ apiKey: API_KEY, baseURL: direct ? `${up.url}/v1` : `${stack.base}/openai`, fetch: fetchFn, maxRetries: 0 });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('openai', () => {
  it('chat completions streaming with parallel tool calls', async () => {
    const r = await both('openai-chat-stream-parallel-tools', async (direct, f) => {
      const req = current.request as OpenAI.ChatCompletionCreateParamsStreaming;
      return collect(await openai(direct, f).chat.completions.create({ ...req, stream: true }));
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    const e = r.entry;
    expect(e.api).toBe('openai.chat');
    expect(e.response.streamed).toBe(true);
    expect(e.response.complete).toBe(true);
    expect(e.usage).toMatchObject({ inputTokens: 112, outputTokens: 58 });
    const msg = (e.response.body as { choices: Array<{ message: { tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> } }> }).choices[0]?.message;
    expect(msg?.tool_calls).toHaveLength(2);
    for (const c of msg?.tool_calls ?? []) expect(() => JSON.parse(c.function.arguments) as unknown).not.toThrow();
    expect(e.trace.spanType).toBe('TOOL_CALL');
    expect(e.trace.toolCalls.map((c) => c.id)).toEqual(msg?.tool_calls.map((c) => c.id));
    expect(e.request.headers['authorization']).toBe('Bearer sk-...2345');
  });

  it('Responses API streaming with a function call', async () => {
    const r = await both('openai-responses-stream-function-call', async (direct, f) => {
      const req = current.request as OpenAI.Responses.ResponseCreateParamsStreaming;
      return collect(await openai(direct, f).responses.create({ ...req, stream: true }));
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    const e = r.entry;
    expect(e.api).toBe('openai.responses');
    expect(e.usage.inputTokens).toBe(291);
    const completed = r.direct.find((ev) => ev.type === 'response.completed') as { response: { output: Array<{ type: string }>; usage: { output_tokens: number } } } | undefined;
    expect(e.usage.outputTokens).toBe(completed?.response.usage.output_tokens);
    expect((e.response.body as { output: Array<{ type: string }> }).output.map((o) => o.type)).toEqual(completed?.response.output.map((o) => o.type));
    expect(e.trace.spanType).toBe('TOOL_CALL');
  });

  it('embeddings', async () => {
    const r = await both('openai-embeddings', async (direct, f) => openai(direct, f).embeddings.create(current.request as OpenAI.EmbeddingCreateParams));
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    const e = r.entry;
    expect(e.api).toBe('openai.embeddings');
    expect(e.response.streamed).toBe(false);
    expect(e.response.body).toEqual(JSON.parse(current.body.toString()));
    expect(e.usage.inputTokens).toBe(r.direct.usage.prompt_tokens);
  });
});

describe('openai (Azure and Ollama /v1)', () => {
  it('AzureOpenAI: deployment path, prompt filter and content-filter chunks', async () => {
    const r = await both('azure-chat-stream-content-filter', async (direct, f) => {
      const client = new AzureOpenAI({ apiKey: API_KEY, endpoint: direct ? up.url : `${stack.base}/azure`, apiVersion: '2024-10-21', deployment: 'gpt-4o', fetch: f, maxRetries: 0 });
      const req = current.request as OpenAI.ChatCompletionCreateParamsStreaming;
      return collect(await client.chat.completions.create({ ...req, stream: true }));
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    expect(up.requests[up.requests.length - 1]?.url).toBe('/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    const e = r.entry;
    expect(e.api).toBe('openai.chat');
    expect(e.request.path).toBe('/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    expect(e.request.headers['api-key']).toBe('sk-...2345');
    const usageChunk = r.direct.find((c) => c.usage != null);
    expect(e.usage).toMatchObject({ inputTokens: usageChunk?.usage?.prompt_tokens, outputTokens: usageChunk?.usage?.completion_tokens });
    expect(e.response.complete).toBe(true);
  });

  it("Ollama's OpenAI-compatible /v1: parallel tool calls that all say index 0", async () => {
    const r = await both('ollama-v1-chat-stream-parallel-tools', async (direct, f) => {
      const client = new OpenAI({ apiKey: 'ollama', baseURL: direct ? `${up.url}/v1` : `${ollamaBase}/v1`, fetch: f, maxRetries: 0 });
      const req = current.request as OpenAI.ChatCompletionCreateParamsStreaming;
      return collect(await client.chat.completions.create({ ...req, stream: true }));
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    const e = r.entry;
    expect(e.api).toBe('openai.chat');
    expect(e.usage).toMatchObject({ inputTokens: 219, outputTokens: 58 });
    const ids = r.direct.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t) => t.id);
    expect(e.trace.toolCalls.map((c) => c.id)).toEqual(ids);
    expect(ids.length).toBeGreaterThan(1);
  });
});

describe('@anthropic-ai/sdk', () => {
  it('messages streaming with thinking and tool_use', async () => {
    const r = await both('anthropic-stream-thinking-tool-use', async (direct, f) => {
      const client = new Anthropic({ apiKey: ANTHROPIC_KEY, baseURL: direct ? up.url : `${stack.base}/anthropic`, fetch: f, maxRetries: 0 });
      const stream = client.messages.stream(current.request as Anthropic.MessageStreamParams);
      return stream.finalMessage();
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    const e = r.entry;
    expect(e.api).toBe('anthropic.messages');
    expect(e.usage).toMatchObject({ inputTokens: r.direct.usage.input_tokens, outputTokens: r.direct.usage.output_tokens });
    const body = e.response.body as { content: Array<{ type: string }>; stop_reason: string };
    expect(body.content.map((c) => c.type)).toEqual(r.direct.content.map((c) => c.type));
    expect(body.content).toEqual(JSON.parse(JSON.stringify(r.direct.content)));
    expect(body.stop_reason).toBe('tool_use');
    expect(e.trace.spanType).toBe('TOOL_CALL');
    expect(e.request.headers['x-api-key']).toBe('sk-...ghij');
  });
});

describe('@anthropic-ai/sdk, second turn', () => {
  it('records the tool results the request carries', async () => {
    const r = await both('anthropic-stream-text', async (direct, f) => {
      const client = new Anthropic({ apiKey: ANTHROPIC_KEY, baseURL: direct ? up.url : `${stack.base}/anthropic`, fetch: f, maxRetries: 0 });
      return client.messages.stream(current.request as Anthropic.MessageStreamParams).finalMessage();
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    const req = current.request as { messages: Array<{ content: unknown }> };
    const results = req.messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as Array<{ type: string; tool_use_id?: string }>) : [])).filter((b) => b.type === 'tool_result');
    expect(r.entry.trace.toolResults.map((t) => t.callId)).toEqual(results.map((b) => b.tool_use_id));
    expect(r.entry.trace.spanType).toBe('FINAL_RESPONSE');
    expect((r.entry.response.body as { content: unknown }).content).toEqual(JSON.parse(JSON.stringify(r.direct.content)));
  });
});

describe('ollama', () => {
  it('chat streaming with tools (port takeover: no prefix)', async () => {
    const r = await both('ollama-chat-stream-tools', async (direct, f) => {
      const client = new Ollama({ host: direct ? up.url : ollamaBase, fetch: f });
      const req = current.request as Parameters<Ollama['chat']>[0];
      return collect(await client.chat({ ...req, stream: true }));
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    const e = r.entry;
    expect(e.api).toBe('ollama.chat');
    const last = r.direct[r.direct.length - 1];
    expect(e.usage).toMatchObject({ inputTokens: last?.prompt_eval_count, outputTokens: last?.eval_count });
    const calls = r.direct.flatMap((c) => c.message.tool_calls ?? []);
    expect(e.trace.toolCalls.map((c) => c.name)).toEqual(calls.map((c) => c.function.name));
    expect(e.trace.spanType).toBe('TOOL_CALL');
  });

  it('generate streaming (through the /ollama prefix)', async () => {
    const r = await both('ollama-generate-stream', async (direct, f) => {
      const client = new Ollama({ host: direct ? up.url : `${stack.base}/ollama`, fetch: f });
      const req = current.request as Parameters<Ollama['generate']>[0];
      return collect(await client.generate({ ...req, stream: true }));
    });
    expect(r.proxiedBytes.equals(r.directBytes)).toBe(true);
    expect(r.proxied).toEqual(r.direct);
    const e = r.entry;
    expect(e.api).toBe('ollama.generate');
    const last = r.direct[r.direct.length - 1];
    expect(e.usage).toMatchObject({ inputTokens: last?.prompt_eval_count, outputTokens: last?.eval_count });
    expect((e.response.body as { response: string }).response).toBe(r.direct.map((c) => c.response).join(''));
    expect(e.trace.spanType).toBe('FINAL_RESPONSE');
  });
});

describe('the log', () => {
  it('verifies, and no secret appears in any file on disk', async () => {
    await log.log.flush();
    const report = await log.verify();
    expect(report.failure).toBeNull();
    expect(report.ok).toBe(true);
    expect(report.entries).toBe(log.log.size);
    expect(report.entries).toBeGreaterThanOrEqual(9);
    expect(stack.logLines.join('')).not.toContain('SDKsecret');
    const files = await allFiles(log.dir);
    expect(files.some((f) => f.endsWith('.jsonl'))).toBe(true);
    for (const f of files) {
      const text = (await import('node:fs')).readFileSync(f).toString('latin1');
      expect(text).not.toContain('SDKsecret');
    }
  });
});
