/**
 * OpenAI Responses API (`POST /v1/responses`).
 *
 * Streaming shape (OpenAI API reference, "Streaming events" of the Responses API): `event: <type>`
 * + `data: {"type": <type>, "sequence_number": n, ...}` frames; `response.created`, then
 * `response.output_item.added` / `.done` around each output item (message, function_call,
 * reasoning), with `response.output_text.delta`, `response.function_call_arguments.delta/.done`,
 * `response.reasoning_summary_text.delta` in between, and a terminal `response.completed`,
 * `response.incomplete` or `response.failed` carrying the whole response object with `usage`.
 * There is no `[DONE]`. A stream-level failure is an `error` event.
 * The reconstruction is the terminal event's response (what a non-streamed call returns); if the
 * stream was cut before it, the response is rebuilt from the items and deltas seen.
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
  type StreamAccumulator,
} from './accumulator.ts';
import { asArray, asRecord, contentText, isRecord, jsonText, num, str, type JsonObject } from './json-access.ts';
import { withDescription } from './openai-chat.ts';
import { boundText, createTextBuffer, type TextBuffer } from './text-buffer.ts';
import type { NormalizedExchange, ToolCall, ToolResult, Usage } from './types.ts';

export function summarizeOpenAIResponsesRequest(body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  const messages = emptySummary();
  const toolResults: ToolResult[] = [];
  const input: SemconvMessage[] = [];
  const callNames = new Map<string, string>();
  const instructions = str(req['instructions']);
  if (instructions !== null) {
    addSystem(messages, instructions);
    input.push({ role: 'system', parts: [{ type: 'text', content: instructions }] });
  }
  const rawInput = req['input'];
  const items = typeof rawInput === 'string' ? [{ role: 'user', content: rawInput }] : asArray(rawInput);
  for (const raw of items) {
    const it = asRecord(raw);
    const type = str(it['type']) ?? 'message';
    if (type === 'message' || (it['role'] !== undefined && type !== 'function_call' && type !== 'function_call_output')) {
      const role = str(it['role']) ?? 'user';
      countRole(messages, role);
      const text = contentText(it['content']);
      if (role === 'system' || role === 'developer') addSystem(messages, text);
      if (role === 'user' && messages.firstUser === null) messages.firstUser = text ?? '';
      input.push({ role, parts: text === null ? [] : [{ type: 'text', content: text }] });
    } else if (type === 'function_call') {
      const callId = str(it['call_id']) ?? '';
      const name = str(it['name']) ?? '';
      callNames.set(callId, name);
      countRole(messages, 'assistant');
      input.push({ role: 'assistant', parts: [{ type: 'tool_call', id: callId, name, arguments: it['arguments'] ?? null }] });
    } else if (type === 'function_call_output') {
      const callId = str(it['call_id']) ?? '';
      const content = contentText(it['output']);
      const result: ToolResult = { callId };
      const name = callNames.get(callId);
      if (name !== undefined) result.name = name;
      if (content !== null) result.content = content;
      toolResults.push(result);
      countRole(messages, 'tool');
      input.push({ role: 'tool', parts: [{ type: 'tool_call_response', id: callId, response: content }] });
    } else {
      // reasoning items, item references, built-in tool calls: earlier turns of the conversation.
      countRole(messages, type);
      messages.hasHistory = true;
    }
  }
  if (str(req['previous_response_id']) !== null) messages.hasHistory = true;
  for (const t of asArray(req['tools'])) {
    const tool = asRecord(t);
    const name = str(tool['name']) ?? str(tool['type']);
    if (name !== null) messages.toolDefinitions.push(withDescription(name, tool['description']));
  }
  messages.input = input;
  return requestSide('openai.responses', options.provider ?? 'openai', 'chat', {
    requestModel: str(req['model']),
    stream: req['stream'] === true,
    messages,
    toolResults,
  });
}

export function responsesUsage(raw: unknown): Usage {
  const u = asRecord(raw);
  return usageFrom(u['input_tokens'], u['output_tokens'], {
    cacheRead: asRecord(u['input_tokens_details'])['cached_tokens'],
    reasoning: asRecord(u['output_tokens_details'])['reasoning_tokens'],
  });
}

interface ItemState {
  item: JsonObject;
  done: JsonObject | null;
  parts: Map<number, { type: string; text: TextBuffer }>;
  args: TextBuffer | null;
  summary: Map<number, TextBuffer>;
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

export function createOpenAIResponsesAccumulator(requestBody: unknown, options: AdapterOptions = {}): StreamAccumulator {
  const req = summarizeOpenAIResponsesRequest(requestBody, options);
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  let response: JsonObject | null = null;
  let terminal = false;
  const items = new Map<number, ItemState>();
  const byId = new Map<string, number>();
  let apiError: NormalizedExchange['apiError'] = null;
  let chunks = 0;
  let malformed = 0;
  let dropped = false;

  function itemFor(v: JsonObject): ItemState | undefined {
    const idx = num(v['output_index']);
    if (idx !== null) return items.get(idx);
    const id = str(v['item_id']);
    const at = id === null ? undefined : byId.get(id);
    return at === undefined ? undefined : items.get(at);
  }

  function onEvent(type: string, v: JsonObject): void {
    if (type === 'response.created' || type === 'response.in_progress' || type === 'response.queued') {
      if (isRecord(v['response'])) response = v['response'];
    } else if (TERMINAL.has(type)) {
      if (isRecord(v['response'])) response = v['response'];
      terminal = true;
      const err = asRecord(response)['error'];
      if (isRecord(err)) apiError = { type: str(err['code']) ?? str(err['type']) ?? 'error', message: str(err['message']) ?? '' };
      items.clear(); // the terminal response holds every item: the partial state is not needed
    } else if (type === 'response.output_item.added') {
      const idx = num(v['output_index']) ?? items.size;
      const item = asRecord(v['item']);
      if (items.size >= MAX_ITEMS) {
        dropped = true;
        return;
      }
      items.set(idx, { item, done: null, parts: new Map(), args: null, summary: new Map() });
      const id = str(item['id']);
      if (id !== null) byId.set(id, idx);
    } else if (type === 'response.output_item.done') {
      const st = itemFor(v);
      if (st !== undefined && isRecord(v['item'])) {
        st.done = v['item'];
        st.parts.clear();
        st.summary.clear();
        st.args = null;
      }
    } else if (type === 'response.output_text.delta' || type === 'response.refusal.delta' || type === 'response.reasoning_text.delta') {
      const st = itemFor(v);
      const delta = str(v['delta']);
      if (st === undefined || st.done !== null || delta === null) return;
      const ci = num(v['content_index']) ?? 0;
      const partType = type === 'response.output_text.delta' ? 'output_text' : type === 'response.refusal.delta' ? 'refusal' : 'reasoning_text';
      let part = st.parts.get(ci);
      if (part === undefined) st.parts.set(ci, (part = { type: partType, text: createTextBuffer(max) }));
      part.text.append(delta);
    } else if (type === 'response.function_call_arguments.delta') {
      const st = itemFor(v);
      const delta = str(v['delta']);
      if (st !== undefined && st.done === null && delta !== null) (st.args ??= createTextBuffer(max)).append(delta);
    } else if (type === 'response.function_call_arguments.done') {
      const st = itemFor(v);
      const args = str(v['arguments']);
      if (st !== undefined && st.done === null && args !== null) {
        st.args = createTextBuffer(max);
        st.args.append(args);
      }
    } else if (type === 'response.reasoning_summary_text.delta') {
      const st = itemFor(v);
      const delta = str(v['delta']);
      if (st === undefined || st.done !== null || delta === null) return;
      const si = num(v['summary_index']) ?? 0;
      let buf = st.summary.get(si);
      if (buf === undefined) st.summary.set(si, (buf = createTextBuffer(max)));
      buf.append(delta);
    } else if (type === 'error') {
      apiError = { type: str(v['code']) ?? 'error', message: str(v['message']) ?? '' };
    }
    // Every other event (content_part.added, annotations, web_search_call.*, ...) is tolerated.
  }

  function rebuild(): { output: unknown[]; truncated: boolean } {
    let truncated = dropped;
    const output = [...items.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, st]) => {
        if (st.done !== null) return st.done;
        const item: JsonObject = { ...st.item };
        if (st.parts.size > 0) {
          item['content'] = [...st.parts.entries()]
            .sort((a, b) => a[0] - b[0])
            .map(([, p]) => {
              truncated ||= p.text.truncated;
              if (p.type === 'refusal') return { type: 'refusal', refusal: p.text.text };
              return p.type === 'output_text' ? { type: 'output_text', text: p.text.text, annotations: [] } : { type: p.type, text: p.text.text };
            });
        }
        if (st.args !== null) {
          truncated ||= st.args.truncated;
          item['arguments'] = st.args.text;
        }
        if (st.summary.size > 0) {
          item['summary'] = [...st.summary.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => ({ type: 'summary_text', text: b.text }));
        }
        return item;
      });
    return { output, truncated };
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
      const ex = baseExchange(req);
      let reconstructed: JsonObject;
      let truncated = dropped;
      if (terminal && response !== null) {
        reconstructed = response;
      } else {
        const rebuilt = rebuild();
        truncated = rebuilt.truncated;
        reconstructed = { ...(response ?? { object: 'response' }), output: rebuilt.output };
        if (!terminal) reconstructed['status'] = 'incomplete';
      }
      const filled = fillFromResponse(ex, reconstructed, max);
      ex.reconstructed = reconstructed;
      ex.chunks = chunks;
      ex.apiError = apiError ?? ex.apiError;
      ex.complete = complete && terminal;
      return withFlags(ex, { truncated: truncated || filled.truncated, malformed, refusal: filled.refusal });
    },
  };
}

export function fromOpenAIResponsesResponse(requestBody: unknown, responseBody: unknown, options: AdapterOptions = {}, summary?: RequestSide): NormalizedExchange {
  const ex = baseExchange(summary ?? summarizeOpenAIResponsesRequest(requestBody, options));
  const res = asRecord(responseBody);
  ex.reconstructed = responseBody ?? null;
  const filled = fillFromResponse(ex, res, options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES);
  ex.complete = true;
  return withFlags(ex, { truncated: filled.truncated, malformed: 0, refusal: filled.refusal });
}

/**
 * Reads a Response object. Finish reasons: the Responses API has no per-choice finish_reason, so
 * we map `status` the way chat completions would say it: completed → `stop` (or `tool_calls`
 * when it asks for functions), incomplete → `incomplete_details.reason`, failed → `error`.
 */
function fillFromResponse(ex: NormalizedExchange, res: JsonObject, max: number): { truncated: boolean; refusal: string | null } {
  ex.responseModel = str(res['model']);
  ex.responseId = str(res['id']);
  if (res['usage'] !== undefined && res['usage'] !== null) ex.usage = responsesUsage(res['usage']);
  const err = res['error'];
  if (isRecord(err)) ex.apiError = { type: str(err['code']) ?? str(err['type']) ?? 'error', message: str(err['message']) ?? '' };
  const texts: string[] = [];
  const reasoning: string[] = [];
  const refusals: string[] = [];
  const calls: ToolCall[] = [];
  for (const raw of asArray(res['output'])) {
    const item = asRecord(raw);
    const type = str(item['type']);
    if (type === 'message') {
      for (const p of asArray(item['content'])) {
        const part = asRecord(p);
        if (part['type'] === 'output_text' && typeof part['text'] === 'string') texts.push(part['text']);
        if (part['type'] === 'refusal' && typeof part['refusal'] === 'string') refusals.push(part['refusal']);
      }
    } else if (type === 'function_call' || type === 'custom_tool_call') {
      calls.push({ id: str(item['call_id']) ?? str(item['id']) ?? '', name: str(item['name']) ?? '', arguments: jsonText(item['arguments'] ?? item['input']) });
    } else if (type === 'reasoning') {
      for (const s of asArray(item['summary'])) {
        const t = str(asRecord(s)['text']);
        if (t !== null) reasoning.push(t);
      }
      for (const c of asArray(item['content'])) {
        const t = str(asRecord(c)['text']);
        if (t !== null) reasoning.push(t);
      }
    }
  }
  const out = boundText(texts.length > 0 ? texts.join('') : null, max);
  const think = boundText(reasoning.length > 0 ? reasoning.join('\n\n') : null, max);
  ex.outputText = out.text;
  ex.reasoningText = think.text;
  ex.toolCalls = calls;
  const status = str(res['status']);
  if (status === 'completed') ex.finishReasons = [calls.length > 0 ? 'tool_calls' : 'stop'];
  else if (status === 'incomplete') ex.finishReasons = [str(asRecord(res['incomplete_details'])['reason']) ?? 'incomplete'];
  else if (status === 'failed') ex.finishReasons = ['error'];
  return { truncated: out.truncated || think.truncated, refusal: refusals.length > 0 ? refusals.join('') : null };
}
