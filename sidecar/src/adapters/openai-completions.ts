/**
 * OpenAI legacy completions (`POST /v1/completions`), also served by vLLM and llama.cpp.
 * Request `{model, prompt, suffix?, stream?}`; response `{id, object: 'text_completion', created,
 * model, choices: [{text, index, logprobs, finish_reason}], usage}` (OpenAI API reference,
 * "Completions"). Streamed, each chunk has the same shape with a text delta, then `data: [DONE]`.
 */
import {
  baseExchange,
  countRole,
  DEFAULT_MAX_TEXT_BYTES,
  emptySummary,
  MAX_ITEMS,
  requestSide,
  withFlags,
  type AdapterOptions,
  type RequestSide,
  type StreamAccumulator,
} from './accumulator.ts';
import { asArray, asRecord, isRecord, num, str, type JsonObject } from './json-access.ts';
import { openAIError, openAIUsage } from './openai-chat.ts';
import { boundText, createTextBuffer, type TextBuffer } from './text-buffer.ts';
import type { NormalizedExchange } from './types.ts';

export function summarizeOpenAICompletionsRequest(body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  const messages = emptySummary();
  const prompt = req['prompt'];
  const first = Array.isArray(prompt) ? prompt[0] : prompt;
  if (prompt !== undefined) countRole(messages, 'user');
  messages.firstUser = typeof first === 'string' ? first : null;
  if (messages.firstUser !== null) messages.input = [{ role: 'user', parts: [{ type: 'text', content: messages.firstUser }] }];
  return requestSide('openai.completions', options.provider ?? 'openai', 'text_completion', {
    requestModel: str(req['model']),
    stream: req['stream'] === true,
    messages,
  });
}

export function createOpenAICompletionsAccumulator(requestBody: unknown, options: AdapterOptions = {}): StreamAccumulator {
  const max = options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES;
  const choices = new Map<number, { text: TextBuffer; finish: string | null }>();
  const top: JsonObject = {};
  let usage: unknown = null;
  let apiError: NormalizedExchange['apiError'] = null;
  let done = false;
  let chunks = 0;
  let malformed = 0;
  let dropped = false;
  return {
    push(frame) {
      chunks += 1;
      if (frame.kind === 'done') {
        done = true;
        return;
      }
      if (frame.kind === 'malformed' || !isRecord(frame.value)) {
        malformed += 1;
        return;
      }
      const v = frame.value;
      apiError = openAIError(v) ?? apiError;
      for (const key of ['id', 'created', 'model', 'system_fingerprint']) if (top[key] === undefined && v[key] !== undefined) top[key] = v[key];
      if (isRecord(v['usage'])) usage = v['usage'];
      for (const cRaw of asArray(v['choices'])) {
        const c = asRecord(cRaw);
        const idx = num(c['index']) ?? 0;
        let st = choices.get(idx);
        if (st === undefined) {
          if (choices.size >= MAX_ITEMS) {
            dropped = true;
            continue;
          }
          choices.set(idx, (st = { text: createTextBuffer(max), finish: null }));
        }
        st.text.append(str(c['text']) ?? '');
        st.finish = str(c['finish_reason']) ?? st.finish;
      }
    },
    finish({ complete }) {
      const sorted = [...choices.entries()].sort((a, b) => a[0] - b[0]);
      const reconstructed: JsonObject = {
        id: top['id'] ?? null,
        object: 'text_completion',
        created: top['created'] ?? null,
        model: top['model'] ?? null,
        choices: sorted.map(([index, st]) => ({ text: st.text.text, index, logprobs: null, finish_reason: st.finish })),
      };
      if (top['system_fingerprint'] !== undefined) reconstructed['system_fingerprint'] = top['system_fingerprint'];
      if (usage !== null) reconstructed['usage'] = usage;
      const ex = fromOpenAICompletionsResponse(requestBody, reconstructed, options);
      ex.chunks = chunks;
      ex.apiError = apiError;
      ex.complete = complete && done;
      return withFlags(ex, { truncated: dropped || sorted.some(([, st]) => st.text.truncated), malformed });
    },
  };
}

export function fromOpenAICompletionsResponse(requestBody: unknown, responseBody: unknown, options: AdapterOptions = {}, summary?: RequestSide): NormalizedExchange {
  const ex = baseExchange(summary ?? summarizeOpenAICompletionsRequest(requestBody, options));
  const res = asRecord(responseBody);
  ex.reconstructed = responseBody ?? null;
  ex.responseModel = str(res['model']);
  ex.responseId = str(res['id']);
  ex.apiError = openAIError(res);
  if (res['usage'] !== undefined) ex.usage = openAIUsage(res['usage']);
  const choices = asArray(res['choices']).map(asRecord);
  for (const c of choices) {
    const fr = str(c['finish_reason']);
    if (fr !== null) ex.finishReasons.push(fr);
  }
  const out = boundText(str(choices[0]?.['text']), options.maxTextBytes ?? DEFAULT_MAX_TEXT_BYTES);
  ex.outputText = out.text;
  ex.complete = true;
  return withFlags(ex, { truncated: out.truncated, malformed: 0 });
}
