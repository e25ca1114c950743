// Recording: durability strict/batched, onLogFailure block/allow, capture modes, media files and
// secrets (docs/audit-log-format.md "The exchange").
import { request as httpRequest, IncomingMessage, ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AppendResult, EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import { startReplayUpstream } from '../support/replay-upstream.ts';
import { MemorySink, startStack, type Stack, useCleanups } from './harness.ts';

const { cleanups, upstream } = useCleanups();

async function stack<S extends MemorySink>(config: Record<string, unknown>, sink: S, chainDir?: string): Promise<Stack & { sink: S }> {
  const s = await startStack({ config, sink, ...(chainDir === undefined ? {} : { chainDir }) });
  cleanups.push(() => s.close());
  return { ...s, sink };
}

/** A sink whose appends wait until the test releases them. */
class GatedSink extends MemorySink {
  private gates: Array<() => void> = [];
  private calledWaiters: Array<() => void> = [];
  calls = 0;
  override append(payload: EntryPayload): Promise<AppendResult> {
    this.calls++;
    for (const w of this.calledWaiters.splice(0)) w();
    return new Promise<void>((r) => this.gates.push(r)).then(() => super.append(payload));
  }
  called(): Promise<void> {
    return this.calls > 0 ? Promise.resolve() : new Promise((r) => this.calledWaiters.push(r));
  }
  releaseAll(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

interface Reply {
  res: IncomingMessage;
  body: Buffer;
  ended: boolean;
  error: unknown;
}

function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): { head: Promise<IncomingMessage>; done: Promise<Reply>; received: () => number } {
  let got = 0;
  let resolveHead!: (r: IncomingMessage) => void;
  const head = new Promise<IncomingMessage>((r) => (resolveHead = r));
  const done = new Promise<Reply>((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'POST', headers: init.headers }, (res) => {
      resolveHead(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
      });
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks), ended: true, error: null }));
      res.on('error', (error) => resolve({ res, body: Buffer.concat(chunks), ended: false, error }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
  return { head, done, received: () => got };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const SECRET_BEARER = 'sk-proj-SECRETbearer0123456789abcdefWXYZ';
const SECRET_KEY = 'sk-ant-api03-SECRETxapikey0123456789QRST';

describe('durability', () => {
  it('strict: the final frame and the end of the response wait until the entry is appended', async () => {
    const frames = ['data: {"n":0}\n\n', 'data: {"n":1}\n\n', 'data: [DONE]\n\n'];
    const up = await upstream({ frames, headers: { 'content-type': 'text/event-stream' } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], log: { durability: 'strict' } }, new GatedSink());
    const r = send(`${s.base}/llm/x`, { method: 'GET' });
    let ended = false;
    void r.done.then(() => (ended = true));
    await s.sink.called();
    const before = (frames[0] as string).length + (frames[1] as string).length;
    while (r.received() < before) await new Promise<void>((res) => setImmediate(res));
    // Another full exchange through the proxy: the held frame had every chance to arrive by now.
    await send(`${s.base}/nope`, { method: 'GET' }).done;
    expect(ended).toBe(false);
    expect(r.received()).toBe(before); // [DONE] is held with the end
    expect((await r.head).headers['content-length']).toBeUndefined(); // chunked, so the terminator can be held
    s.sink.releaseAll();
    const reply = await r.done;
    expect(reply.ended).toBe(true);
    expect(reply.body.toString()).toBe(frames.join(''));
  });

  /** A non-streamed answer through `sink` under `durability`: no byte of it reaches the client before the append. */
  async function expectBodyHeldUntilAppended(durability: 'strict' | 'batched', sink: GatedSink): Promise<void> {
    const body = '{"object":"list","data":[]}';
    const up = await upstream({ frames: [body], headers: { 'content-type': 'application/json', 'content-length': String(body.length) } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], log: { durability } }, sink);
    const r = send(`${s.base}/llm/x`, { method: 'GET' });
    await sink.called();
    await send(`${s.base}/nope`, { method: 'GET' }).done;
    expect(r.received()).toBe(0);
    sink.releaseAll();
    expect((await r.done).body.toString()).toBe(body);
  }

  it('strict: a non-streamed body is held whole until the entry is appended', async () => {
    await expectBodyHeldUntilAppended('strict', new GatedSink());
  });

  it('batched, with the writer behind: the end of the response waits for its entry, as under strict', async () => {
    // What bounds memory when the log writer cannot keep up: responses stop outrunning their entries.
    class BehindSink extends GatedSink {
      behind(): boolean {
        return true;
      }
    }
    await expectBodyHeldUntilAppended('batched', new BehindSink());
  });

  it('batched: the response ends without waiting for the append', async () => {
    const up = await upstream({ frames: ['{"a":1}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], log: { durability: 'batched' } }, new GatedSink());
    const reply = await send(`${s.base}/llm/x`, { method: 'GET' }).done;
    expect(reply.ended).toBe(true);
    expect(s.sink.entries).toHaveLength(0); // still waiting in the gated sink
    s.sink.releaseAll();
    await s.sink.count(1);
  });

  it('batched: an answered exchange whose entry is still on its way to the log keeps neither its response nor its request alive', async () => {
    // Regression: the recording held the client's ServerResponse (and its IncomingMessage) until the entry was appended.
    const completion = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
    const up = await upstream({ frames: [completion], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], log: { durability: 'batched' } }, new GatedSink());
    const n = 12;
    for (let i = 0; i < n; i++) {
      const reply = await send(`${s.base}/openai/v1/chat/completions`, { headers: JSON_HEADERS, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `hi ${i}` }] }) }).done;
      expect(reply.res.statusCode).toBe(200);
    }
    expect(s.sink.calls).toBe(n);
    expect(s.sink.entries).toHaveLength(0); // every entry is still waiting in the gated sink
    expect(await liveInstances(ServerResponse.prototype)).toBeLessThan(n / 2);
    // The requests too: the proxy's, the client's own responses and the upstream's, a few per kept-alive connection at most.
    expect(await liveInstances(IncomingMessage.prototype)).toBeLessThan(n / 2);
    s.sink.releaseAll();
    await s.sink.count(n);
    expect(s.sink.entries.map((e) => e.response.status)).toEqual(Array.from({ length: n }, () => 200));
  });
});

/** Instances of `proto` alive after a full collection (the inspector's Runtime.queryObjects, which collects first). */
async function liveInstances(proto: object): Promise<number> {
  const session = new Session();
  session.connect();
  const g = globalThis as { llmauditProbe?: object };
  g.llmauditProbe = proto;
  try {
    const { result } = await session.post('Runtime.evaluate', { expression: 'globalThis.llmauditProbe' });
    const { objects } = await session.post('Runtime.queryObjects', { prototypeObjectId: result.objectId as string });
    const count = await session.post('Runtime.callFunctionOn', { objectId: objects.objectId as string, functionDeclaration: 'function () { return this.length; }', returnByValue: true });
    return count.result.value as number;
  } finally {
    delete g.llmauditProbe;
    session.disconnect();
  }
}

describe('stream parsing', () => {
  it('reconstructs a stream whose reads hold far more than one parse slice, split inside UTF-8 sequences', async () => {
    // The adapter parses queued frames 4 KiB a turn (and catches up past a 256 KiB backlog): a
    // slice boundary inside a frame or a multi-byte character must lose nothing.
    const n = 2000;
    const piece = (i: number) => `h\u00e9llo \u{1F44B} ${i} `;
    const frame = (i: number) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: piece(i) } : { content: piece(i) }, finish_reason: null }] })}\n\n`;
    const last = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;
    const text = Array.from({ length: n }, (_, i) => frame(i)).join('') + last;
    expect(Buffer.byteLength(text)).toBeGreaterThan(256 * 1024);
    const up = await upstream({ headers: { 'content-type': 'text/event-stream' }, frames: [text] }); // one write
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }] }, new MemorySink());
    const reply = await send(`${s.base}/openai/v1/chat/completions`, { headers: JSON_HEADERS, body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }) }).done;
    expect(reply.body.toString()).toBe(text);
    await s.sink.count(1);
    const e = s.sink.entries[0] as EntryPayload;
    const body = e.response.body as { choices: Array<{ message: { content: string }; finish_reason: string }> };
    expect(body.choices[0]?.message.content).toBe(Array.from({ length: n }, (_, i) => piece(i)).join(''));
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(e.response.complete).toBe(true);
    expect(e.response.bytes).toBe(Buffer.byteLength(text));
  });
});

describe('onLogFailure', () => {
  it('block: cuts a held strict response, then answers 503 without forwarding until an append succeeds', async () => {
    const up = await upstream({ frames: ['{"a":1}'], headers: JSON_HEADERS });
    const sink = new MemorySink();
    sink.fail = true;
    const s = await stack({ endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], log: { durability: 'strict', onLogFailure: 'block' } }, sink);
    // Never seen complete (here: not at all, the single chunk was held): it was not recorded.
    const first = await send(`${s.base}/openai/v1/models`, { method: 'GET' }).done.catch((err: unknown) => ({ ended: false, err }));
    expect(first.ended).toBe(false);
    expect(up.requests).toHaveLength(1);

    const refused = await send(`${s.base}/openai/v1/models`, { method: 'GET' }).done;
    expect(refused.res.statusCode).toBe(503);
    expect((JSON.parse(refused.body.toString()) as { error: { code: string } }).error.code).toBe('LLMAUDIT_E_LOG_UNAVAILABLE');
    expect(up.requests).toHaveLength(1);

    sink.fail = false;
    const probe = await send(`${s.base}/openai/v1/models`, { method: 'GET' }).done;
    expect(probe.res.statusCode).toBe(503); // refused, but its entry was written: the gate opens
    expect(sink.entries[0]?.response.status).toBe(503);
    const ok = await send(`${s.base}/openai/v1/models`, { method: 'GET' }).done;
    expect(ok.res.statusCode).toBe(200);
    expect(await s.registry.getSingleMetricAsString('llmaudit_log_failures_total')).toMatch(/llmaudit_log_failures_total 2/);
  });

  it('block: an upstream failure that cannot be recorded is answered 503, not 502', async () => {
    const dead = await startReplayUpstream();
    await dead.close();
    const sink = new MemorySink();
    sink.fail = true;
    const s = await stack({ endpoints: [{ name: 'anthropic', upstream: dead.url, api: 'anthropic' }], log: { onLogFailure: 'block' } }, sink);
    const r = await send(`${s.base}/anthropic/v1/messages`, { body: '{}', headers: JSON_HEADERS }).done;
    expect(r.res.statusCode).toBe(503);
    expect(JSON.parse(r.body.toString())).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
  });

  it('allow: forwards anyway, counts the failure and logs it loudly', async () => {
    const up = await upstream({ frames: ['{"a":1}'], headers: JSON_HEADERS });
    const sink = new MemorySink();
    sink.fail = true;
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], log: { durability: 'strict', onLogFailure: 'allow' } }, sink);
    const r = await send(`${s.base}/llm/x`, { method: 'GET' }).done;
    expect(r.ended).toBe(true);
    expect(r.body.toString()).toBe('{"a":1}');
    const r2 = await send(`${s.base}/llm/x`, { method: 'GET' }).done;
    expect(r2.res.statusCode).toBe(200);
    expect(await s.registry.getSingleMetricAsString('llmaudit_log_failures_total')).toMatch(/llmaudit_log_failures_total 2/);
    expect(s.logLines.some((l) => l.includes('AUDIT LOG APPEND FAILED') && l.includes('"level":50'))).toBe(true);
  });
});

describe('capture', () => {
  it('metadata mode keeps digests, sizes and headers but no content', async () => {
    const up = await upstream({ frames: ['{"answer":"secret plans"}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], capture: { mode: 'metadata' } }, new MemorySink());
    const body = '{"prompt":"my secret prompt"}';
    await send(`${s.base}/llm/x`, { body, headers: JSON_HEADERS }).done;
    await s.sink.count(1);
    const e = s.sink.entries[0] as EntryPayload;
    expect(e.request.body).toBeNull();
    expect(e.response.body).toBeNull();
    expect(e.request.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(e.request.bytes).toBe(body.length);
    expect(e.policy.capture).toBe('metadata');
    expect(JSON.stringify(e)).not.toContain('secret');
  });

  it('moves large base64 media to media/<sha256>.<ext> with a placeholder and a reference', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmaudit-chain-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const up = await upstream({ frames: ['{"id":"x"}'], headers: JSON_HEADERS });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }], capture: { mediaThresholdBytes: 1024 } }, new MemorySink(), dir);
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(4096, 3)]);
    const sha = createHash('sha256').update(png).digest('hex');
    const req = { model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }] }] };
    await send(`${s.base}/llm/v1/chat/completions`, { body: JSON.stringify(req), headers: JSON_HEADERS }).done;
    await s.sink.count(1);
    const e = s.sink.entries[0] as EntryPayload;
    expect(e.media).toEqual([{ sha256: sha, path: `media/${sha}.png`, mediaType: 'image/png', bytes: png.length, pointer: '/request/body/messages/0/content/0/image_url/url' }]);
    expect(JSON.stringify(e.request.body)).toContain(`llmaudit-media:sha256:${sha}`);
    expect(JSON.stringify(e.request.body)).not.toContain(png.toString('base64').slice(0, 64));
    expect((await readFile(join(dir, 'media', `${sha}.png`))).equals(png)).toBe(true);
    expect(up.requests[0]?.body.toString()).toBe(JSON.stringify(req)); // the upstream got the original
  });

  it('redacts Authorization and x-api-key in the entry and never logs them', async () => {
    const up = await upstream({ frames: ['{"a":1}'], headers: { ...JSON_HEADERS, 'set-cookie': 'session=SECRETcookie0123456789abcd' } });
    const s = await stack({ endpoints: [{ name: 'llm', upstream: up.url, api: 'generic' }] }, new MemorySink());
    await send(`${s.base}/llm/x?api-key=SECRETquery0123456789`, { body: '{}', headers: { ...JSON_HEADERS, authorization: `Bearer ${SECRET_BEARER}`, 'x-api-key': SECRET_KEY } }).done;
    await s.sink.count(1);
    expect(up.requests[0]?.headers.authorization).toBe(`Bearer ${SECRET_BEARER}`); // forwarded unchanged
    const e = s.sink.entries[0] as EntryPayload;
    expect(e.request.headers['authorization']).toBe('Bearer sk-...WXYZ');
    expect(e.request.headers['x-api-key']).toBe('sk-...QRST');
    const everything = JSON.stringify(e) + s.logLines.join('');
    for (const needle of ['SECRETbearer', 'SECRETxapikey', 'SECRETcookie', 'SECRETquery']) expect(everything).not.toContain(needle);
  });
});
