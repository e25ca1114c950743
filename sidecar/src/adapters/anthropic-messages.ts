/**
 * Anthropic Messages API (`POST /v1/messages`).
 *
 * Streaming shape (Anthropic docs, "Streaming Messages"): `event: message_start` with the Message
 * skeleton and input usage; per content block `content_block_start`, `content_block_delta`
 * (`text_delta`, `input_json_delta` whose `partial_json` pieces form the tool_use `input`,
 * `thinking_delta`, `signature_delta`, `citations_delta`), `content_block_stop`; then
 * `message_delta` with `stop_reason` and cumulative `usage`, and `message_stop`. `ping` events
 * may appear anywhere, and an `error` event (e.g. `overloaded_error`) can arrive mid-stream.
 * The reconstruction is the Message object a non-streamed call returns.
 */
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
import { asArray, asRecord, contentText, isRecord, jsonText, num, str, type JsonObject } from './json-access.ts';
import { withDescription } from './openai-chat.ts';
import { boundText, createTextBuffer, type TextBuffer } from './text-buffer.ts';
import type { NormalizedExchange, ToolCall, ToolResult, Usage } from './types.ts';

export function summarizeAnthropicRequest(body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  const messages = emptySummary();
  const toolResults: ToolResult[] = [];
  const input: SemconvMessage[] = [];
  const callNames = new Map<string, string>();
  const system = contentText(req['system']);
  if (system !== null) {
    addSystem(messages, system);
    input.push({ role: 'system', parts: [{ type: 'text', content: system }] });
  }
  for (const raw of asArray(req['messages'])) {
    const m = asRecord(raw);
    const role = str(m['role']) ?? 'unknown';
    countRole(messages, role);
    const parts: SemconvPart[] = [];
    const blocks = typeof m['content'] === 'string' ? [{ type: 'text', text: m['content'] }] : asArray(m['content']);
    const texts: string[] = [];
    for (const b of blocks) {
      const block = asRecord(b);
      const type = str(block['type']);
      if (type === 'text' && typeof block['text'] === 'string') {
        texts.push(block['text']);
        parts.push({ type: 'text', content: block['text'] });
      } else if (type === 'tool_use' || type === 'server_tool_use') {
        const id = str(block['id']) ?? '';
        const name = str(block['name']) ?? '';
        callNames.set(id, name);
        parts.push({ type: 'tool_call', id, name, arguments: block['input'] ?? null });
      } else if (type === 'tool_result') {
        const callId = str(block['tool_use_id']) ?? '';
        const content = contentText(block['content']);
        const result: ToolResult = { callId };
        const name = callNames.get(callId);
        if (name !== undefined) result.name = name;
        if (content !== null) result.content = content;
        if (block['is_error'] === true) result.isError = true;
        toolResults.push(result);
        parts.push({ type: 'tool_call_response', id: callId, response: content });
      } else if (type === 'thinking' && typeof block['thinking'] === 'string') {
        parts.push({ type: 'reasoning', content: block['thinking'] });
      }
    }
    // A user turn made only of tool results is not the user's prompt.
    if (role === 'user' && messages.firstUser === null && texts.length > 0) messages.firstUser = texts.join('\n');
    input.push({ role, parts });
  }
  for (const t of asArray(req['tools'])) {
    const tool = asRecord(t);
    const name = str(tool['name']) ?? str(tool['type']);
    if (name !== null) messages.toolDefinitions.push(withDescription(name, tool['description']));
  }
  messages.input = input;
  return requestSide('anthropic.messages', options.provider ?? 'anthropic', 'chat', {
    requestModel: str(req['model']),
    stream: req['stream'] === true,
    messages,
    toolResults,
  });
}

export function anthropicUsage(raw: unknown): Usage {
  const u = asRecord(raw);
  return usageFrom(u['input_tokens'], u['output_tokens'], { cacheRead: u['cache_read_input_tokens'], cacheCreation: u['cache_creation_input_tokens'] });
}

function anthropicError(v: JsonObject): { type: string; message: string } | null {
  if (v['type'] !== 'error' && v['error'] === undefined) return null;
  const e = asRecord(v['error']);
  return { type: str(e['type']) ?? 'error', message: str(e['message']) ?? '' };
}

interface BlockState {
  block: JsonObject;
  text: TextBuffer | null; // text, thinking
  json: TextBuffer | null; // tool_use input
  signature: TextBuffer | null;
  citations: unknown[] | null;
}

export function createAnthropicAccumulator(requestBody: unknown, options: AdapterOptions = {}): StreamAccumulator {
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  let message: JsonObject = {};
  let usage: JsonObject = {};
  const blocks = new Map<number, BlockState>();
  let stopped = false;
  let apiError: NormalizedExchange['apiError'] = null;
  let chunks = 0;
  let malformed = 0;
  let dropped = false;

  function onEvent(type: string, v: JsonObject): void {
    switch (type) {
      case 'message_start': {
        message = { ...asRecord(v['message']) };
        usage = { ...asRecord(message['usage']) };
        return;
      }
      case 'content_block_start': {
        const idx = num(v['index']) ?? blocks.size;
        if (blocks.size >= MAX_ITEMS) {
          dropped = true;
          return;
        }
        const block = { ...asRecord(v['content_block']) };
        const st: BlockState = { block, text: null, json: null, signature: null, citations: null };
        const kind = str(block['type']);
        if (kind === 'text' || kind === 'thinking') {
          st.text = createTextBuffer(max);
          st.text.append(str(block[kind]) ?? '');
        }
        blocks.set(idx, st);
        return;
      }
      case 'content_block_delta': {
        const st = blocks.get(num(v['index']) ?? -1);
        if (st === undefined) return;
        const d = asRecord(v['delta']);
        const dt = str(d['type']);
        if (dt === 'text_delta') (st.text ??= createTextBuffer(max)).append(str(d['text']) ?? '');
        else if (dt === 'thinking_delta') (st.text ??= createTextBuffer(max)).append(str(d['thinking']) ?? '');
        else if (dt === 'input_json_delta') (st.json ??= createTextBuffer(max)).append(str(d['partial_json']) ?? '');
        else if (dt === 'signature_delta') (st.signature ??= createTextBuffer(max)).append(str(d['signature']) ?? '');
        else if (dt === 'citations_delta' && d['citation'] !== undefined) {
          st.citations ??= [];
          if (st.citations.length < MAX_ITEMS) st.citations.push(d['citation']);
        }
        return;
      }
      case 'message_delta': {
        const d = asRecord(v['delta']);
        for (const key of ['stop_reason', 'stop_sequence', 'container']) if (key in d) message[key] = d[key];
        // message_delta usage is cumulative: later counts replace earlier ones field by field.
        for (const [k, val] of Object.entries(asRecord(v['usage']))) if (val !== null) usage[k] = val;
        return;
      }
      case 'message_stop':
        stopped = true;
        return;
      case 'error':
        apiError = anthropicError(v) ?? { type: 'error', message: '' };
        return;
      default:
        return; // ping, content_block_stop and future event types need nothing
    }
  }

  return {
    push(frame) {
      chunks += 1;
      if (frame.kind !== 'json' || !isRecord(frame.value)) {
        if (frame.kind !== 'done') malformed += 1;
        return;
      }
      onEvent(str(frame.value['type']) ?? frame.event ?? '', frame.value);
    },
    finish({ complete }) {
      let truncated = dropped;
      let badJson = false;
      const content = [...blocks.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([, st]) => {
          const block: JsonObject = { ...st.block };
          const kind = str(block['type']);
          if (st.text !== null && (kind === 'text' || kind === 'thinking')) {
            block[kind] = st.text.text;
            truncated ||= st.text.truncated;
          }
          if (st.signature !== null) block['signature'] = st.signature.text;
          if (st.citations !== null) block['citations'] = st.citations;
          if (st.json !== null) {
            truncated ||= st.json.truncated;
            const text = st.json.text;
            try {
              block['input'] = text === '' ? {} : (JSON.parse(text) as unknown);
            } catch {
              badJson = true;
              block['input'] = text; // kept as received, so the record shows what the model produced
            }
          }
          return block;
        });
      const reconstructed: JsonObject = { ...message, content, usage };
      const ex = fromAnthropicResponse(requestBody, reconstructed, options);
      // ToolCall.arguments keeps the JSON text exactly as streamed.
      for (const st of blocks.values()) {
        if (st.json === null) continue;
        const call = ex.toolCalls.find((c) => c.id === str(st.block['id']));
        if (call !== undefined) call.arguments = st.json.text === '' ? '{}' : st.json.text;
      }
      ex.chunks = chunks;
      ex.apiError = apiError;
      ex.complete = complete && stopped;
      return withFlags(ex, { truncated: truncated || ex.truncated === true, malformed: malformed + (badJson ? 1 : 0) });
    },
  };
}

export function fromAnthropicResponse(requestBody: unknown, responseBody: unknown, options: AdapterOptions = {}, summary?: RequestSide): NormalizedExchange {
  const ex = baseExchange(summary ?? summarizeAnthropicRequest(requestBody, options));
  const res = asRecord(responseBody);
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  ex.reconstructed = responseBody ?? null;
  ex.responseModel = str(res['model']);
  ex.responseId = str(res['id']);
  ex.apiError = anthropicError(res);
  if (res['usage'] !== undefined) ex.usage = anthropicUsage(res['usage']);
  const stop = str(res['stop_reason']);
  if (stop !== null) ex.finishReasons = [stop];
  const texts: string[] = [];
  const thinking: string[] = [];
  const calls: ToolCall[] = [];
  for (const b of asArray(res['content'])) {
    const block = asRecord(b);
    const type = str(block['type']);
    if (type === 'text' && typeof block['text'] === 'string') texts.push(block['text']);
    else if (type === 'thinking' && typeof block['thinking'] === 'string') thinking.push(block['thinking']);
    else if (type === 'tool_use') calls.push({ id: str(block['id']) ?? '', name: str(block['name']) ?? '', arguments: jsonText(block['input']) });
  }
  const out = boundText(texts.length > 0 ? texts.join('') : null, max);
  const think = boundText(thinking.length > 0 ? thinking.join('\n\n') : null, max);
  ex.outputText = out.text;
  ex.reasoningText = think.text;
  ex.toolCalls = calls;
  ex.complete = true;
  return withFlags(ex, { truncated: out.truncated || think.truncated, malformed: 0 });
}
