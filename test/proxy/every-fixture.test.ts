// Every recorded wire fixture (test/fixtures/wire/manifest.json) through the proxy, so every
// adapter family is exercised end to end at least once — OpenAI chat (stream with
// the include_usage chunk, non-stream), Azure (content filter, filtered), Responses (text and
// function call), embeddings, completions, Anthropic (thinking + signature deltas, ping, mid-stream
// error), Ollama chat/generate NDJSON, non-stream, /api/embed, and Ollama /v1 (index-0 parallel
// tool calls) — plus an opaque exchange. The client gets the recorded bytes unchanged, and the
// entry holds what the adapter alone makes of the same bytes (usage, model, tool calls, the
// reconstructed response, completeness).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, detectApi, type NormalizedExchange } from '../../sidecar/src/adapters/index.ts';
import type { EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import { loadWireFixture, startReplayUpstream, type ReplayUpstream, type WireFixture } from '../support/replay-upstream.ts';
import { wireFixture, wireFixtures } from '../adapters/wire-fixtures.ts';
import { MemorySink, startStack, type Stack } from './harness.ts';

let up: ReplayUpstream;
let stack: Stack;
const sink = new MemorySink();
let current: WireFixture;

beforeAll(async () => {
  up = await startReplayUpstream();
  up.script(() => current.script);
  stack = await startStack({
    config: {
      endpoints: [
        { name: 'openai', upstream: up.url, api: 'openai' },
        { name: 'azure', upstream: up.url, api: 'azure-openai' },
        { name: 'anthropic', upstream: up.url, api: 'anthropic' },
        { name: 'ollama', upstream: up.url, api: 'ollama' },
        { name: 'files', upstream: up.url, api: 'generic' },
      ],
      log: { durability: 'strict' },
    },
    sink,
  });
});
afterAll(async () => {
  await stack?.close();
  await up?.close();
});

/** What the adapter alone makes of the fixture (as test/adapters/wire-fixtures.test.ts runs it). */
function direct(name: string): NormalizedExchange {
  const f = wireFixture(name);
  const det = detectApi({ method: f.method, path: f.path, endpointApi: f.provider === 'ollama' ? 'ollama' : 'auto', contentType: 'application/json' });
  const a = createAdapter(det.api, f.requestBody, { provider: det.provider, contentType: f.contentType, status: f.status, ...(det.deployment === undefined ? {} : { defaultModel: det.deployment }) });
  a.push(f.responseBody);
  return a.finish({ complete: true });
}

const prefix = (f: WireFixture): string => (f.provider === 'azure' ? 'azure' : f.provider === 'anthropic' ? 'anthropic' : f.provider === 'ollama' ? 'ollama' : 'openai');

describe('every wire fixture through the proxy', () => {
  const names = wireFixtures().map((f) => f.name);

  it('covers every API family the adapters read', () => {
    const apis = new Set(wireFixtures().map((f) => f.api));
    for (const api of ['openai.chat', 'openai.responses', 'openai.embeddings', 'openai.completions', 'anthropic.messages', 'ollama.chat', 'ollama.generate']) expect(apis).toContain(api);
    expect(names).toEqual(expect.arrayContaining(['azure-chat-stream-content-filter', 'anthropic-stream-error', 'anthropic-stream-thinking-tool-use', 'ollama-v1-chat-stream-parallel-tools']));
  });

  it.each(names)('%s', async (name) => {
    current = loadWireFixture(name);
    const before = sink.entries.length;
    const res = await fetch(`${stack.base}/${prefix(current)}${current.path}`, {
      method: current.method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(current.request),
    });
    const got = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(current.status);
    expect(got.equals(current.body)).toBe(true);
    await sink.count(before + 1);
    const e = sink.entries[before] as EntryPayload;
    expect(e.id).toBe(res.headers.get('x-llmaudit-id'));

    const ex = direct(name);
    expect(e.api).toBe(ex.api);
    expect(e.model).toBe(ex.responseModel ?? ex.requestModel);
    expect(e.usage.inputTokens).toBe(ex.usage.inputTokens);
    expect(e.usage.outputTokens).toBe(ex.usage.outputTokens);
    expect(e.trace.toolCalls).toEqual(ex.toolCalls.map((c) => ({ id: c.id, name: c.name })));
    expect(e.response.body).toEqual(ex.reconstructed);
    expect(e.response.complete).toBe(ex.complete && ex.apiError === null);
    expect(e.response.streamed).toBe(/event-stream|ndjson/.test(current.contentType));
    if (name === 'anthropic-stream-error') expect(e.trace.spanType).toBe('ERROR');
  });

  it('a stream sent without a content-type is relayed as it comes and parsed by the request stream flag', async () => {
    // Regression: a stream without a content-type was parsed as one JSON body, so usage and tool
    // calls were lost. The relay never cared (each chunk is written as it arrives); now the adapter
    // frames the captured body by the request's `stream` flag as well.
    const fx = loadWireFixture('ollama-chat-stream-tools');
    current = { ...fx, script: { status: 200, headers: {}, frames: fx.frames } };
    const before = sink.entries.length;
    const res = await fetch(`${stack.base}/ollama${fx.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fx.request) });
    expect(Buffer.from(await res.arrayBuffer()).equals(fx.body)).toBe(true);
    await sink.count(before + 1);
    const e = sink.entries[before] as EntryPayload;
    const ex = direct('ollama-chat-stream-tools');
    expect(e.api).toBe('ollama.chat');
    expect(e.usage).toMatchObject({ inputTokens: ex.usage.inputTokens, outputTokens: ex.usage.outputTokens });
    expect(e.trace.toolCalls).toEqual(ex.toolCalls.map((c) => ({ id: c.id, name: c.name })));
    expect(e.response.body).toEqual(ex.reconstructed);
    expect(e.response.streamed).toBe(false); // "streamed" reflects the response's declared media type
  });

  it('anything else is forwarded and recorded opaquely (digest, size, status)', async () => {
    current = { ...loadWireFixture('openai-embeddings'), script: { status: 201, headers: { 'content-type': 'application/octet-stream' }, frames: [Buffer.from([0, 1, 2, 255])] } };
    const before = sink.entries.length;
    const res = await fetch(`${stack.base}/files/v1/files`, { method: 'PUT', body: 'raw upload' });
    expect(res.status).toBe(201);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from([0, 1, 2, 255]))).toBe(true);
    await sink.count(before + 1);
    const e = sink.entries[before] as EntryPayload;
    expect(e).toMatchObject({ api: 'opaque', model: null, response: { status: 201, bytes: 4, complete: true, bodySha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(e.request).toMatchObject({ method: 'PUT', bytes: 10 });
  });
});
