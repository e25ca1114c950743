/**
 * Tracing end to end: a scripted agent run through the real proxy with the official clients
 * (openai, @anthropic-ai/sdk, ollama) — user prompt → two parallel tool calls → two tool results
 * → final answer — against a replaying upstream, with the real tracer exporting to an OTLP/HTTP
 * receiver on port 0. One trace per run; spans and audit entries agree.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { Registry } from 'prom-client';
import { createTracer, type OtelTracer, type TelemetryConfig } from '../../sidecar/src/telemetry/otel-tracer.ts';
import { startOtlpReceiver, SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { startReplayUpstream, type RecordedRequest, type ReplayScript, type ReplayUpstream } from '../support/replay-upstream.ts';
import { MemorySink, startStack, type Stack } from '../proxy/harness.ts';
import { observeEnds, silentLogger, telemetryConfig } from './exchange-builders.ts';

const WIRE = new URL('../fixtures/wire/', import.meta.url);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

/** A recorded response split into the frames it was sent as (SSE events / NDJSON lines). */
function frames(file: string): string[] {
  const text = readFileSync(new URL(file, WIRE), 'utf8');
  if (file.endsWith('.ndjson')) return text.split('\n').filter((l) => l !== '').map((l) => `${l}\n`);
  return text.split('\n\n').filter((f) => f.trim() !== '').map((f) => `${f}\n\n`);
}

const SSE = { 'content-type': 'text/event-stream' };
const NDJSON = { 'content-type': 'application/x-ndjson' };

/** Anthropic Messages stream with two parallel tool_use blocks ("Streaming Messages", tool use). */
function anthropicTwoTools(): string[] {
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const out = [ev('message_start', { message: { id: 'msg_01TwoTools', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 400, output_tokens: 1 } } })];
  [
    ['toolu_01Paris', '{"location":"Paris"}'],
    ['toolu_01Tokyo', '{"location":"Tokyo"}'],
  ].forEach(([id, json], index) => {
    out.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id, name: 'get_weather', input: {} } }));
    out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json } }));
    out.push(ev('content_block_stop', { index }));
  });
  out.push(ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 60 } }));
  out.push(ev('message_stop', {}));
  return out;
}

interface Harness {
  stack: Stack;
  sink: MemorySink;
  upstream: ReplayUpstream;
  receiver: OtlpReceiver;
  tracer: OtelTracer;
  registry: Registry;
  /** Resolves once the proxy has ended `n` exchange spans. */
  ended: (n: number) => Promise<void>;
}

async function harness(api: string, script: (req: RecordedRequest) => ReplayScript, telemetry: Partial<TelemetryConfig> = {}): Promise<Harness> {
  const receiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
  const upstream = await startReplayUpstream();
  cleanups.push(() => upstream.close());
  upstream.script(script);
  const registry = new Registry();
  const tracer = createTracer({
    telemetry: telemetryConfig({ otlpEndpoint: receiver.url, ...telemetry }),
    resource: { serviceName: 'weather-agent', namespace: 'demo' },
    registry,
    logger: silentLogger,
  });
  cleanups.push(() => tracer.close());
  const observed = observeEnds(tracer);
  const sink = new MemorySink();
  const stack = await startStack({ config: { endpoints: [{ name: api, upstream: upstream.url, api }] }, sink, tracer: observed.tracer, deps: { origin: 'llmaudit.dev/demo/agent-0' } });
  cleanups.push(() => stack.close());
  return { stack, sink, upstream, receiver, tracer, registry, ended: observed.ended };
}

const hasToolResults = (req: RecordedRequest) => /"role":"tool"|"tool_result"/.test(req.body.toString('utf8'));

/** Every check docs/tracing.md implies for one agent run (3 exchanges: tool call, final; 2 tool results). */
async function expectOneTracedRun(h: Harness, toolName: string): Promise<void> {
  await h.sink.count(2);
  await h.ended(2);
  await h.tracer.flush();
  const spans = await h.receiver.waitFor((s) => s.length >= 4);
  expect(spans).toHaveLength(4);
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1); // one trace

  const type = (t: string) => spans.filter((s) => s.attributes['llmaudit.span_type'] === t);
  const [toolCall] = type('TOOL_CALL');
  const [final] = type('FINAL_RESPONSE');
  const tools = type('TOOL_RESULT');
  expect(toolCall).toBeDefined();
  expect(final).toBeDefined();
  expect(tools).toHaveLength(2);

  expect(toolCall!.kind).toBe(SPAN_KIND_CLIENT);
  expect(toolCall!.attributes['llmaudit.request_type']).toBe('USER_PROMPT');
  expect(toolCall!.parentSpanId).toBe('');
  expect(final!.parentSpanId).toBe(toolCall!.spanId); // later turns hang under the opening exchange
  expect(final!.attributes['llmaudit.request_type']).toBeUndefined();
  for (const s of [toolCall!, final!]) {
    expect(s.name).toBe(`chat ${s.attributes['gen_ai.request.model']}`);
    expect(s.attributes['gen_ai.operation.name']).toBe('chat');
    expect(s.attributes['server.address']).toBe('127.0.0.1');
    expect(s.attributes['server.port']).toBe(h.upstream.port);
    expect(s.attributes['gen_ai.conversation.id']).toBe(toolCall!.traceId);
    expect(s.attributes['llmaudit.origin']).toBe('llmaudit.dev/demo/agent-0');
    expect(s.resource['service.name']).toBe('weather-agent');
  }

  for (const t of tools) {
    expect(t).toMatchObject({ name: `execute_tool ${toolName}`, kind: SPAN_KIND_INTERNAL, parentSpanId: toolCall!.spanId });
    expect(t.attributes['gen_ai.tool.name']).toBe(toolName);
    // Plausible timing: after the tool-call exchange ended, before the result's request started.
    expect(t.startMs).toBeGreaterThanOrEqual(toolCall!.startMs);
    expect(t.startMs).toBeLessThanOrEqual(t.endMs);
    expect(t.endMs).toBeLessThanOrEqual(final!.startMs + 1);
    expect(t.links.map((l) => l.spanId)).toEqual([toolCall!.spanId, final!.spanId]);
  }
  expect(new Set(tools.map((t) => t.attributes['gen_ai.tool.call.id'])).size).toBe(2);

  // The audit entries' trace{} matches the spans.
  const entries = h.sink.entries;
  expect(entries).toHaveLength(2);
  const spanOf = (e: (typeof entries)[number]) => spans.find((s) => s.spanId === e.trace.spanId) as ReceivedSpan;
  for (const [seq, e] of entries.entries()) {
    const s = spanOf(e);
    expect(s).toBeDefined();
    expect(e.trace.traceId).toBe(s.traceId);
    expect(e.trace.spanType).toBe(s.attributes['llmaudit.span_type']);
    expect(e.trace.conversationId).toBe(s.attributes['gen_ai.conversation.id']);
    expect(s.attributes['llmaudit.seq']).toBe(seq);
    expect(s.attributes['llmaudit.entry_hash']).toBe(seq.toString(16).padStart(64, '0'));
  }
  expect(entries[0]!.trace.requestType).toBe('USER_PROMPT');
  const callIds = entries[0]!.trace.toolCalls.map((c) => c.id).sort();
  expect(callIds).toHaveLength(2);
  expect(tools.map((t) => t.attributes['gen_ai.tool.call.id']).sort()).toEqual(callIds);
  expect(entries[1]!.trace.toolResults.map((r) => r.callId).sort()).toEqual(callIds);
}

describe('one trace per agent run through the proxy', () => {
  it('openai SDK: chat completions, two parallel tool calls (role: tool results)', async () => {
    const h = await harness('openai', (req) =>
      hasToolResults(req) ? { headers: SSE, frames: frames('openai/chat-stream-final.sse') } : { headers: SSE, frames: frames('openai/chat-stream-parallel-tools.sse') },
    );
    const client = new OpenAI({ baseURL: `${h.stack.base}/openai/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a weather assistant.' },
      { role: 'user', content: 'What is the weather in Paris and in Tokyo?' },
    ];
    const first = await client.chat.completions.stream({ model: 'gpt-4o', messages, tools, stream_options: { include_usage: true } }).finalChatCompletion();
    const calls = first.choices[0]!.message.tool_calls ?? [];
    expect(calls).toHaveLength(2);
    messages.push(first.choices[0]!.message);
    for (const c of calls) messages.push({ role: 'tool', tool_call_id: c.id, content: '{"temp_c":18}' });
    const second = await client.chat.completions.stream({ model: 'gpt-4o', messages, tools }).finalChatCompletion();
    expect(second.choices[0]!.finish_reason).toBe('stop');
    await expectOneTracedRun(h, 'get_weather');
    const [toolCall] = h.receiver.spans.filter((s) => s.attributes['llmaudit.span_type'] === 'TOOL_CALL');
    expect(toolCall!.attributes).toMatchObject({ 'gen_ai.provider.name': 'openai', 'gen_ai.request.stream': true, 'gen_ai.response.finish_reasons': ['tool_calls'] });
    expect(typeof toolCall!.attributes['gen_ai.usage.input_tokens']).toBe('number');
    expect(typeof toolCall!.attributes['gen_ai.response.time_to_first_chunk']).toBe('number');
    // The exchange span's context went upstream.
    expect(h.upstream.requests[0]!.headers['traceparent']).toBe(`00-${toolCall!.traceId}-${toolCall!.spanId}-01`);
  });

  it('@anthropic-ai/sdk: two tool_use blocks answered by tool_result blocks', async () => {
    const h = await harness('anthropic', (req) =>
      hasToolResults(req) ? { headers: SSE, frames: frames('anthropic/messages-stream-text.sse') } : { headers: SSE, frames: anthropicTwoTools() },
    );
    const client = new Anthropic({ baseURL: `${h.stack.base}/anthropic`, apiKey: 'sk-ant-test', maxRetries: 0 });
    const tools = [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }];
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris and Tokyo?' }];
    const first = await client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 512, system: 'You are a weather assistant.', messages, tools }).finalMessage();
    const uses = first.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(uses).toHaveLength(2);
    messages.push({ role: 'assistant', content: first.content });
    messages.push({
      role: 'user',
      content: uses.map((u, i) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: i === 0 ? '18 °C' : [{ type: 'text' as const, text: '24 °C' }] })),
    });
    const second = await client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 512, system: 'You are a weather assistant.', messages, tools }).finalMessage();
    expect(second.stop_reason).toBe('end_turn');
    await expectOneTracedRun(h, 'get_weather');
    const [final] = h.receiver.spans.filter((s) => s.attributes['llmaudit.span_type'] === 'FINAL_RESPONSE');
    expect(final!.attributes).toMatchObject({ 'gen_ai.provider.name': 'anthropic', 'gen_ai.response.finish_reasons': ['end_turn'], 'gen_ai.usage.cache_read.input_tokens': 472 });
  });

  it('ollama client: two tool_calls answered by role: tool messages with tool_name', async () => {
    const h = await harness('ollama', (req) =>
      hasToolResults(req) ? { headers: NDJSON, frames: frames('ollama/chat-stream-final.ndjson') } : { headers: NDJSON, frames: frames('ollama/chat-stream-tools.ndjson') },
    );
    const client = new Ollama({ host: `${h.stack.base}/ollama` });
    const tools = [{ type: 'function', function: { name: 'get_current_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
    const messages: Array<{ role: string; content: string; tool_calls?: unknown[]; tool_name?: string }> = [
      { role: 'system', content: 'You are a weather bot.' },
      { role: 'user', content: 'What is the weather today in Toronto and in Paris?' },
    ];
    const calls: Array<{ function: { name: string; arguments: Record<string, unknown> } }> = [];
    for await (const part of await client.chat({ model: 'qwen3:8b', messages, tools, stream: true } as Parameters<Ollama['chat']>[0] & { stream: true })) {
      calls.push(...((part.message.tool_calls ?? []) as typeof calls));
    }
    expect(calls).toHaveLength(2);
    messages.push({ role: 'assistant', content: '', tool_calls: calls });
    for (const c of calls) messages.push({ role: 'tool', content: '{"temp_c":12}', tool_name: c.function.name });
    for await (const part of await client.chat({ model: 'qwen3:8b', messages, tools, stream: true } as Parameters<Ollama['chat']>[0] & { stream: true })) void part;
    await expectOneTracedRun(h, 'get_current_weather');
    const [toolCall] = h.receiver.spans.filter((s) => s.attributes['llmaudit.span_type'] === 'TOOL_CALL');
    expect(toolCall!.attributes['gen_ai.provider.name']).toBe('ollama');
  });
});
