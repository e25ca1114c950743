// Records that match what happened, and HTTP/1.1 edges answered properly: raw sockets on both
// sides of the proxy (malformed framing, resets, half-close, pipelining, CONNECT, slow bodies).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import { MemorySink, startStack, type Stack } from './harness.ts';
import { chunk, chunkedHead, httpResponse, pause, rawSend, startRawUpstream, type RawUpstream, type UpstreamScript } from '../robustness/wire.ts';

const OK_BODY = JSON.stringify({ id: 'c1', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
const answerOk: UpstreamScript = (s) => {
  s.end(httpResponse(200, { 'content-type': 'application/json' }, OK_BODY));
};

let up: RawUpstream;
let stack: Stack;
const sink = new MemorySink();
const scripts = new Map<string, UpstreamScript>();

beforeAll(async () => {
  up = await startRawUpstream(answerOk);
  up.pick = (req) => scripts.get(req.headers['x-case'] ?? '') ?? answerOk;
  stack = await startStack({ config: { endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], timeouts: { requestBodyMs: 1500, requestIdleMs: 400 } }, sink });
});
afterAll(async () => {
  await stack.close();
  await up.close();
});

const port = () => stack.ports[0] as number;
const body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
function post(id: string, extra = '', b = body): string {
  return `POST /openai/v1/chat/completions HTTP/1.1\r\nHost: p\r\nx-case: ${id}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${b}`;
}
/** The entries of one case, once the proxy has nothing in flight. */
async function entriesOf(id: string): Promise<EntryPayload[]> {
  while (stack.proxy.inflight() > 0) await new Promise((r) => setImmediate(r));
  return sink.entries.filter((e) => e.request.headers['x-case'] === id);
}
const reached = (id: string) => up.requests.filter((r) => r.headers['x-case'] === id).length;
const codeOf = (b: Buffer) => /LLMAUDIT_E_[A-Z_]+/.exec(b.toString())?.[0];

describe('records match what happened', () => {
  it('a malformed chunked request body is answered 400 and recorded as 400 BAD_REQUEST', async () => {
    // Regression: Node's parser answered a bare 400 while the entry said 499 CLIENT_ABORTED.
    const r = await rawSend(port(), [`POST /openai/v1/chat/completions HTTP/1.1\r\nHost: p\r\nx-case: bad-chunk\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\nzz\r\n`]);
    expect(r.responses.map((x) => x.status)).toEqual([400]);
    expect(codeOf((r.responses[0] as { body: Buffer }).body)).toBe('LLMAUDIT_E_BAD_REQUEST');
    expect(r.closed).toBe(true);
    const es = await entriesOf('bad-chunk');
    expect(es.map((e) => [e.response.status, e.response.complete, e.response.error?.code])).toEqual([[400, false, 'LLMAUDIT_E_BAD_REQUEST']]);
    expect(reached('bad-chunk')).toBe(0);
  });

  it('an upstream header with control characters is 502 UPSTREAM_BAD_RESPONSE, as documented', async () => {
    // Regression: undici's parse error was classified as "unreachable" (502 UPSTREAM_UNREACHABLE).
    scripts.set('ctl-header', (s) => s.end(Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-bad: a\x01b\r\ncontent-length: 2\r\n\r\n{}`, 'latin1')));
    const r = await rawSend(port(), [post('ctl-header', 'connection: close\r\n')]);
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[502, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE']]);
    const es = await entriesOf('ctl-header');
    expect(es.map((e) => [e.response.status, e.response.complete, e.response.error?.code])).toEqual([[502, false, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE']]);
  });

  it('an upstream that took the request and reset is UPSTREAM_RESET, not "refused the connection"', async () => {
    // Regression: a reset after the request was read was recorded as UPSTREAM_UNREACHABLE.
    scripts.set('took-reset', (s) => s.resetAndDestroy());
    const r = await rawSend(port(), [post('took-reset', 'connection: close\r\n')]);
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[502, 'LLMAUDIT_E_UPSTREAM_RESET']]);
    const es = await entriesOf('took-reset');
    expect(es.map((e) => [e.response.status, e.response.error?.code])).toEqual([[502, 'LLMAUDIT_E_UPSTREAM_RESET']]);
    expect(es[0]?.response.error?.message).not.toMatch(/refused/);
    expect(reached('took-reset')).toBe(1);
  });

  it('a 200 head followed by broken framing gets the client a 502 answer, and the entry says why', async () => {
    // Regression: the client got no HTTP response at all (the 200 head was never sent, the socket was destroyed).
    scripts.set('head-then-garbage', (s) => s.end(`${chunkedHead(200, { 'content-type': 'application/json' })}zz\r\n`));
    const r = await rawSend(port(), [post('head-then-garbage', 'connection: close\r\n')]);
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[502, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE']]);
    const es = await entriesOf('head-then-garbage');
    expect(es.map((e) => [e.response.status, e.response.complete, e.response.error?.code])).toEqual([[502, false, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE']]);
  });

  it('broken framing after bytes went out cuts the response where the client can see it', async () => {
    // Regression: the same failure once the body had begun must leave the client an incomplete chunked body, not a complete one.
    scripts.set('body-then-garbage', async (s) => {
      s.write(`${chunkedHead(200, { 'content-type': 'application/json' })}${chunk('{"id":').toString()}`);
      await pause(50);
      s.end('zz\r\n');
    });
    const r = await rawSend(port(), [post('body-then-garbage', 'connection: close\r\n')]);
    expect(r.responses).toEqual([]);
    expect(r.rest.toString()).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.rest.toString()).not.toContain('\r\n0\r\n\r\n');
    expect(r.closed).toBe(true);
    const es = await entriesOf('body-then-garbage');
    expect(es.map((e) => [e.response.status, e.response.complete, e.response.error?.code])).toEqual([[200, false, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE']]);
  });

  it('a request without Host is refused 400 with the JSON error, before routing', async () => {
    // Regression: Node's own 400 had an empty body.
    const r = await rawSend(port(), [`GET /openai/v1/models HTTP/1.1\r\nx-case: no-host\r\n\r\n`]);
    expect(r.responses.map((x) => [x.status, codeOf(x.body), x.headers['content-type']])).toEqual([[400, 'LLMAUDIT_E_BAD_REQUEST', 'application/json']]);
    expect(await entriesOf('no-host')).toEqual([]);
    expect(reached('no-host')).toBe(0);
  });

  it('an unsupported Expect is refused 417 with the JSON error', async () => {
    // Regression: Node's own 417 had an empty body.
    const r = await rawSend(port(), [post('bad-expect', 'expect: teapot\r\n')]);
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[417, 'LLMAUDIT_E_BAD_REQUEST']]);
    expect(await entriesOf('bad-expect')).toEqual([]);
    expect(reached('bad-expect')).toBe(0);
  });
});

describe('HTTP/1.1 edges', () => {
  it('a client that half-closes after its request still gets the answer', async () => {
    // Regression: the FIN after the request aborted the exchange; the client got nothing.
    scripts.set('half-close', async (s) => {
      await pause(30);
      answerOk(s, { method: '', path: '', headers: {}, body: Buffer.alloc(0) });
    });
    const r = await rawSend(port(), [post('half-close')], { halfClose: true });
    expect(r.responses.map((x) => x.status)).toEqual([200]);
    expect(JSON.parse(r.responses[0]?.body.toString() ?? '')).toMatchObject({ id: 'c1' });
    const es = await entriesOf('half-close');
    expect(es.map((e) => [e.response.status, e.response.complete])).toEqual([[200, true]]);
  });

  it('pipelined valid, garbage, valid: the first is answered, then 400, then close', async () => {
    // Regression: the 400 for the garbage went out first, as if it answered the first request.
    scripts.set('pipe-1', async (s) => {
      await pause(30);
      answerOk(s, { method: '', path: '', headers: {}, body: Buffer.alloc(0) });
    });
    const r = await rawSend(port(), [post('pipe-1') + 'GARBAGE \x01\r\n\r\n' + post('pipe-3')]);
    expect(r.responses.map((x) => x.status)).toEqual([200, 400]);
    expect(JSON.parse(r.responses[0]?.body.toString() ?? '')).toMatchObject({ id: 'c1' });
    expect(codeOf((r.responses[1] as { body: Buffer }).body)).toBe('LLMAUDIT_E_BAD_REQUEST');
    expect(r.closed).toBe(true);
    expect((await entriesOf('pipe-1')).length).toBe(1);
    expect(await entriesOf('pipe-3')).toEqual([]);
    expect(reached('pipe-3')).toBe(0);
  });

  it('CONNECT is answered 405 with the JSON error, then the connection closes', async () => {
    // Regression: CONNECT had the connection closed without any HTTP answer.
    const r = await rawSend(port(), ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n']);
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[405, 'LLMAUDIT_E_BAD_REQUEST']]);
    expect(r.closed).toBe(true);
  });
});

describe('request-body time limits', () => {
  it('a body trickling in past timeouts.requestBodyMs is answered 408 and recorded', async () => {
    // Regression: a client sending 1 byte every 2 s held its exchange (and the upstream slot) for as long as it liked.
    const b = '{"model":"m","messages":[]}';
    const head = `POST /openai/v1/chat/completions HTTP/1.1\r\nHost: p\r\nx-case: trickle\r\ncontent-type: application/json\r\ncontent-length: ${b.length}\r\n\r\n`;
    const r = await rawSend(port(), [head, ...b.split('')], { gapMs: 100 });
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[408, 'LLMAUDIT_E_REQUEST_TIMEOUT']]);
    expect(r.closed).toBe(true);
    const es = await entriesOf('trickle');
    expect(es.map((e) => [e.response.status, e.response.complete, e.response.error?.code])).toEqual([[408, false, 'LLMAUDIT_E_REQUEST_TIMEOUT']]);
    expect(reached('trickle')).toBe(0);
  });

  it('a body that stops arriving is answered 408 after timeouts.requestIdleMs', async () => {
    // Regression: a client that sent half its body and went quiet was held forever.
    const r = await rawSend(port(), [post('idle').slice(0, -10)]);
    expect(r.responses.map((x) => [x.status, codeOf(x.body)])).toEqual([[408, 'LLMAUDIT_E_REQUEST_TIMEOUT']]);
    const es = await entriesOf('idle');
    expect(es.map((e) => [e.response.status, e.response.error?.code])).toEqual([[408, 'LLMAUDIT_E_REQUEST_TIMEOUT']]);
    expect(reached('idle')).toBe(0);
  });

  it('the proxy still answers a good request after all of the above', async () => {
    const r = await rawSend(port(), [post('after', 'connection: close\r\n')]);
    expect(r.responses.map((x) => x.status)).toEqual([200]);
  });
});
