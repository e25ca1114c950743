/**
 * Broken upstreams: resets at every phase, bad status lines and headers, truncated and mis-sized
 * bodies, broken SSE and NDJSON streams, garbage JSON, hostile usage numbers, slow answers. The
 * client always sends a good request; what the client gets and what the entry says must match
 * what the upstream did.
 */
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { Socket } from 'node:net';
import { CHAT, request, SECRET, type AnswerShape, type Case, type EntryShape } from './suite.ts';
import { chunk, chunkedHead, httpResponse, LAST_CHUNK, pause } from './wire.ts';

type Step = string | Buffer | number | 'rst' | 'fin' | 'hang';

/** Writes the steps in order (numbers pause, ms) and ends as the last step says (default: FIN). */
function script(...steps: Step[]): NonNullable<Case['upstream']> {
  return async (s: Socket) => {
    for (const st of steps) {
      if (s.destroyed) return;
      if (typeof st === 'number') await pause(st);
      else if (st === 'rst') return void s.resetAndDestroy();
      else if (st === 'fin') return void s.end();
      else if (st === 'hang') return;
      else s.write(st);
    }
    s.end();
  };
}

const JSON_CT = { 'content-type': 'application/json' };
const SSE_CT = { 'content-type': 'text/event-stream' };
const NDJSON_CT = { 'content-type': 'application/x-ndjson' };
const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ id: 'c', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }, ...extra });
const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const delta = (content: string) => sse({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content } }] });
const DONE = 'data: [DONE]\n\n';
const nd = (o: unknown) => `${JSON.stringify(o)}\n`;
const ollamaLine = (content: string) => nd({ model: 'm', created_at: '2026-01-01T00:00:00Z', message: { role: 'assistant', content }, done: false });
const OLLAMA_DONE = nd({ model: 'm', created_at: '2026-01-01T00:00:00Z', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 2 });
const head = (status: string, headers: string[]) => `${[status, ...headers].join('\r\n')}\r\n\r\n`;

const STREAM_REQ = '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}';
const OLLAMA_REQ = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

interface Fault {
  name: string;
  kind?: 'chat' | 'sse' | 'ollama';
  upstream: NonNullable<Case['upstream']>;
  answers: AnswerShape[] | 'cut';
  entry: EntryShape;
}

const BAD: Pick<Fault, 'answers' | 'entry'> = { answers: [[502, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE']], entry: [502, false, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE'] };
const RESET: Pick<Fault, 'answers' | 'entry'> = { answers: [[502, 'LLMAUDIT_E_UPSTREAM_RESET']], entry: [502, false, 'LLMAUDIT_E_UPSTREAM_RESET'] };
const CUT_RESET: Pick<Fault, 'answers' | 'entry'> = { answers: 'cut', entry: [200, false, 'LLMAUDIT_E_UPSTREAM_RESET'] };
const FINE: Pick<Fault, 'answers' | 'entry'> = { answers: [[200]], entry: [200, true, null] };

function faults(): Fault[] {
  const ok = chat();
  const json = (body: string | Buffer, headers: Record<string, string> = JSON_CT, status = 200) => script(httpResponse(status, headers, body));
  return [
    // Resets and closes at every phase.
    { name: 'reset right after reading the request', upstream: script('rst'), ...RESET },
    { name: 'close right after reading the request', upstream: script('fin'), ...RESET },
    { name: 'reset inside the status line', upstream: script('HTTP/1.1 2', 20, 'rst'), ...RESET },
    { name: 'close after the status line', upstream: script('HTTP/1.1 200 OK\r\n', 20, 'fin'), ...RESET },
    { name: 'reset after the head (sized body)', upstream: script(head('HTTP/1.1 200 OK', ['content-type: application/json', 'content-length: 100']), 20, 'rst'), ...RESET },
    { name: 'close after the head (sized body)', upstream: script(head('HTTP/1.1 200 OK', ['content-type: application/json', 'content-length: 100']), 20, 'fin'), ...RESET },
    { name: 'reset mid-body (sized)', upstream: script(head('HTTP/1.1 200 OK', ['content-type: application/json', 'content-length: 100']), '{"id":"c",', 100, 'rst'), ...CUT_RESET },
    { name: 'close mid-body (sized)', upstream: script(head('HTTP/1.1 200 OK', ['content-type: application/json', 'content-length: 100']), '{"id":"c",', 100, 'fin'), ...CUT_RESET },
    { name: 'reset mid-body (chunked)', upstream: script(chunkedHead(200, JSON_CT), chunk('{"id":"c",'), 100, 'rst'), ...CUT_RESET },
    { name: 'close mid-body without the last chunk', upstream: script(chunkedHead(200, JSON_CT), chunk('{"id":"c",'), 100, 'fin'), ...CUT_RESET },
    { name: 'reset mid-stream (SSE)', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a')), 50, chunk(delta('b')), 100, 'rst'), ...CUT_RESET },
    { name: 'close mid-stream (SSE) without the last chunk', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a')), 100, 'fin'), ...CUT_RESET },
    { name: 'reset mid-stream (NDJSON)', kind: 'ollama', upstream: script(chunkedHead(200, NDJSON_CT), chunk(ollamaLine('a')), 100, 'rst'), ...CUT_RESET },
    { name: 'reset after the SSE head, before any event', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), 100, 'rst'), ...CUT_RESET },
    { name: 'body delimited by the close (no length, no chunking)', upstream: script(head('HTTP/1.1 200 OK', ['content-type: application/json', 'connection: close']), ok, 'fin'), ...FINE },
    // Bad status lines.
    { name: 'status code not a number', upstream: script('HTTP/1.1 abc OK\r\ncontent-length: 0\r\n\r\n'), ...BAD },
    { name: 'two-digit status code', upstream: script('HTTP/1.1 99 Low\r\ncontent-length: 0\r\n\r\n'), ...BAD },
    { name: 'four-digit status code', upstream: script('HTTP/1.1 1000 X\r\ncontent-length: 0\r\n\r\n'), ...BAD },
    { name: 'not HTTP at all', upstream: script('FOO 200 OK\r\ncontent-length: 0\r\n\r\n'), ...BAD },
    { name: 'binary garbage for a response', upstream: script(Buffer.from([0, 1, 2, 0xff, 13, 10, 13, 10])), ...BAD },
    // Empty lines before a status line are skipped (RFC 9112 §2.2): then the close is all there is.
    { name: 'an empty line for a status line, then close', upstream: script('\r\n\r\n'), ...RESET },
    { name: 'HTTP/2 frames for a response', upstream: script(Buffer.from('000012040000000000000300000064000400100000000600004000', 'hex')), ...BAD },
    { name: 'status 600', upstream: json(ok, JSON_CT, 600), answers: [[600]], entry: [600, true, null] },
    // undici refuses a 100 Continue it did not ask for ("bad response").
    { name: '100 Continue not asked for, then 200', upstream: script('HTTP/1.1 100 Continue\r\n\r\n', httpResponse(200, JSON_CT, ok)), ...BAD },
    { name: '103 Early Hints, then 200', upstream: script('HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n', httpResponse(200, JSON_CT, ok)), ...FINE },
    // Bad headers.
    { name: 'control character in a header value', upstream: script(`HTTP/1.1 200 OK\r\nx-bad: a\x01b\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'DEL in a header value', upstream: script(`HTTP/1.1 200 OK\r\nx-bad: a\x7fb\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'NUL in a header value', upstream: script(`HTTP/1.1 200 OK\r\nx-bad: a\x00b\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'bare CR in a header value', upstream: script(`HTTP/1.1 200 OK\r\nx-bad: a\rb\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'space in a header name', upstream: script(`HTTP/1.1 200 OK\r\nbad name: x\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'header line without a colon', upstream: script(`HTTP/1.1 200 OK\r\nnocolon\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'two different Content-Lengths', upstream: script(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}`), ...BAD },
    { name: 'Content-Length and chunked together', upstream: script(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`), ...BAD },
    { name: 'Content-Length not a number', upstream: script(`HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\n{}`), ...BAD },
    { name: 'negative Content-Length', upstream: script(`HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\n{}`), ...BAD },
    { name: 'response head over 64 KB', upstream: script(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(64 * 1024)}\r\ncontent-length: 2\r\n\r\n{}`), ...BAD },
    { name: 'Latin-1 byte in a header value', upstream: script(Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-latin: caf\xe9\r\ncontent-length: ${ok.length}\r\n\r\n${ok}`, 'latin1')), ...FINE },
    { name: 'an x-llmaudit-id of its own', upstream: json(ok, { ...JSON_CT, 'x-llmaudit-id': 'spoof' }), ...FINE },
    { name: 'hop-by-hop headers named in Connection', upstream: json(ok, { ...JSON_CT, connection: 'close, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5' }), ...FINE },
    { name: 'a credential in Set-Cookie', upstream: json(ok, { ...JSON_CT, 'set-cookie': `session=${SECRET}; HttpOnly` }), ...FINE },
    // Truncated and mis-sized bodies.
    { name: 'more bytes than its Content-Length', upstream: script(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${ok.length}\r\n\r\n${ok}EXTRA BYTES`), ...FINE },
    { name: 'Content-Length 0 with a body', upstream: script(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n${ok}`), ...FINE },
    { name: 'broken chunk size after the first chunk', upstream: script(chunkedHead(200, JSON_CT), chunk('{"id":'), 50, 'zz\r\n'), answers: 'cut', entry: [200, false, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE'] },
    { name: '200 head, then a broken chunk size', upstream: script(`${chunkedHead(200, JSON_CT)}zz\r\n`), ...BAD },
    // The chunk itself is whole and goes out before the framing breaks: the client's body is cut.
    { name: 'chunk data longer than its size', upstream: script(`${chunkedHead(200, JSON_CT)}2\r\n{}}}}\r\n0\r\n\r\n`), answers: 'cut', entry: [200, false, 'LLMAUDIT_E_UPSTREAM_BAD_RESPONSE'] },
    { name: 'gzip-labelled garbage', upstream: json('not gzip', { ...JSON_CT, 'content-encoding': 'gzip' }), ...FINE },
    { name: 'gzip bomb (16 MiB of zeros)', upstream: json(gzipSync(Buffer.alloc(16 * 1024 * 1024)), { ...JSON_CT, 'content-encoding': 'gzip' }), ...FINE },
    { name: 'brotli-labelled garbage', upstream: json('not br', { ...JSON_CT, 'content-encoding': 'br' }), ...FINE },
    { name: 'brotli bomb', upstream: json(brotliCompressSync(Buffer.alloc(16 * 1024 * 1024)), { ...JSON_CT, 'content-encoding': 'br' }), ...FINE },
    { name: 'an unknown content coding', upstream: json(ok, { ...JSON_CT, 'content-encoding': 'zstd' }), ...FINE },
    // Garbage and hostile JSON.
    { name: 'truncated JSON', upstream: json('{"id":"c","choices":['), ...FINE },
    { name: 'JSON null', upstream: json('null'), ...FINE },
    { name: 'an HTML page with 200', upstream: json('<html><body>oops</body></html>', { 'content-type': 'text/html' }), ...FINE },
    { name: 'JSON labelled text/plain', upstream: json(ok, { 'content-type': 'text/plain' }), ...FINE },
    { name: 'a lone surrogate in the answer', upstream: json(chat({ choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: 'stop' }] }).replace('"x"', '"\\ud800"')), ...FINE },
    { name: 'JSON nested 10 000 deep', upstream: json(`{"id":"c","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`), ...FINE },
    { name: 'usage 1e400', upstream: json(ok.replace('"prompt_tokens":3', '"prompt_tokens":1e400')), ...FINE },
    { name: 'negative usage', upstream: json(chat({ usage: { prompt_tokens: -5, completion_tokens: -1, total_tokens: -6 } })), ...FINE },
    { name: 'fractional usage', upstream: json(chat({ usage: { prompt_tokens: 2.5, completion_tokens: 0.1, total_tokens: 2.6 } })), ...FINE },
    { name: 'usage as strings', upstream: json(chat({ usage: { prompt_tokens: '3', completion_tokens: 'x' } })), ...FINE },
    { name: 'usage 1e30', upstream: json(chat({ usage: { prompt_tokens: 1e30, completion_tokens: 1e30, total_tokens: 2e30 } })), ...FINE },
    { name: 'duplicate keys in the answer', upstream: json('{"id":"a","id":"b","object":"chat.completion","choices":[],"choices":[]}'), ...FINE },
    { name: 'a 10 KB model name', upstream: json(chat({ model: 'm'.repeat(10_000) })), ...FINE },
    { name: '500 with a JSON error', upstream: json('{"error":{"message":"boom","type":"server_error"}}', JSON_CT, 500), answers: [[500]], entry: [500, true, null] },
    { name: '429 with Retry-After', upstream: json('{"error":{"message":"slow down"}}', { ...JSON_CT, 'retry-after': '1' }, 429), answers: [[429]], entry: [429, true, null] },
    { name: '204 with a body', upstream: script(`HTTP/1.1 204 No Content\r\n\r\n${ok}`), answers: [[204]], entry: [204, true, null] },
    // Broken streams.
    { name: 'SSE with a garbage event, then [DONE]', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a') + 'data: {not json\n\n' + DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'SSE lines without data:', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk('garbage line\nmore\n\n' + DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'SSE with CRLF line ends', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk((delta('a') + DONE).replaceAll('\n', '\r\n')), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'SSE ending without [DONE]', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a')), LAST_CHUNK), answers: [[200]], entry: [200, false, null] },
    { name: 'SSE error event', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a') + sse({ error: { message: 'overloaded', type: 'server_error' } })), LAST_CHUNK), answers: [[200]], entry: [200, false, null] },
    { name: 'SSE delta with a lone surrogate', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('x').replace('"x"', '"\\ud800"') + DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'SSE with one 1 MB data line', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a'.repeat(1024 * 1024)) + DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'SSE with a byte order mark', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(`\ufeff${delta('a')}${DONE}`), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'SSE split into 1-byte chunks', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), ...(delta('ab') + DONE).split('').map((c) => chunk(c)), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    // Relayed as sent; nothing could be decoded, so its terminator was never seen.
    { name: 'SSE with gzip-labelled garbage', kind: 'sse', upstream: script(chunkedHead(200, { ...SSE_CT, 'content-encoding': 'gzip' }), chunk('garbage'), LAST_CHUNK), answers: [[200]], entry: [200, false, null] },
    { name: 'NDJSON with a garbage line, then done', kind: 'ollama', upstream: script(chunkedHead(200, NDJSON_CT), chunk(ollamaLine('a') + '{garbage\n' + OLLAMA_DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'NDJSON line with a lone surrogate', kind: 'ollama', upstream: script(chunkedHead(200, NDJSON_CT), chunk(ollamaLine('x').replace('"x"', '"\\ud800"') + OLLAMA_DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'NDJSON without a final newline', kind: 'ollama', upstream: script(chunkedHead(200, NDJSON_CT), chunk(ollamaLine('a') + OLLAMA_DONE.trimEnd()), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    { name: 'NDJSON without done:true', kind: 'ollama', upstream: script(chunkedHead(200, NDJSON_CT), chunk(ollamaLine('a')), LAST_CHUNK), answers: [[200]], entry: [200, false, null] },
    { name: 'NDJSON with negative counts', kind: 'ollama', upstream: script(chunkedHead(200, NDJSON_CT), chunk(ollamaLine('a') + OLLAMA_DONE.replace('"prompt_eval_count":3', '"prompt_eval_count":-3')), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
    // Slow upstreams.
    { name: 'headers later than timeouts.headersMs', upstream: script(2000, httpResponse(200, JSON_CT, ok)), answers: [[504, 'LLMAUDIT_E_UPSTREAM_TIMEOUT']], entry: [504, false, 'LLMAUDIT_E_UPSTREAM_TIMEOUT'] },
    { name: 'silent mid-body past timeouts.idleMs', upstream: script(chunkedHead(200, JSON_CT), chunk('{"id":'), 1600, chunk('"c"}'), LAST_CHUNK), answers: 'cut', entry: [200, false, 'LLMAUDIT_E_UPSTREAM_TIMEOUT'] },
    { name: 'slow but within the limits', kind: 'sse', upstream: script(chunkedHead(200, SSE_CT), chunk(delta('a')), 100, chunk(delta('b')), 100, chunk(DONE), LAST_CHUNK), answers: [[200]], entry: [200, true, null] },
  ];
}

export function upstreamFaults(): Case[] {
  return faults().map((f) => ({
    name: f.name,
    send: (id: string) => [f.kind === 'sse' ? request(id, { body: STREAM_REQ }) : f.kind === 'ollama' ? request(id, { path: '/ollama/api/chat', body: OLLAMA_REQ }) : request(id, { path: CHAT })],
    upstream: f.upstream,
    expect: { answers: f.answers, reached: true, entries: [f.entry] },
  }));
}
