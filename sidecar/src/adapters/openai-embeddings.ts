/**
 * OpenAI embeddings (`POST /v1/embeddings`; Azure `/openai/deployments/{d}/embeddings`). Never
 * streamed. Request `{model, input: string | string[] | token arrays}`; response
 * `{object: 'list', data: [{object: 'embedding', index, embedding}], model, usage: {prompt_tokens,
 * total_tokens}}` (OpenAI API reference, "Embeddings").
 */
import { baseExchange, countRole, emptySummary, requestSide, usageFrom, withFlags, type AdapterOptions, type RequestSide } from './accumulator.ts';
import { asRecord, str } from './json-access.ts';
import { openAIError } from './openai-chat.ts';
import type { NormalizedExchange } from './types.ts';

export function summarizeOpenAIEmbeddingsRequest(body: unknown, options: AdapterOptions = {}): RequestSide {
  const req = asRecord(body);
  const messages = emptySummary();
  const input = req['input'];
  const inputs = Array.isArray(input) ? input : input === undefined ? [] : [input];
  for (const _ of inputs) countRole(messages, 'user');
  const first = inputs[0];
  messages.firstUser = typeof first === 'string' ? first : null;
  return requestSide('openai.embeddings', options.provider ?? 'openai', 'embeddings', { requestModel: str(req['model']), stream: false, messages });
}

export function fromOpenAIEmbeddingsResponse(requestBody: unknown, responseBody: unknown, options: AdapterOptions = {}, summary?: RequestSide): NormalizedExchange {
  const ex = baseExchange(summary ?? summarizeOpenAIEmbeddingsRequest(requestBody, options));
  const res = asRecord(responseBody);
  ex.reconstructed = responseBody ?? null;
  ex.responseModel = str(res['model']);
  ex.apiError = openAIError(res);
  const usage = asRecord(res['usage']);
  ex.usage = usageFrom(usage['prompt_tokens'], res['usage'] === undefined ? null : 0);
  ex.complete = true;
  return withFlags(ex, { truncated: false, malformed: 0 });
}
