/**
 * Builders for tracer tests that drive the tracer directly (no proxy): a NormalizedExchange per
 * API family and the TraceRequestInfo / ExchangeOutcome the proxy would hand the tracer.
 */
import { Value } from '@sinclair/typebox/value';
import type { ApiKind, MessageSummary, NormalizedExchange, OperationName, ProviderName, ToolCall, ToolResult } from '../../sidecar/src/adapters/types.ts';
import { TelemetrySchema } from '../../sidecar/src/config/schema.ts';
import type { TelemetryConfig } from '../../sidecar/src/telemetry/otel-tracer.ts';
import type { ExchangeOutcome, ExchangeTracer, SpanType, TraceRequestInfo } from '../../sidecar/src/telemetry/types.ts';

/** Defaults with `over` on top; a key set to undefined removes that setting (e.g. no OTLP endpoint). */
export function telemetryConfig(over: { [K in keyof TelemetryConfig]?: TelemetryConfig[K] | undefined } = {}): TelemetryConfig {
  return { ...(Value.Default(TelemetrySchema, {}) as TelemetryConfig), exportIntervalMs: 10, ...over } as TelemetryConfig;
}

const FAMILIES: Record<string, { api: ApiKind; provider: ProviderName; operation: OperationName }> = {
  openai: { api: 'openai.chat', provider: 'openai', operation: 'chat' },
  anthropic: { api: 'anthropic.messages', provider: 'anthropic', operation: 'chat' },
  ollama: { api: 'ollama.chat', provider: 'ollama', operation: 'chat' },
};

export interface TurnSpec {
  family?: 'openai' | 'anthropic' | 'ollama';
  system?: string | null;
  firstUser?: string | null;
  history?: boolean;
  toolResults?: ToolResult[];
  toolCalls?: ToolCall[];
  outputText?: string | null;
  model?: string;
  stream?: boolean;
}

export function exchange(spec: TurnSpec = {}): NormalizedExchange {
  const fam = FAMILIES[spec.family ?? 'openai']!;
  const messages: MessageSummary = {
    count: spec.history === true ? 3 : 1,
    roles: spec.history === true ? { user: 1, assistant: 1, tool: 1 } : { user: 1 },
    system: spec.system ?? 'You are a weather bot.',
    firstUser: spec.firstUser === undefined ? 'Weather in Paris and Rome?' : spec.firstUser,
    hasHistory: spec.history === true,
    toolDefinitions: [{ name: 'get_weather', description: 'Current weather for a city' }],
    input: [{ role: 'user', parts: [{ type: 'text', content: 'Weather in Paris and Rome?' }] }],
  };
  const toolCalls = spec.toolCalls ?? [];
  return {
    ...fam,
    stream: spec.stream ?? false,
    requestModel: spec.model ?? 'gpt-4o-mini',
    responseModel: `${spec.model ?? 'gpt-4o-mini'}-2024-07-18`,
    responseId: 'resp-1',
    messages,
    toolResults: spec.toolResults ?? [],
    toolCalls,
    outputText: spec.outputText === undefined ? (toolCalls.length > 0 ? null : 'Sunny in both.') : spec.outputText,
    reasoningText: null,
    finishReasons: [toolCalls.length > 0 ? 'tool_calls' : 'stop'],
    usage: { inputTokens: 42, outputTokens: 7, cacheReadTokens: 10 },
    reconstructed: {},
    chunks: 0,
    apiError: null,
    complete: true,
  };
}

export function requestInfo(x: NormalizedExchange | null, over: Partial<TraceRequestInfo> = {}): TraceRequestInfo {
  return {
    endpoint: 'openai',
    method: 'POST',
    path: '/v1/chat/completions',
    headers: {},
    serverAddress: 'api.openai.com',
    serverPort: 443,
    startedAt: Date.now(),
    request: x,
    ...over,
  };
}

export function outcome(x: NormalizedExchange | null, spanType: SpanType, over: Partial<ExchangeOutcome> = {}): ExchangeOutcome {
  return { exchange: x, status: 200, errorType: null, spanType, endedAt: Date.now(), ttfbMs: 12, seq: 1, entryHash: 'ab'.repeat(32), origin: 'llmaudit.dev/test', ...over };
}

export const silentLogger = { warn() {}, info() {} };

/**
 * Wraps a tracer to await the proxy's handle.end() calls. The proxy ends a span after the entry
 * is appended, which (batched durability) can be after the client already has its last byte: a
 * test that flushes right after the client returns could flush before the last span exists.
 */
export function observeEnds<T extends ExchangeTracer>(tracer: T): { tracer: ExchangeTracer; ended: (n: number) => Promise<void> } {
  let count = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const wrapped: ExchangeTracer = {
    begin(info) {
      const h = tracer.begin(info);
      return {
        ids: h.ids,
        upstreamHeaders: h.upstreamHeaders,
        end(o) {
          h.end(o);
          count += 1;
          for (const w of waiters.filter((x) => count >= x.n)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        },
      };
    },
    close: () => tracer.close(),
  };
  return {
    tracer: wrapped,
    ended: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}
