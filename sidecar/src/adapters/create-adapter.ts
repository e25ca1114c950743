/**
 * The one entry point the proxy uses: raw (already content-decoded) response bytes in, a
 * normalized exchange out. Framing is chosen from the response content-type — SSE
 * (`text/event-stream`), NDJSON (`application/x-ndjson`, Ollama) or a whole JSON body — and, when
 * the upstream sent none, from the request's own `stream` flag. The adapter keeps no raw frames:
 * only the parser's current partial line and what the family accumulator needs.
 *
 * Degrade, never fail: a request body that is not JSON makes the exchange opaque, a frame that
 * is not JSON is counted in `malformedFrames`, an oversized body or text sets `truncated`.
 */
import { baseExchange, withFlags, type AdapterOptions, type RequestSide, type StreamAccumulator, type StreamFrame } from './accumulator.ts';
import { createAnthropicAccumulator, fromAnthropicResponse, summarizeAnthropicRequest } from './anthropic-messages.ts';
import { isRecord } from './json-access.ts';
import { createNdjsonParser, type NdjsonParser } from './ndjson-parser.ts';
import { createOllamaAccumulator, fromOllamaResponse, summarizeOllamaRequest } from './ollama.ts';
import { createOpenAIChatAccumulator, fromOpenAIChatResponse, openAIError, summarizeOpenAIChatRequest } from './openai-chat.ts';
import { createOpenAICompletionsAccumulator, fromOpenAICompletionsResponse, summarizeOpenAICompletionsRequest } from './openai-completions.ts';
import { fromOpenAIEmbeddingsResponse, summarizeOpenAIEmbeddingsRequest } from './openai-embeddings.ts';
import { createOpenAIResponsesAccumulator, fromOpenAIResponsesResponse, summarizeOpenAIResponsesRequest } from './openai-responses.ts';
import { opaqueExchange, summarizeOpaqueRequest } from './opaque.ts';
import { createSseParser, type SseParser } from './sse-parser.ts';
import type { ApiKind, NormalizedExchange } from './types.ts';

export interface CreateAdapterOptions extends AdapterOptions {
  /** Response content-type, if known when the adapter is made (else call setResponse). */
  contentType?: string | null;
  /** Response status, if known when the adapter is made (else call setResponse). */
  status?: number;
  /** Bound on a non-streamed body kept for parsing, in bytes. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Model to report when the body names none (Azure: the deployment from detectApi). */
  defaultModel?: string;
}

export interface Adapter {
  /** The API family actually used (`opaque` when the request body was not JSON). */
  readonly api: ApiKind;
  /** The request side, available at once (for the tracer's begin()). */
  readonly request: RequestSide;
  /** Response status and content-type; call before the first push if not given at creation. */
  setResponse(info: { status: number; contentType?: string | null }): void;
  /** Response bytes as they arrive (decoded from gzip/br/deflate by the caller). */
  push(chunk: Uint8Array): void;
  /** A whole non-streamed body at once. */
  pushBody(body: Uint8Array): void;
  /** `complete`: the transport delivered the whole response (no reset, abort, timeout). */
  finish(opts: { complete: boolean }): NormalizedExchange;
}

const STREAMING_KINDS: ReadonlySet<ApiKind> = new Set(['openai.chat', 'openai.completions', 'openai.responses', 'anthropic.messages', 'ollama.chat', 'ollama.generate']);

/** Parses a request body given as bytes or text; `undefined` when it is not JSON. */
function parseRequest(body: unknown): unknown {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return body;
  try {
    return JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export function summarizeRequest(kind: ApiKind, body: unknown, options: AdapterOptions = {}): RequestSide {
  switch (kind) {
    case 'openai.chat':
      return summarizeOpenAIChatRequest(body, options);
    case 'openai.responses':
      return summarizeOpenAIResponsesRequest(body, options);
    case 'openai.embeddings':
      return summarizeOpenAIEmbeddingsRequest(body, options);
    case 'openai.completions':
      return summarizeOpenAICompletionsRequest(body, options);
    case 'anthropic.messages':
      return summarizeAnthropicRequest(body, options);
    case 'ollama.chat':
    case 'ollama.generate':
    case 'ollama.embed':
      return summarizeOllamaRequest(kind, body, options);
    case 'opaque':
      return summarizeOpaqueRequest(body, options);
  }
}

function accumulatorFor(kind: ApiKind, body: unknown, options: AdapterOptions): StreamAccumulator | null {
  switch (kind) {
    case 'openai.chat':
      return createOpenAIChatAccumulator(body, options);
    case 'openai.completions':
      return createOpenAICompletionsAccumulator(body, options);
    case 'openai.responses':
      return createOpenAIResponsesAccumulator(body, options);
    case 'anthropic.messages':
      return createAnthropicAccumulator(body, options);
    case 'ollama.chat':
    case 'ollama.generate':
      return createOllamaAccumulator(kind, body, options);
    default:
      return null;
  }
}

/** `summary`: the request side already summarized when the adapter was made (not redone per response). */
function fromBody(kind: ApiKind, body: unknown, response: unknown, options: AdapterOptions, summary: RequestSide): NormalizedExchange {
  switch (kind) {
    case 'openai.chat':
      return fromOpenAIChatResponse(body, response, options, summary);
    case 'openai.responses':
      return fromOpenAIResponsesResponse(body, response, options, summary);
    case 'openai.embeddings':
      return fromOpenAIEmbeddingsResponse(body, response, options, summary);
    case 'openai.completions':
      return fromOpenAICompletionsResponse(body, response, options, summary);
    case 'anthropic.messages':
      return fromAnthropicResponse(body, response, options, summary);
    case 'ollama.chat':
    case 'ollama.generate':
    case 'ollama.embed':
      return fromOllamaResponse(kind, body, response, options, summary);
    case 'opaque':
      return opaqueExchange(body, { complete: true }, options);
  }
}

type Mode = 'sse' | 'ndjson' | 'body' | 'opaque';

export function createAdapter(kind: ApiKind, requestBody: unknown, options: CreateAdapterOptions = {}): Adapter {
  const body = parseRequest(requestBody);
  const api: ApiKind = body === undefined ? 'opaque' : kind;
  const familyOptions: AdapterOptions = {};
  if (options.provider !== undefined) familyOptions.provider = options.provider;
  if (options.maxTextBytes !== undefined) familyOptions.maxTextBytes = options.maxTextBytes;
  const request = summarizeRequest(api, body, familyOptions);
  const defaultModel = options.defaultModel ?? null;
  request.requestModel ??= defaultModel;
  const maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;
  let status = options.status ?? 200;
  let contentType = options.contentType ?? null;
  let mode: Mode | null = null;
  let sse: SseParser | null = null;
  let ndjson: NdjsonParser | null = null;
  let acc: StreamAccumulator | null = null;
  const parts: Uint8Array[] = [];
  let bodyBytes = 0;
  let bodyOverflow = false;
  let frames = 0;

  function decideMode(): Mode {
    if (api === 'opaque') return 'opaque';
    const ct = (contentType ?? '').toLowerCase();
    if (status >= 400) return 'body';
    if (ct.includes('text/event-stream')) return 'sse';
    if (ct.includes('ndjson')) return 'ndjson';
    if (ct.includes('json')) return 'body';
    if (!request.stream) return 'body';
    return api === 'ollama.chat' || api === 'ollama.generate' ? 'ndjson' : 'sse';
  }

  function feed(frame: StreamFrame): void {
    frames += 1;
    acc?.push(frame);
  }

  function start(): Mode {
    if (mode !== null) return mode;
    mode = decideMode();
    if ((mode === 'sse' || mode === 'ndjson') && STREAMING_KINDS.has(api)) acc = accumulatorFor(api, body, familyOptions);
    if (mode === 'sse') sse = createSseParser();
    if (mode === 'ndjson') ndjson = createNdjsonParser();
    return mode;
  }

  function onSse(events: ReturnType<SseParser['push']>): void {
    for (const ev of events) {
      const event = ev.type === 'message' ? null : ev.type;
      if (ev.data.trim() === '[DONE]') feed({ kind: 'done' });
      else {
        try {
          feed({ kind: 'json', event, value: JSON.parse(ev.data) as unknown });
        } catch {
          feed({ kind: 'malformed', event });
        }
      }
    }
  }

  function onNdjson(lines: ReturnType<NdjsonParser['push']>): void {
    for (const line of lines) feed(line.ok ? { kind: 'json', event: null, value: line.value } : { kind: 'malformed', event: null });
  }

  function push(chunk: Uint8Array): void {
    const m = start();
    if (m === 'sse' && sse !== null) onSse(sse.push(chunk));
    else if (m === 'ndjson' && ndjson !== null) onNdjson(ndjson.push(chunk));
    else if (m === 'body') {
      if (bodyOverflow) return;
      if (bodyBytes + chunk.byteLength > maxBodyBytes) {
        bodyOverflow = true;
        parts.length = 0;
        return;
      }
      parts.push(Uint8Array.from(chunk)); // a copy: the caller may reuse its buffer
      bodyBytes += chunk.byteLength;
    }
  }

  function finishBody(complete: boolean): NormalizedExchange {
    if (bodyOverflow) return withFlags(requestOnly(complete), { truncated: true, malformed: 0 });
    const text = Buffer.concat(parts).toString('utf8');
    parts.length = 0;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch {
      return withFlags(requestOnly(complete), { truncated: false, malformed: text === '' ? 0 : 1 });
    }
    if (status >= 400) {
      const ex = requestOnly(complete);
      ex.reconstructed = parsed;
      ex.apiError = (isRecord(parsed) ? openAIError(parsed) : null) ?? { type: `http_${status}`, message: '' };
      return ex;
    }
    const ex = fromBody(api, body, parsed, familyOptions, request);
    ex.complete = complete && ex.complete;
    return ex;
  }

  function requestOnly(complete: boolean): NormalizedExchange {
    const ex = baseExchange(request);
    ex.complete = complete;
    return ex;
  }

  return {
    api,
    request,
    setResponse(info) {
      status = info.status;
      if (info.contentType !== undefined) contentType = info.contentType;
    },
    push,
    pushBody(buf) {
      // Without a content-type the proxy cannot tell a stream from a body: frame it as decideMode
      // does, by the request's `stream` flag (Ollama streams NDJSON by default).
      if (mode === null && api !== 'opaque') {
        if (contentType === null || contentType === '') start();
        else mode = 'body';
      }
      push(buf);
    },
    finish({ complete }) {
      const ex = finishExchange(complete);
      ex.requestModel ??= defaultModel;
      return ex;
    },
  };

  function finishExchange(complete: boolean): NormalizedExchange {
    const m = start();
    if (m === 'opaque') return opaqueExchange(body, { complete }, familyOptions);
    if (m === 'body') return finishBody(complete);
    if (sse !== null) onSse(sse.end());
    if (ndjson !== null) onNdjson(ndjson.end());
    const oversized = sse?.oversized ?? 0;
    if (acc === null) {
      const ex = requestOnly(complete);
      ex.chunks = frames;
      return ex;
    }
    const ex = acc.finish({ complete });
    if (oversized > 0) {
      ex.truncated = true;
      ex.malformedFrames = (ex.malformedFrames ?? 0) + oversized;
    }
    return ex;
  }
}
