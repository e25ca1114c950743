/**
 * OpenAI chat completions (`POST /v1/chat/completions`), also spoken by Azure OpenAI
 * (`/openai/deployments/{d}/chat/completions?api-version=`), vLLM, llama.cpp and Ollama's `/v1`.
 *
 * Streaming shape (OpenAI API reference, "The chat completion chunk object"): `data: {chunk}`
 * frames, then `data: [DONE]`. `choices[i].delta` carries content / refusal / tool_calls pieces;
 * tool call pieces are merged by `index` (parallel calls). With `stream_options.include_usage` a
 * last chunk has `choices: []` and `usage`. Azure adds a first chunk with empty `choices` and
 * `prompt_filter_results`, and `content_filter_results` on choices (Azure OpenAI reference,
 * "Content filtering"). Ollama's `/v1` sends each parallel tool call whole with `index: 0` for
 * all of them, so a new `id` at an index already in use starts a new call.
 * The reconstruction is the `chat.completion` object a non-streamed call returns.
 */
import {
  addSystem,
  baseExchange,
  countRole,
  emptySummary,
  MAX_ITEMS,
  DEFAULT_MAX_TEXT_BYTES,
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
import { boundText, createTextBuffer, type TextBuffer } from './text-buffer.ts';
import type { NormalizedExchange, ToolCall, ToolResult, Usage } from './types.ts';

export function summarizeOpenAIChatRequest(body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  const messages = emptySummary();
  const toolResults: ToolResult[] = [];
  const input: SemconvMessage[] = [];
  const callNames = new Map<string, string>();
  for (const raw of asArray(req['messages'])) {
    const m = asRecord(raw);
    const role = str(m['role']) ?? 'unknown';
    countRole(messages, role);
    const text = contentText(m['content']);
    const parts: SemconvPart[] = [];
    if (role === 'system' || role === 'developer') addSystem(messages, text);
    if (role === 'user' && messages.firstUser === null) messages.firstUser = text ?? '';
    if (text !== null && role !== 'tool' && role !== 'function') parts.push({ type: 'text', content: text });
    for (const tcRaw of asArray(m['tool_calls'])) {
      const tc = asRecord(tcRaw);
      const fn = asRecord(tc['function']);
      const id = str(tc['id']) ?? '';
      const name = str(fn['name']) ?? '';
      callNames.set(id, name);
      parts.push({ type: 'tool_call', id, name, arguments: fn['arguments'] ?? null });
    }
    if (role === 'tool') {
      const callId = str(m['tool_call_id']) ?? '';
      const result: ToolResult = { callId };
      const name = callNames.get(callId);
      if (name !== undefined) result.name = name;
      if (text !== null) result.content = text;
      toolResults.push(result);
      parts.push({ type: 'tool_call_response', id: callId, response: text });
    } else if (role === 'function') {
      // Legacy function-calling turn: no call id, the name is on the message.
      const name = str(m['name']) ?? '';
      const result: ToolResult = { callId: '', name };
      if (text !== null) result.content = text;
      toolResults.push(result);
      parts.push({ type: 'tool_call_response', id: '', response: text });
    }
    input.push({ role, parts });
  }
  for (const t of asArray(req['tools'])) {
    const fn = asRecord(asRecord(t)['function']);
    const name = str(fn['name']);
    if (name !== null) messages.toolDefinitions.push(withDescription(name, fn['description']));
  }
  for (const f of asArray(req['functions'])) {
    const name = str(asRecord(f)['name']);
    if (name !== null) messages.toolDefinitions.push(withDescription(name, asRecord(f)['description']));
  }
  messages.input = input;
  return requestSide('openai.chat', options.provider ?? 'openai', 'chat', {
    requestModel: str(req['model']),
    stream: req['stream'] === true,
    messages,
    toolResults,
  });
}

export function withDescription(name: string, description: unknown): { name: string; description?: string } {
  return typeof description === 'string' ? { name, description } : { name };
}

export function openAIUsage(raw: unknown): Usage {
  const u = asRecord(raw);
  return usageFrom(u['prompt_tokens'], u['completion_tokens'], {
    cacheRead: asRecord(u['prompt_tokens_details'])['cached_tokens'],
    reasoning: asRecord(u['completion_tokens_details'])['reasoning_tokens'],
  });
}

/** `{"error": {...}}` (OpenAI, Azure, vLLM) or `{"error": "text"}` (Ollama) in a body or frame. */
export function openAIError(v: JsonObject): { type: string; message: string } | null {
  const e = v['error'];
  if (e === undefined || e === null) return null;
  if (typeof e === 'string') return { type: 'error', message: e };
  const r = asRecord(e);
  return { type: str(r['type']) ?? str(r['code']) ?? (num(r['code']) !== null ? String(r['code']) : 'error'), message: str(r['message']) ?? '' };
}

interface CallState {
  id: string;
  name: string;
  args: TextBuffer;
}

interface ChoiceState {
  index: number;
  content: TextBuffer | null;
  refusal: TextBuffer | null;
  reasoning: TextBuffer | null;
  reasoningField: string;
  calls: CallState[];
  byIndex: Map<number, CallState>;
  finishReason: string | null;
  contentFilter: unknown;
}

export function createOpenAIChatAccumulator(requestBody: unknown, options: AdapterOptions = {}): StreamAccumulator {
  const req = summarizeOpenAIChatRequest(requestBody, options);
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  const choices = new Map<number, ChoiceState>();
  const top: JsonObject = {};
  let usage: unknown = null;
  let promptFilter: unknown = null;
  let apiError: NormalizedExchange['apiError'] = null;
  let done = false;
  let chunks = 0;
  let malformed = 0;
  let dropped = false;

  function choice(index: number): ChoiceState | null {
    let st = choices.get(index);
    if (st === undefined) {
      if (choices.size >= MAX_ITEMS) return null;
      st = { index, content: null, refusal: null, reasoning: null, reasoningField: 'reasoning_content', calls: [], byIndex: new Map(), finishReason: null, contentFilter: null };
      choices.set(index, st);
    }
    return st;
  }

  function mergeToolCall(st: ChoiceState, tc: JsonObject, position: number): void {
    const tIdx = num(tc['index']) ?? position;
    const id = str(tc['id']);
    let cur = st.byIndex.get(tIdx);
    if (cur === undefined || (id !== null && id !== '' && cur.id !== '' && cur.id !== id)) {
      if (st.calls.length >= MAX_ITEMS) {
        dropped = true;
        return;
      }
      cur = { id: id ?? '', name: '', args: createTextBuffer(max) };
      st.calls.push(cur);
      st.byIndex.set(tIdx, cur);
    } else if (id !== null && cur.id === '') cur.id = id;
    const fn = asRecord(tc['function']);
    const name = str(fn['name']);
    if (name !== null && name !== '' && cur.name === '') cur.name = name;
    const args = fn['arguments'];
    if (typeof args === 'string') cur.args.append(args);
    else if (args !== undefined && args !== null) cur.args.append(jsonText(args));
  }

  function pushChunk(v: JsonObject): void {
    const err = openAIError(v);
    if (err !== null) {
      apiError = err;
      return;
    }
    for (const key of ['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier']) {
      const val = v[key];
      if (val !== undefined && val !== null && val !== '' && val !== 0 && top[key] === undefined) top[key] = val;
    }
    if (v['prompt_filter_results'] !== undefined) promptFilter = v['prompt_filter_results'];
    if (isRecord(v['usage'])) usage = v['usage'];
    for (const cRaw of asArray(v['choices'])) {
      const c = asRecord(cRaw);
      const st = choice(num(c['index']) ?? 0);
      if (st === null) {
        dropped = true;
        continue;
      }
      const delta = asRecord(c['delta']);
      const content = str(delta['content']);
      if (content !== null) (st.content ??= createTextBuffer(max)).append(content);
      const refusal = str(delta['refusal']);
      if (refusal !== null) (st.refusal ??= createTextBuffer(max)).append(refusal);
      // vLLM / DeepSeek say `reasoning_content`, Ollama's /v1 and OpenRouter say `reasoning`.
      for (const field of ['reasoning_content', 'reasoning']) {
        const r = str(delta[field]);
        if (r !== null) {
          st.reasoningField = field;
          (st.reasoning ??= createTextBuffer(max)).append(r);
        }
      }
      asArray(delta['tool_calls']).forEach((tc, i) => mergeToolCall(st, asRecord(tc), i));
      const fr = str(c['finish_reason']);
      if (fr !== null) st.finishReason = fr;
      const cf = c['content_filter_results'];
      if (isRecord(cf) && Object.keys(cf).length > 0) st.contentFilter = cf;
    }
  }

  return {
    push(frame) {
      chunks += 1;
      if (frame.kind === 'done') done = true;
      else if (frame.kind === 'malformed') malformed += 1;
      else if (isRecord(frame.value)) pushChunk(frame.value);
      else malformed += 1;
    },
    finish({ complete }) {
      const ex = baseExchange(req);
      const sorted = [...choices.values()].sort((a, b) => a.index - b.index);
      let truncated = dropped;
      const outChoices = sorted.map((st) => {
        const message: JsonObject = { role: 'assistant', content: st.content?.text ?? null, refusal: st.refusal?.text ?? null };
        if (st.reasoning !== null) message[st.reasoningField] = st.reasoning.text;
        if (st.calls.length > 0) {
          message['tool_calls'] = st.calls.map((c, i) => ({
            id: c.id === '' ? `call_${st.index}_${i}` : c.id,
            type: 'function',
            function: { name: c.name, arguments: c.args.text },
          }));
        }
        truncated ||= [st.content, st.refusal, st.reasoning].some((b) => b?.truncated === true) || st.calls.some((c) => c.args.truncated);
        const out: JsonObject = { index: st.index, message, logprobs: null, finish_reason: st.finishReason };
        if (st.contentFilter !== null) out['content_filter_results'] = st.contentFilter;
        return out;
      });
      const reconstructed: JsonObject = {
        id: top['id'] ?? null,
        object: 'chat.completion',
        created: top['created'] ?? null,
        model: top['model'] ?? null,
        choices: outChoices,
      };
      if (usage !== null) reconstructed['usage'] = usage;
      if (top['service_tier'] !== undefined) reconstructed['service_tier'] = top['service_tier'];
      if (top['system_fingerprint'] !== undefined) reconstructed['system_fingerprint'] = top['system_fingerprint'];
      if (promptFilter !== null) reconstructed['prompt_filter_results'] = promptFilter;
      fillFromCompletion(ex, reconstructed, max);
      ex.chunks = chunks;
      ex.apiError = apiError;
      ex.complete = complete && done;
      const first = sorted[0];
      return withFlags(ex, { truncated, malformed, refusal: first?.refusal?.text ?? null });
    },
  };
}

/** Non-streamed body: the `chat.completion` object (or an error object) as the API returned it. */
export function fromOpenAIChatResponse(requestBody: unknown, responseBody: unknown, options: AdapterOptions = {}, summary?: RequestSide): NormalizedExchange {
  const ex = baseExchange(summary ?? summarizeOpenAIChatRequest(requestBody, options));
  const res = asRecord(responseBody);
  ex.reconstructed = responseBody ?? null;
  ex.apiError = openAIError(res);
  const { truncated } = fillFromCompletion(ex, res, options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES);
  ex.complete = true;
  const refusal = str(asRecord(asRecord(asArray(res['choices'])[0])['message'])['refusal']);
  return withFlags(ex, { truncated, malformed: 0, refusal });
}

/** Reads model, id, usage, finish reasons, output and tool calls from a chat.completion object. */
function fillFromCompletion(ex: NormalizedExchange, res: JsonObject, max: number): { truncated: boolean } {
  ex.reconstructed ??= res;
  ex.responseModel = str(res['model']);
  ex.responseId = str(res['id']);
  if (res['usage'] !== undefined) ex.usage = openAIUsage(res['usage']);
  let truncated = false;
  const toolCalls: ToolCall[] = [];
  asArray(res['choices']).forEach((cRaw, ci) => {
    const c = asRecord(cRaw);
    const fr = str(c['finish_reason']);
    if (fr !== null) ex.finishReasons.push(fr);
    const msg = asRecord(c['message']);
    if (ci === 0) {
      const out = boundText(contentText(msg['content']), max);
      const reasoning = boundText(str(msg['reasoning_content']) ?? str(msg['reasoning']), max);
      ex.outputText = out.text;
      ex.reasoningText = reasoning.text;
      truncated ||= out.truncated || reasoning.truncated;
    }
    for (const tcRaw of asArray(msg['tool_calls'])) {
      const tc = asRecord(tcRaw);
      const fn = asRecord(tc['function']);
      toolCalls.push({ id: str(tc['id']) ?? '', name: str(fn['name']) ?? '', arguments: jsonText(fn['arguments']) });
    }
    const legacy = msg['function_call'];
    if (isRecord(legacy)) toolCalls.push({ id: '', name: str(legacy['name']) ?? '', arguments: jsonText(legacy['arguments']) });
  });
  ex.toolCalls = toolCalls;
  return { truncated };
}
