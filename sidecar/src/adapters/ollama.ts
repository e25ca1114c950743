/**
 * Ollama native API (ollama docs/api.md): `/api/chat`, `/api/generate` and `/api/embed`
 * (plus the legacy `/api/embeddings`). Ollama's OpenAI-compatible `/v1` is openai-chat.ts.
 *
 * Streams are NDJSON and on by default (`stream` absent means true). Each line is a partial
 * object (`message.content` / `response` deltas, `message.thinking` / `thinking`); the last one
 * has `done: true`, `done_reason` and the counts and durations (`prompt_eval_count`,
 * `eval_count`, `total_duration`, ...). Tool calls arrive whole, with object `arguments` and,
 * in older servers, no id. An `{"error": "..."}` line reports a failure mid-stream.
 * The reconstruction is the object a `stream: false` call returns.
 */
import { createHash } from 'node:crypto';
import {
  addSystem,
  baseExchange,
  countRole,
  DEFAULT_MAX_TEXT_BYTES,
  emptySummary,
  MAX_ITEMS,
  requestSide,
  usageFrom,
  withFlags,
  type AdapterOptions,
  type RequestSide,
  type SemconvMessage,
  type SemconvPart,
  type StreamAccumulator,
} from './accumulator.ts';
import { asArray, asRecord, isRecord, jsonText, str, type JsonObject } from './json-access.ts';
import { withDescription } from './openai-chat.ts';
import { boundText, createTextBuffer } from './text-buffer.ts';
import type { ApiKind, NormalizedExchange, ToolCall, ToolResult } from './types.ts';

/**
 * Ollama tool calls may carry no id. We derive one from the call's position in the assistant
 * turn, its name and its arguments, so the id in the response and the id we resolve for the
 * `role: tool` reply in the next request (whose assistant turn repeats the calls) are equal.
 */
export function ollamaCallId(position: number, name: string, argumentsJson: string): string {
  const h = createHash('sha256').update(`${position}\u0000${name}\u0000${argumentsJson}`).digest('hex');
  return `call_${h.slice(0, 24)}`;
}

function toolCallOf(raw: unknown, position: number): ToolCall {
  const tc = asRecord(raw);
  const fn = asRecord(tc['function']);
  const name = str(fn['name']) ?? '';
  const args = jsonText(fn['arguments']);
  return { id: str(tc['id']) ?? ollamaCallId(position, name, args), name, arguments: args };
}

export function summarizeOllamaRequest(kind: ApiKind, body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  const messages = emptySummary();
  const toolResults: ToolResult[] = [];
  const input: SemconvMessage[] = [];
  const provider = options.provider ?? 'ollama';
  const base = { requestModel: str(req['model']), stream: req['stream'] !== false, messages, toolResults };
  if (kind === 'ollama.embed') {
    const inp = req['input'] ?? req['prompt'];
    const list = Array.isArray(inp) ? inp : inp === undefined ? [] : [inp];
    for (const _ of list) countRole(messages, 'user');
    messages.firstUser = typeof list[0] === 'string' ? list[0] : null;
    return requestSide(kind, provider, 'embeddings', { ...base, stream: false });
  }
  if (kind === 'ollama.generate') {
    addSystem(messages, str(req['system']));
    if (messages.system !== null) input.push({ role: 'system', parts: [{ type: 'text', content: messages.system }] });
    const prompt = str(req['prompt']);
    if (prompt !== null) {
      countRole(messages, 'user');
      messages.firstUser = prompt;
      input.push({ role: 'user', parts: [{ type: 'text', content: prompt }] });
    }
    // `context` carries the token state of an earlier generate call: a continued conversation.
    if (Array.isArray(req['context']) && req['context'].length > 0) messages.hasHistory = true;
    messages.input = input;
    return requestSide(kind, provider, 'text_completion', base);
  }
  let pending: ToolCall[] = []; // the last assistant turn's calls not yet answered
  for (const raw of asArray(req['messages'])) {
    const m = asRecord(raw);
    const role = str(m['role']) ?? 'unknown';
    countRole(messages, role);
    const text = str(m['content']);
    const parts: SemconvPart[] = [];
    if (role === 'system') addSystem(messages, text);
    if (role === 'user' && messages.firstUser === null) messages.firstUser = text ?? '';
    if (text !== null && text !== '' && role !== 'tool') parts.push({ type: 'text', content: text });
    const calls = asArray(m['tool_calls']).map(toolCallOf);
    if (role === 'assistant') pending = [...calls];
    for (const c of calls) parts.push({ type: 'tool_call', id: c.id, name: c.name, arguments: c.arguments });
    if (role === 'tool') {
      const toolName = str(m['tool_name']) ?? str(m['name']);
      const explicit = str(m['tool_call_id']);
      let at = explicit !== null ? pending.findIndex((c) => c.id === explicit) : pending.findIndex((c) => c.name === toolName);
      if (at === -1 && explicit === null && toolName === null && pending.length > 0) at = 0;
      const matched = at === -1 ? undefined : pending.splice(at, 1)[0];
      const result: ToolResult = { callId: explicit ?? matched?.id ?? '' };
      const name = toolName ?? matched?.name;
      if (name !== undefined) result.name = name;
      if (text !== null) result.content = text;
      toolResults.push(result);
      parts.push({ type: 'tool_call_response', id: result.callId, response: text });
    }
    input.push({ role, parts });
  }
  for (const t of asArray(req['tools'])) {
    const fn = asRecord(asRecord(t)['function']);
    const name = str(fn['name']);
    if (name !== null) messages.toolDefinitions.push(withDescription(name, fn['description']));
  }
  messages.input = input;
  return requestSide(kind, provider, 'chat', base);
}

/** Accumulates an NDJSON stream of /api/chat (`kind` ollama.chat) or /api/generate. */
export function createOllamaAccumulator(kind: 'ollama.chat' | 'ollama.generate', requestBody: unknown, options: AdapterOptions = {}): StreamAccumulator {
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  const content = createTextBuffer(max);
  const thinking = createTextBuffer(max);
  let sawThinking = false;
  const toolCalls: unknown[] = [];
  let first: JsonObject | null = null;
  let final: JsonObject | null = null;
  let apiError: NormalizedExchange['apiError'] = null;
  let chunks = 0;
  let malformed = 0;
  let dropped = false;
  return {
    push(frame) {
      chunks += 1;
      if (frame.kind !== 'json' || !isRecord(frame.value)) {
        if (frame.kind !== 'done') malformed += 1;
        return;
      }
      const v = frame.value;
      if (v['error'] !== undefined) {
        apiError = { type: 'error', message: typeof v['error'] === 'string' ? v['error'] : jsonText(v['error']) };
        return;
      }
      first ??= v;
      const source = kind === 'ollama.chat' ? asRecord(v['message']) : v;
      content.append(str(source[kind === 'ollama.chat' ? 'content' : 'response']) ?? '');
      const t = str(source['thinking']);
      if (t !== null) {
        sawThinking = true;
        thinking.append(t);
      }
      for (const tc of asArray(source['tool_calls'])) {
        if (toolCalls.length < MAX_ITEMS) toolCalls.push(tc);
        else dropped = true;
      }
      if (v['done'] === true) final = v;
    },
    finish({ complete }) {
      const last: JsonObject = final ?? { model: first?.['model'] ?? null, created_at: first?.['created_at'] ?? null, done: false };
      const reconstructed: JsonObject = { model: last['model'] ?? null, created_at: last['created_at'] ?? null };
      if (kind === 'ollama.chat') {
        const message: JsonObject = { role: 'assistant', content: content.text };
        if (sawThinking) message['thinking'] = thinking.text;
        if (toolCalls.length > 0) message['tool_calls'] = toolCalls;
        reconstructed['message'] = message;
      } else {
        reconstructed['response'] = content.text;
        if (sawThinking) reconstructed['thinking'] = thinking.text;
      }
      for (const [k, val] of Object.entries(last)) {
        if (!(k in reconstructed) && k !== 'message' && k !== 'response' && k !== 'thinking') reconstructed[k] = val;
      }
      const ex = fromOllamaResponse(kind, requestBody, reconstructed, options);
      ex.chunks = chunks;
      ex.apiError = apiError;
      ex.complete = complete && final !== null;
      return withFlags(ex, { truncated: dropped || content.truncated || thinking.truncated || ex.truncated === true, malformed });
    },
  };
}

/** A `stream: false` body of /api/chat, /api/generate or /api/embed (`kind` says which). */
export function fromOllamaResponse(kind: ApiKind, requestBody: unknown, responseBody: unknown, options: AdapterOptions = {}, summary?: RequestSide): NormalizedExchange {
  const ex = baseExchange(summary ?? summarizeOllamaRequest(kind, requestBody, options));
  const res = asRecord(responseBody);
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  ex.reconstructed = responseBody ?? null;
  ex.responseModel = str(res['model']);
  if (res['error'] !== undefined) ex.apiError = { type: 'error', message: typeof res['error'] === 'string' ? res['error'] : jsonText(res['error']) };
  ex.usage = usageFrom(res['prompt_eval_count'], kind === 'ollama.embed' ? null : res['eval_count']);
  const reason = str(res['done_reason']);
  if (reason !== null) ex.finishReasons = [reason];
  let truncated = false;
  if (kind !== 'ollama.embed') {
    const source = kind === 'ollama.chat' ? asRecord(res['message']) : res;
    const out = boundText(str(source[kind === 'ollama.chat' ? 'content' : 'response']), max);
    const think = boundText(str(source['thinking']), max);
    ex.outputText = out.text === '' && asArray(source['tool_calls']).length > 0 ? null : out.text;
    ex.reasoningText = think.text;
    ex.toolCalls = asArray(source['tool_calls']).map(toolCallOf);
    truncated = out.truncated || think.truncated;
  }
  ex.complete = true;
  return withFlags(ex, { truncated, malformed: 0 });
}
