// Every recorded wire fixture through its adapter, as the proxy feeds it (raw bytes + content-type).
import { describe, expect, it } from 'vitest';
import { createAdapter, detectApi, type NormalizedExchange } from '../../sidecar/src/adapters/index.ts';
import { wireFixture, wireFixtures } from './wire-fixtures.ts';

function run(name: string, chunks?: (body: Buffer) => Uint8Array[], complete = true): NormalizedExchange {
  const f = wireFixture(name);
  const det = detectApi({ method: f.method, path: f.path, endpointApi: f.provider === 'ollama' ? 'ollama' : 'auto', contentType: 'application/json' });
  const a = createAdapter(det.api, f.requestBody, { provider: det.provider, contentType: f.contentType, status: f.status, ...(det.deployment === undefined ? {} : { defaultModel: det.deployment }) });
  for (const c of chunks?.(f.responseBody) ?? [f.responseBody]) a.push(c);
  return a.finish({ complete });
}

type Expect = Partial<Pick<NormalizedExchange, 'api' | 'provider' | 'requestModel' | 'responseModel' | 'outputText' | 'reasoningText' | 'finishReasons' | 'usage' | 'toolCalls' | 'toolResults' | 'complete' | 'apiError' | 'chunks'>> & {
  messages?: Partial<NormalizedExchange['messages']>;
};

const weather = (city: string) => ({ name: 'get_weather', arguments: `{"location": "${city}", "unit": "celsius"}` });
const ollamaWeather = (loc: string) => ({ name: 'get_current_weather', arguments: `{"format":"celsius","location":"${loc}"}` });

const EXPECTED: Record<string, Expect> = {
  'openai-chat-stream-parallel-tools': {
    api: 'openai.chat',
    provider: 'openai',
    toolCalls: [{ id: 'call_pX4e0w1bTqVn7Lr3sKd9YcA2', ...weather('Paris') }, { id: 'call_9hQm2ZsR5uWx8Ty1Np6LfGb0', ...weather('Tokyo') }],
    outputText: null,
    finishReasons: ['tool_calls'],
    usage: { inputTokens: 112, outputTokens: 58, cacheReadTokens: 64, reasoningTokens: 0 },
    complete: true,
    chunks: 13,
    messages: { system: 'You are a weather assistant.', firstUser: 'What is the weather in Paris and in Tokyo?', hasHistory: false },
  },
  'openai-chat-stream-final': {
    outputText: 'Paris is 18 °C and cloudy; Tokyo is 27 °C and sunny ☀️.',
    toolCalls: [],
    toolResults: [
      { callId: 'call_pX4e0w1bTqVn7Lr3sKd9YcA2', name: 'get_weather', content: '{"temperature": 18, "condition": "cloudy"}' },
      { callId: 'call_9hQm2ZsR5uWx8Ty1Np6LfGb0', name: 'get_weather', content: '{"temperature": 27, "condition": "sunny"}' },
    ],
    finishReasons: ['stop'],
    usage: { inputTokens: 201, outputTokens: 17, cacheReadTokens: 0, reasoningTokens: 0 },
    messages: { hasHistory: true, roles: { system: 1, user: 1, assistant: 1, tool: 2 } },
  },
  'openai-chat-nonstream': {
    outputText: 'The capital of France is Paris.',
    responseModel: 'gpt-4o-mini-2024-07-18',
    usage: { inputTokens: 24, outputTokens: 8, cacheReadTokens: 0, reasoningTokens: 0 },
    messages: { system: 'Answer in one sentence.' },
    chunks: 0,
  },
  'openai-embeddings': { api: 'openai.embeddings', usage: { inputTokens: 9, outputTokens: 0 }, outputText: null, messages: { firstUser: 'The food was delicious' } },
  'openai-completions-stream': { api: 'openai.completions', outputText: '\n\nThis is a test.', finishReasons: ['stop'], usage: { inputTokens: 5, outputTokens: 6 }, complete: true },
  'openai-responses-stream-function-call': {
    api: 'openai.responses',
    outputText: 'Let me check the weather in Paris.',
    toolCalls: [{ id: 'call_Ht5nQ2wLp8ZrV3mYd6XsK1bE', name: 'get_weather', arguments: '{"location":"Paris"}' }],
    finishReasons: ['tool_calls'],
    usage: { inputTokens: 291, outputTokens: 31, cacheReadTokens: 128, reasoningTokens: 0 },
    complete: true,
    messages: { system: 'You are a helpful assistant with tools.', firstUser: 'What is the weather like in Paris today?', hasHistory: false },
  },
  'openai-responses-stream-text': {
    outputText: 'It is 18 °C and cloudy in Paris right now.',
    reasoningText: '**Reading the tool result**\n\nThe tool says 18 degrees and cloudy.',
    toolResults: [{ callId: 'call_Ht5nQ2wLp8ZrV3mYd6XsK1bE', name: 'get_weather', content: '{"temperature": 18, "condition": "cloudy"}' }],
    usage: { inputTokens: 340, outputTokens: 96, cacheReadTokens: 0, reasoningTokens: 64 },
    finishReasons: ['stop'],
    messages: { hasHistory: true },
  },
  'azure-chat-stream-content-filter': {
    provider: 'azure.ai.openai',
    requestModel: 'gpt-4o',
    responseModel: 'gpt-4o-2024-11-20',
    outputText: 'Azure OpenAI filters content for safety.',
    finishReasons: ['stop'],
    usage: { inputTokens: 18, outputTokens: 7, cacheReadTokens: 0, reasoningTokens: 0 },
    complete: true,
  },
  'azure-chat-stream-filtered': { provider: 'azure.ai.openai', outputText: 'Here is', finishReasons: ['content_filter'], usage: { inputTokens: null, outputTokens: null } },
  'anthropic-stream-thinking-tool-use': {
    api: 'anthropic.messages',
    provider: 'anthropic',
    outputText: "I'll check the weather in San Francisco for you.",
    reasoningText: 'The user wants the weather in San Francisco. I should call get_weather with "San Francisco, CA".',
    toolCalls: [{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' }],
    finishReasons: ['tool_use'],
    usage: { inputTokens: 472, outputTokens: 89, cacheReadTokens: 0, cacheCreationTokens: 0 },
    complete: true,
    messages: { system: 'You are a concise weather assistant.', toolDefinitions: [{ name: 'get_weather', description: 'Get the current weather in a given location' }] },
  },
  'anthropic-stream-text': {
    outputText: 'It is 15 °C and foggy in San Francisco — bring a jacket 🧥.',
    toolResults: [{ callId: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', content: '15 degrees, foggy' }],
    finishReasons: ['end_turn'],
    usage: { inputTokens: 618, outputTokens: 19, cacheReadTokens: 472, cacheCreationTokens: 0 },
    messages: { firstUser: 'What is the weather like in San Francisco?', hasHistory: true },
  },
  'anthropic-stream-error': { outputText: 'Once upon a', apiError: { type: 'overloaded_error', message: 'Overloaded' }, complete: false, finishReasons: [] },
  'ollama-chat-stream-tools': {
    api: 'ollama.chat',
    provider: 'ollama',
    reasoningText: 'The user asks about Toronto and Paris; I will call the tool twice.',
    outputText: null,
    finishReasons: ['stop'],
    usage: { inputTokens: 219, outputTokens: 67 },
    complete: true,
    chunks: 6,
  },
  'ollama-chat-stream-final': { outputText: 'Toronto is 22 °C and sunny, Paris is 18 °C.', usage: { inputTokens: 301, outputTokens: 13 }, messages: { hasHistory: true } },
  'ollama-generate-stream': { api: 'ollama.generate', outputText: 'The sky is blue because of Rayleigh scattering.', usage: { inputTokens: 30, outputTokens: 10 }, messages: { system: 'Answer in one sentence.', firstUser: 'Why is the sky blue?' } },
  'ollama-chat-nonstream': { outputText: 'Hello! How can I help you today?', usage: { inputTokens: 26, outputTokens: 10 }, finishReasons: ['stop'], complete: true },
  'ollama-embed': { api: 'ollama.embed', usage: { inputTokens: 8, outputTokens: null }, messages: { count: 2 } },
  'ollama-v1-chat-stream-parallel-tools': {
    api: 'openai.chat',
    provider: 'ollama',
    toolCalls: [{ id: 'call_x1kq2m7d', ...ollamaWeather('Toronto, Canada') }, { id: 'call_p9ze4w0n', ...ollamaWeather('Paris, France') }],
    reasoningText: 'Two cities, two calls.',
    outputText: null,
    finishReasons: ['tool_calls'],
  },
};

describe('wire fixtures through their adapters', () => {
  it('has an expectation for every fixture in the manifest', () => {
    expect(wireFixtures().map((f) => f.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const f of wireFixtures()) {
    it(`${f.name}: detected as ${f.api} (${f.provider}) and reconstructed`, () => {
      expect(detectApi({ method: f.method, path: f.path, endpointApi: f.provider === 'ollama' ? 'ollama' : 'auto' })).toMatchObject({ api: f.api, provider: f.provider });
      const ex = run(f.name);
      const { messages, ...rest } = EXPECTED[f.name] ?? {};
      expect(ex).toMatchObject(rest);
      if (messages !== undefined) expect(ex.messages).toMatchObject(messages);
      expect(ex.truncated).toBeUndefined();
      expect(ex.malformedFrames).toBeUndefined();
      expect(ex.reconstructed).not.toBeNull();
    });
  }

  it('a non-streamed body is stored as returned', () => {
    const f = wireFixture('openai-chat-nonstream');
    expect(run('openai-chat-nonstream').reconstructed).toEqual(JSON.parse(f.responseBody.toString('utf8')));
  });

  it('openai chat stream reconstructs the chat.completion object', () => {
    expect(run('openai-chat-stream-parallel-tools').reconstructed).toEqual({
      id: 'chatcmpl-C3kTq8ZfWmLr2dNx0aUeP4vHbYs1',
      object: 'chat.completion',
      created: 1754988001,
      model: 'gpt-4o-2024-08-06',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              { id: 'call_pX4e0w1bTqVn7Lr3sKd9YcA2', type: 'function', function: { name: 'get_weather', arguments: '{"location": "Paris", "unit": "celsius"}' } },
              { id: 'call_9hQm2ZsR5uWx8Ty1Np6LfGb0', type: 'function', function: { name: 'get_weather', arguments: '{"location": "Tokyo", "unit": "celsius"}' } },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 112,
        completion_tokens: 58,
        total_tokens: 170,
        prompt_tokens_details: { cached_tokens: 64, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      service_tier: 'default',
      system_fingerprint: 'fp_07871e2ad8',
    });
  });

  it('azure stream keeps prompt_filter_results and the last content_filter_results', () => {
    const rec = run('azure-chat-stream-filtered').reconstructed as { prompt_filter_results: unknown[]; choices: Array<{ content_filter_results: { violence: unknown } }> };
    expect(rec.prompt_filter_results).toHaveLength(1);
    expect(rec.choices[0]?.content_filter_results.violence).toEqual({ filtered: true, severity: 'high' });
  });

  it('anthropic stream reconstructs the Message with thinking, signature, text and tool_use input', () => {
    const rec = run('anthropic-stream-thinking-tool-use').reconstructed as { content: unknown[]; stop_reason: string; usage: Record<string, unknown> };
    expect(rec.content).toEqual([
      { type: 'thinking', thinking: 'The user wants the weather in San Francisco. I should call get_weather with "San Francisco, CA".', signature: expect.stringMatching(/^EqQBCgIYAhIM/) as unknown },
      { type: 'text', text: "I'll check the weather in San Francisco for you." },
      { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco, CA' } },
    ]);
    expect(rec.stop_reason).toBe('tool_use');
    expect(rec.usage['output_tokens']).toBe(89);
  });

  it('responses stream stores the response.completed object', () => {
    const rec = run('openai-responses-stream-function-call').reconstructed as { status: string; output: Array<{ type: string }> };
    expect(rec.status).toBe('completed');
    expect(rec.output.map((o) => o.type)).toEqual(['message', 'function_call']);
  });

  it('ollama: synthesized tool call ids equal the ids resolved for the tool results of the next request', () => {
    const calls = run('ollama-chat-stream-tools').toolCalls;
    expect(calls).toMatchObject([ollamaWeather('Toronto, Canada'), ollamaWeather('Paris, France')]);
    expect(calls[0]?.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(calls[0]?.id).not.toBe(calls[1]?.id);
    const results = run('ollama-chat-stream-final').toolResults;
    expect(results.map((r) => r.callId)).toEqual(calls.map((c) => c.id));
    expect(results.map((r) => r.content)).toEqual(['22 degrees celsius, sunny', '18 degrees celsius, cloudy']);
  });

  it('ollama: the stream reconstructs what stream:false returns', () => {
    expect(run('ollama-chat-stream-tools').reconstructed).toMatchObject({
      model: 'qwen3:8b',
      message: { role: 'assistant', content: '', thinking: 'The user asks about Toronto and Paris; I will call the tool twice.', tool_calls: [{ function: { name: 'get_current_weather' } }, { function: { name: 'get_current_weather' } }] },
      done: true,
      done_reason: 'stop',
      eval_count: 67,
    });
  });

  const SPLIT = ['anthropic-stream-thinking-tool-use', 'openai-chat-stream-final', 'ollama-chat-stream-tools', 'ollama-generate-stream'];
  for (const name of SPLIT) {
    it(`${name}: the same exchange for a split at every byte boundary and for 1-byte chunks`, () => {
      const whole = run(name);
      const size = wireFixture(name).responseBody.length;
      for (let i = 1; i < size; i += 1) {
        expect(run(name, (b) => [b.subarray(0, i), b.subarray(i)])).toEqual(whole);
      }
      expect(run(name, (b) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1)))).toEqual(whole);
    });
  }
});
