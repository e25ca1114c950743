import { describe, expect, it } from 'vitest';
import type { ApiKind, MessageSummary, NormalizedExchange, OperationName, ProviderName } from '../adapters/types.ts';
import { classifyExchange, errorTypeOf, requestClass } from './classify.ts';
import type { SpanType } from './types.ts';

const FAMILY: Record<string, { api: ApiKind; provider: ProviderName; operation: OperationName }> = {
  'openai.chat': { api: 'openai.chat', provider: 'openai', operation: 'chat' },
  'openai.responses': { api: 'openai.responses', provider: 'openai', operation: 'chat' },
  'openai.completions': { api: 'openai.completions', provider: 'openai', operation: 'text_completion' },
  'anthropic.messages': { api: 'anthropic.messages', provider: 'anthropic', operation: 'chat' },
  'ollama.chat': { api: 'ollama.chat', provider: 'ollama', operation: 'chat' },
  'ollama.generate': { api: 'ollama.generate', provider: 'ollama', operation: 'text_completion' },
  // Same wire shapes as OpenAI's, other providers (adapters/detect.ts): Azure OpenAI
  // (/openai/deployments/{d}/chat/completions, /openai/v1/responses) and Ollama's OpenAI-compatible /v1.
  'azure.ai.openai chat': { api: 'openai.chat', provider: 'azure.ai.openai', operation: 'chat' },
  'azure.ai.openai responses': { api: 'openai.responses', provider: 'azure.ai.openai', operation: 'chat' },
  'ollama /v1/chat/completions': { api: 'openai.chat', provider: 'ollama', operation: 'chat' },
};

function messages(over: Partial<MessageSummary> = {}): MessageSummary {
  return { count: 1, roles: { user: 1 }, system: null, firstUser: 'hi', hasHistory: false, toolDefinitions: [], ...over };
}

function exchangeOf(family: keyof typeof FAMILY | 'openai.embeddings' | 'ollama.embed', over: Partial<NormalizedExchange> = {}): NormalizedExchange {
  const base =
    family === 'openai.embeddings'
      ? { api: 'openai.embeddings' as const, provider: 'openai' as const, operation: 'embeddings' as const }
      : family === 'ollama.embed'
        ? { api: 'ollama.embed' as const, provider: 'ollama' as const, operation: 'embeddings' as const }
        : FAMILY[family]!;
  return {
    ...base,
    stream: false,
    requestModel: 'm',
    responseModel: 'm',
    responseId: 'id-1',
    messages: messages(),
    toolResults: [],
    toolCalls: [],
    outputText: 'Hello.',
    reasoningText: null,
    finishReasons: ['stop'],
    usage: { inputTokens: 1, outputTokens: 1 },
    reconstructed: {},
    chunks: 0,
    apiError: null,
    complete: true,
    ...over,
  };
}

const CALL = [{ id: 'call_1', name: 'get_weather', arguments: '{}' }];

// Finish reasons as each family reports them (OpenAI chat finish_reason, Responses status /
// incomplete_details.reason, Anthropic stop_reason, Ollama done_reason).
const NATIVE: Record<string, { toolStop: string; stop: string; truncated: string }> = {
  'openai.chat': { toolStop: 'tool_calls', stop: 'stop', truncated: 'length' },
  'openai.responses': { toolStop: 'completed', stop: 'completed', truncated: 'max_output_tokens' },
  'openai.completions': { toolStop: 'stop', stop: 'stop', truncated: 'length' },
  'anthropic.messages': { toolStop: 'tool_use', stop: 'end_turn', truncated: 'max_tokens' },
  'ollama.chat': { toolStop: 'stop', stop: 'stop', truncated: 'length' },
  'ollama.generate': { toolStop: 'stop', stop: 'stop', truncated: 'length' },
  'azure.ai.openai chat': { toolStop: 'tool_calls', stop: 'stop', truncated: 'length' },
  'azure.ai.openai responses': { toolStop: 'completed', stop: 'completed', truncated: 'max_output_tokens' },
  'ollama /v1/chat/completions': { toolStop: 'tool_calls', stop: 'stop', truncated: 'length' },
};

interface Row {
  name: string;
  exchange: NormalizedExchange | null;
  status?: number;
  errorType?: string | null;
  want: SpanType;
}

const rows: Row[] = [];
for (const family of Object.keys(FAMILY)) {
  const n = NATIVE[family]!;
  rows.push(
    { name: `${family}: answer with content`, exchange: exchangeOf(family, { finishReasons: [n.stop] }), want: 'FINAL_RESPONSE' },
    { name: `${family}: streamed answer, complete`, exchange: exchangeOf(family, { stream: true, chunks: 5, finishReasons: [n.stop] }), want: 'FINAL_RESPONSE' },
    { name: `${family}: tool calls`, exchange: exchangeOf(family, { toolCalls: CALL, outputText: null, finishReasons: [n.toolStop] }), want: 'TOOL_CALL' },
    { name: `${family}: tool calls with preamble text`, exchange: exchangeOf(family, { toolCalls: CALL, outputText: 'Let me check.', finishReasons: [n.toolStop] }), want: 'TOOL_CALL' },
    { name: `${family}: truncated`, exchange: exchangeOf(family, { outputText: 'partial', finishReasons: [n.truncated] }), want: 'AGENT_THINKING' },
    { name: `${family}: reasoning only`, exchange: exchangeOf(family, { outputText: null, reasoningText: 'hmm', finishReasons: [n.stop] }), want: 'AGENT_THINKING' },
    { name: `${family}: empty output`, exchange: exchangeOf(family, { outputText: '  ', finishReasons: [n.stop] }), want: 'AGENT_THINKING' },
    { name: `${family}: HTTP 400`, exchange: exchangeOf(family, { outputText: null }), status: 400, want: 'ERROR' },
    { name: `${family}: HTTP 429`, exchange: exchangeOf(family, { outputText: null }), status: 429, want: 'ERROR' },
    { name: `${family}: HTTP 500`, exchange: null, status: 500, want: 'ERROR' },
    { name: `${family}: error in body after 200`, exchange: exchangeOf(family, { apiError: { type: 'overloaded_error', message: 'x' } }), want: 'ERROR' },
    { name: `${family}: stream cut before its terminator`, exchange: exchangeOf(family, { stream: true, complete: false }), want: 'ERROR' },
    { name: `${family}: upstream timeout`, exchange: null, status: 504, errorType: 'timeout', want: 'ERROR' },
    { name: `${family}: policy block`, exchange: exchangeOf(family), status: 403, errorType: 'policy_block', want: 'ERROR' },
    { name: `${family}: tool calls but transport failed`, exchange: exchangeOf(family, { toolCalls: CALL }), status: 200, errorType: 'upstream_reset', want: 'ERROR' },
  );
}
rows.push(
  { name: 'openai.embeddings: vectors', exchange: exchangeOf('openai.embeddings', { outputText: null, finishReasons: [] }), want: 'FINAL_RESPONSE' },
  { name: 'ollama.embed: vectors', exchange: exchangeOf('ollama.embed', { outputText: null, finishReasons: [] }), want: 'FINAL_RESPONSE' },
  { name: 'opaque 200', exchange: null, want: 'FINAL_RESPONSE' },
  { name: 'opaque 404', exchange: null, status: 404, want: 'ERROR' },
  { name: 'transport failure before any response', exchange: null, status: 502, errorType: 'upstream_unreachable', want: 'ERROR' },
);

describe('classifyExchange', () => {
  it('the table covers every conversational API family and every provider', () => {
    const all: Record<ApiKind, true> = {
      'openai.chat': true, 'openai.responses': true, 'openai.completions': true, 'openai.embeddings': true,
      'anthropic.messages': true, 'ollama.chat': true, 'ollama.generate': true, 'ollama.embed': true, opaque: true,
    };
    const conversational = Object.keys(all).filter((k) => !['openai.embeddings', 'ollama.embed', 'opaque'].includes(k));
    expect(new Set(Object.values(FAMILY).map((f) => f.api))).toEqual(new Set(conversational));
    expect(new Set(Object.values(FAMILY).map((f) => f.provider))).toEqual(new Set(['openai', 'azure.ai.openai', 'anthropic', 'ollama']));
    const classes = new Set(rows.map((r) => r.want));
    for (const c of ['ERROR', 'TOOL_CALL', 'FINAL_RESPONSE', 'AGENT_THINKING'] as const) expect(classes).toContain(c);
  });

  it.each(rows)('$name → $want', ({ exchange, status, errorType, want }) => {
    expect(classifyExchange({ exchange, status: status ?? 200, errorType: errorType ?? null })).toBe(want);
  });
});

describe('errorTypeOf', () => {
  it('prefers the proxy error, then the API error type, then the status', () => {
    expect(errorTypeOf({ exchange: null, status: 504, errorType: 'upstream_timeout' })).toBe('upstream_timeout');
    expect(errorTypeOf({ exchange: exchangeOf('anthropic.messages', { apiError: { type: 'overloaded_error', message: '' } }), status: 200, errorType: null })).toBe('overloaded_error');
    expect(errorTypeOf({ exchange: null, status: 429, errorType: null })).toBe('429');
    expect(errorTypeOf({ exchange: exchangeOf('openai.chat', { stream: true, complete: false }), status: 200, errorType: null })).toBe('incomplete_stream');
    expect(errorTypeOf({ exchange: exchangeOf('openai.chat'), status: 200, errorType: null })).toBeNull();
  });
});

describe('requestClass', () => {
  it.each([
    { name: 'first user turn', m: messages(), want: 'USER_PROMPT' },
    { name: 'system + first user turn', m: messages({ count: 2, roles: { system: 1, user: 1 }, system: 'You are terse.' }), want: 'USER_PROMPT' },
    { name: 'prompt-only generate (no roles)', m: messages({ roles: {}, firstUser: 'Why is the sky blue?' }), want: 'USER_PROMPT' },
    { name: 'carries assistant turns', m: messages({ count: 3, roles: { user: 2, assistant: 1 }, hasHistory: true }), want: null },
    { name: 'carries tool results', m: messages({ count: 4, roles: { user: 1, assistant: 1, tool: 2 }, hasHistory: true }), want: null },
    { name: 'no user turn (embeddings)', m: messages({ count: 0, roles: {}, firstUser: null }), want: null },
    { name: 'opaque request', m: null, want: null },
  ])('$name → $want', ({ m, want }) => {
    expect(requestClass(m)).toBe(want);
  });
});
