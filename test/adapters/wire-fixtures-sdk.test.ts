// The official SDKs read our recorded fixtures as real provider streams, and what they assemble
// from them equals what our adapters reconstruct: the fixtures are realistic and the adapters agree
// with the providers' own client-side accumulation.
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createAdapter, type NormalizedExchange } from '../../sidecar/src/adapters/index.ts';
import { wireFixture } from './wire-fixtures.ts';

type FixtureFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** A fetch that answers every call with the fixture's bytes, like a provider would. */
function fixtureFetch(name: string): FixtureFetch {
  const f = wireFixture(name);
  return async () => new Response(new Uint8Array(f.responseBody), { status: f.status, headers: { 'content-type': f.contentType } });
}

function adapt(name: string): NormalizedExchange & { reconstructed: Record<string, unknown> } {
  const f = wireFixture(name);
  const a = createAdapter(f.api, f.requestBody, { provider: f.provider, contentType: f.contentType, status: f.status });
  a.push(f.responseBody);
  return a.finish({ complete: true }) as NormalizedExchange & { reconstructed: Record<string, unknown> };
}

function request(name: string): Record<string, unknown> {
  return JSON.parse(wireFixture(name).requestBody.toString('utf8')) as Record<string, unknown>;
}

/** The SDK's parse helpers add `parsed` / `parsed_arguments`, which are not on the wire. */
function withoutSdkFields(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutSdkFields);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'parsed' && k !== 'parsed_arguments').map(([k, x]) => [k, withoutSdkFields(x)]));
}

const openai = (name: string) => new OpenAI({ apiKey: 'sk-test', baseURL: 'http://upstream.invalid/v1', fetch: fixtureFetch(name), maxRetries: 0 });

describe('fixtures read by the official SDKs', () => {
  for (const name of ['openai-chat-stream-parallel-tools', 'openai-chat-stream-final', 'azure-chat-stream-content-filter']) {
    it(`openai chat.completions.stream: ${name}`, async () => {
      const final = await openai(name).chat.completions.stream(request(name) as unknown as OpenAI.ChatCompletionCreateParamsStreaming).finalChatCompletion();
      const ours = adapt(name).reconstructed as unknown as OpenAI.ChatCompletion;
      expect(ours.choices[0]?.message.content ?? null).toEqual(final.choices[0]?.message.content ?? null);
      expect(ours.choices[0]?.message.tool_calls ?? []).toEqual(final.choices[0]?.message.tool_calls ?? []);
      expect(ours.choices[0]?.finish_reason).toEqual(final.choices[0]?.finish_reason);
      expect(ours.usage).toEqual(final.usage);
    });
  }

  for (const name of ['openai-responses-stream-function-call', 'openai-responses-stream-text']) {
    it(`openai responses.stream: ${name}`, async () => {
      const final = await openai(name).responses.stream(request(name) as unknown as OpenAI.Responses.ResponseCreateParamsStreaming).finalResponse();
      const ours = adapt(name);
      expect((ours.reconstructed as unknown as OpenAI.Responses.Response).output).toEqual(withoutSdkFields(final.output));
    });
  }

  it('openai embeddings.create', async () => {
    const res = await openai('openai-embeddings').embeddings.create(request('openai-embeddings') as unknown as OpenAI.EmbeddingCreateParams);
    expect(res.usage.prompt_tokens).toBe(adapt('openai-embeddings').usage.inputTokens);
  });

  it('openai chat.completions.create on Azure async-filter annotation chunks (no delta)', async () => {
    // The SDK's .stream() method cannot read delta-less annotation chunks; raw iteration can.
    const name = 'azure-chat-stream-filtered';
    let text = '';
    let finish: string | null = null;
    for await (const chunk of await openai(name).chat.completions.create(request(name) as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(adapt(name)).toMatchObject({ outputText: text, finishReasons: [finish] });
  });

  it('openai on Ollama /v1: the SDK sees two calls with distinct ids, as do we', async () => {
    const name = 'ollama-v1-chat-stream-parallel-tools';
    const ids: string[] = [];
    for await (const chunk of await openai(name).chat.completions.create(request(name) as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) if (tc.id !== undefined) ids.push(tc.id);
    }
    expect(adapt(name).toolCalls.map((c) => c.id)).toEqual(ids);
  });

  for (const name of ['anthropic-stream-thinking-tool-use', 'anthropic-stream-text']) {
    it(`anthropic messages.stream: ${name}`, async () => {
      const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: 'http://upstream.invalid', fetch: fixtureFetch(name), maxRetries: 0 });
      const final = await client.messages.stream(request(name) as unknown as Anthropic.MessageCreateParamsStreaming).finalMessage();
      const ours = adapt(name).reconstructed as unknown as Anthropic.Message;
      expect(ours.content).toEqual(final.content);
      expect(ours.stop_reason).toEqual(final.stop_reason);
      expect(ours.usage.output_tokens).toEqual(final.usage.output_tokens);
      expect(ours.usage.input_tokens).toEqual(final.usage.input_tokens);
    });
  }

  it('anthropic messages.stream rejects on the mid-stream error event; we record it', async () => {
    const name = 'anthropic-stream-error';
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: 'http://upstream.invalid', fetch: fixtureFetch(name), maxRetries: 0 });
    await expect(client.messages.stream(request(name) as unknown as Anthropic.MessageCreateParamsStreaming).finalMessage()).rejects.toThrow(/Overloaded/);
    expect(adapt(name).apiError).toEqual({ type: 'overloaded_error', message: 'Overloaded' });
  });

  for (const name of ['ollama-chat-stream-tools', 'ollama-chat-stream-final']) {
    it(`ollama chat stream: ${name}`, async () => {
      const client = new Ollama({ host: 'http://upstream.invalid:11434', fetch: fixtureFetch(name) });
      let content = '';
      let thinking = '';
      const calls: unknown[] = [];
      let last: unknown = null;
      for await (const part of await client.chat({ ...(request(name) as unknown as Parameters<Ollama['chat']>[0]), stream: true })) {
        content += part.message.content;
        thinking += part.message.thinking ?? '';
        calls.push(...(part.message.tool_calls ?? []));
        last = part;
      }
      const ours = adapt(name).reconstructed as { message: { content: string; thinking?: string; tool_calls?: unknown[] }; eval_count: number };
      expect(ours.message.content).toBe(content);
      expect(ours.message.thinking ?? '').toBe(thinking);
      expect(ours.message.tool_calls ?? []).toEqual(calls);
      expect(ours.eval_count).toBe((last as { eval_count: number }).eval_count);
    });
  }

  it('ollama generate stream', async () => {
    const name = 'ollama-generate-stream';
    const client = new Ollama({ host: 'http://upstream.invalid:11434', fetch: fixtureFetch(name) });
    let text = '';
    for await (const part of await client.generate({ ...(request(name) as unknown as Parameters<Ollama['generate']>[0]), stream: true })) text += part.response;
    expect(adapt(name).outputText).toBe(text);
  });
});
