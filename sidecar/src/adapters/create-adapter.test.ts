import { describe, expect, it } from 'vitest';
import { createAdapter } from './create-adapter.ts';
import type { ApiKind } from './types.ts';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const sse = (...frames: unknown[]): string => frames.map((f) => (typeof f === 'string' ? f : `data: ${JSON.stringify(f)}\n\n`)).join('');
const chunk = (delta: Record<string, unknown>, finish: string | null = null, index = 0) => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index, delta, finish_reason: finish }] });

function feed(kind: ApiKind, request: unknown, body: string, opts: { contentType?: string | null; status?: number; complete?: boolean; maxTextBytes?: number } = {}) {
  const a = createAdapter(kind, request, { contentType: opts.contentType === undefined ? 'text/event-stream' : opts.contentType, status: opts.status ?? 200, ...(opts.maxTextBytes === undefined ? {} : { maxTextBytes: opts.maxTextBytes }) });
  a.push(enc(body));
  return a.finish({ complete: opts.complete ?? true });
}

const chatReq = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };

describe('createAdapter', () => {
  it('a malformed JSON frame is counted and the exchange still produced', () => {
    const ex = feed('openai.chat', chatReq, sse(chunk({ content: 'Hel' }), 'data: {"id": broken\n\n', chunk({ content: 'lo' }, 'stop'), 'data: [DONE]\n\n'));
    expect(ex).toMatchObject({ outputText: 'Hello', malformedFrames: 1, complete: true, chunks: 4 });
  });

  it('unknown event types are tolerated (Responses and Anthropic)', () => {
    const resp = { id: 'resp_1', object: 'response', status: 'completed', model: 'm', output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'ok' }] }], usage: { input_tokens: 1, output_tokens: 1 } };
    const r = feed('openai.responses', { model: 'm', input: 'x', stream: true }, `event: response.future_thing\ndata: {"type":"response.future_thing","x":1}\n\nevent: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: resp })}\n\n`);
    expect(r).toMatchObject({ outputText: 'ok', complete: true, chunks: 2 });
    expect(r.malformedFrames).toBeUndefined();
    const msg = { id: 'msg_1', type: 'message', role: 'assistant', model: 'c', content: [], usage: { input_tokens: 3, output_tokens: 1 } };
    const a = feed('anthropic.messages', { model: 'c', stream: true, messages: [] }, [
      `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: msg })}\n\n`,
      'event: brand_new\ndata: {"type":"brand_new"}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"mystery_block","x":1}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"mystery_delta"}}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ].join(''));
    expect(a).toMatchObject({ complete: true, outputText: null, reconstructed: { content: [{ type: 'mystery_block', x: 1 }] } });
  });

  it('a stream cut before its end is incomplete and keeps what arrived', () => {
    const ex = feed('openai.chat', chatReq, sse(chunk({ content: 'partial' })), { complete: false });
    expect(ex).toMatchObject({ outputText: 'partial', complete: false, finishReasons: [] });
    // The transport finished but the protocol end ([DONE]) never came.
    expect(feed('openai.chat', chatReq, sse(chunk({ content: 'x' }, 'stop'))).complete).toBe(false);
  });

  it('bounds accumulated text and flags truncation', () => {
    const ex = feed('openai.chat', chatReq, sse(chunk({ content: 'ab°' }), chunk({ content: 'cdef' }), 'data: [DONE]\n\n'), { maxTextBytes: 4 });
    expect(ex).toMatchObject({ outputText: 'ab°', truncated: true });
  });

  it('an error status gives apiError from the body, in each family shape', () => {
    expect(feed('openai.chat', chatReq, '{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}', { status: 401, contentType: 'application/json' }).apiError).toEqual({ type: 'invalid_request_error', message: 'Incorrect API key' });
    expect(feed('anthropic.messages', {}, '{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}', { status: 429, contentType: 'application/json' }).apiError).toEqual({ type: 'rate_limit_error', message: 'slow down' });
    expect(feed('ollama.chat', {}, '{"error":"model \\"nope\\" not found"}', { status: 404, contentType: 'application/json' }).apiError).toEqual({ type: 'error', message: 'model "nope" not found' });
    expect(feed('ollama.chat', {}, 'Bad Gateway', { status: 502, contentType: 'text/plain' })).toMatchObject({ apiError: null, malformedFrames: 1, reconstructed: null });
  });

  it('mid-stream error frames are reported (OpenAI data error, Ollama error line, Responses error)', () => {
    expect(feed('openai.chat', chatReq, sse(chunk({ content: 'a' }), { error: { message: 'The server had an error', type: 'server_error' } })).apiError).toEqual({ type: 'server_error', message: 'The server had an error' });
    const o = feed('ollama.chat', { model: 'q', messages: [] }, '{"model":"q","created_at":"t","message":{"role":"assistant","content":"a"},"done":false}\n{"error":"an error was encountered while running the model"}\n', { contentType: 'application/x-ndjson' });
    expect(o).toMatchObject({ outputText: 'a', complete: false, apiError: { message: 'an error was encountered while running the model' } });
    const r = feed('openai.responses', { model: 'm', input: 'x', stream: true }, 'event: error\ndata: {"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}\n\n');
    expect(r).toMatchObject({ apiError: { type: 'ERR_SOMETHING', message: 'Something went wrong' }, complete: false });
  });

  it('a request body that is not JSON makes the exchange opaque', () => {
    const a = createAdapter('openai.chat', enc('{not json'), { contentType: 'application/json' });
    a.push(enc('{"ok":true}'));
    expect(a.api).toBe('opaque');
    expect(a.finish({ complete: true })).toMatchObject({ api: 'opaque', reconstructed: null, complete: true });
  });

  it('without a content-type, frames by the request stream flag (Ollama streams by default)', () => {
    const o = feed('ollama.generate', { model: 'l', prompt: 'p' }, '{"model":"l","created_at":"t","response":"x","done":false}\n{"model":"l","created_at":"t","response":"","done":true,"done_reason":"stop","eval_count":1}\n', { contentType: null });
    expect(o).toMatchObject({ stream: true, outputText: 'x', complete: true, usage: { outputTokens: 1 } });
    const c = feed('openai.chat', { ...chatReq, stream: false }, JSON.stringify({ id: 'c', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'y' }, finish_reason: 'stop' }] }), { contentType: null });
    expect(c).toMatchObject({ stream: false, outputText: 'y', complete: true });
  });

  it('pushBody and a body over maxBodyBytes', () => {
    const a = createAdapter('openai.embeddings', { model: 'e', input: 'x' }, { maxBodyBytes: 8 });
    a.setResponse({ status: 200, contentType: 'application/json' });
    a.pushBody(enc('{"object":"list","data":[]}'));
    expect(a.finish({ complete: true })).toMatchObject({ truncated: true, reconstructed: null, requestModel: 'e' });
  });

  it('a Responses stream cut before response.completed is rebuilt from items and deltas', () => {
    const base = { type: 'response.created', response: { id: 'resp_2', object: 'response', status: 'in_progress', model: 'm', output: [] } };
    const ex = feed('openai.responses', { model: 'm', input: 'x', stream: true }, [
      `event: response.created\ndata: ${JSON.stringify(base)}\n\n`,
      'event: response.output_item.added\ndata: {"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"call_1","name":"f","arguments":""}}\n\n',
      'event: response.function_call_arguments.delta\ndata: {"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":0,"delta":"{\\"a\\":"}\n\n',
      'event: response.output_item.added\ndata: {"type":"response.output_item.added","output_index":1,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}\n\n',
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hal"}\n\n',
    ].join(''), { complete: false });
    expect(ex).toMatchObject({ complete: false, outputText: 'Hal', toolCalls: [{ id: 'call_1', name: 'f', arguments: '{"a":' }], finishReasons: ['incomplete'], reconstructed: { id: 'resp_2', status: 'incomplete' } });
  });

  it('OpenAI refusal, several choices, and tool call ids at a reused index', () => {
    const ex = feed('openai.chat', { ...chatReq, n: 2 }, sse(
      chunk({ role: 'assistant', refusal: "I can't" }),
      chunk({ refusal: ' help with that.' }, 'stop'),
      chunk({ content: 'Sure' }, 'stop', 1),
      'data: [DONE]\n\n',
    ));
    expect(ex).toMatchObject({ refusal: "I can't help with that.", outputText: null, finishReasons: ['stop', 'stop'] });
    expect((ex.reconstructed as { choices: unknown[] }).choices).toHaveLength(2);
  });

  it('anthropic: tool_result blocks with is_error and array content, system blocks, invalid partial JSON kept', () => {
    const req = {
      model: 'c',
      stream: true,
      system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Be kind.' }],
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'run', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', is_error: true, content: [{ type: 'text', text: 'boom' }, { type: 'text', text: 'again' }] }] },
      ],
    };
    const ex = feed('anthropic.messages', req, [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_2","name":"run","input":{}}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"cmd\\": \\"l"}}\n\n',
    ].join(''), { complete: false });
    expect(ex.messages).toMatchObject({ system: 'Be brief.\nBe kind.', firstUser: 'go', hasHistory: true });
    expect(ex.toolResults).toEqual([{ callId: 'toolu_1', name: 'run', content: 'boom\nagain', isError: true }]);
    expect(ex.toolCalls).toEqual([{ id: 'toolu_2', name: 'run', arguments: '{"cmd": "l' }]);
    expect(ex).toMatchObject({ complete: false, malformedFrames: 1, reconstructed: { content: [{ type: 'tool_use', input: '{"cmd": "l' }] } });
  });

  it('summarizes the request at once for the tracer, with the GenAI semconv input shape', () => {
    const a = createAdapter('openai.chat', { model: 'm', messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'text', text: 'u' }, { type: 'image_url', image_url: { url: 'x' } }] }] });
    expect(a.request).toMatchObject({ api: 'openai.chat', provider: 'openai', operation: 'chat', requestModel: 'm', stream: false, messages: { system: 's', firstUser: 'u', hasHistory: false } });
    expect(a.request.messages.input).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 's' }] },
      { role: 'user', parts: [{ type: 'text', content: 'u' }] },
    ]);
  });
});
