/**
 * The robustness suite's bench: one raw upstream, one proxy with the real audit log writer on a
 * temp dir, and a table runner. Every case asserts what the client got (statuses and error codes,
 * or a cut), whether the upstream was reached, the entries of its exchange (exactly one for an
 * exchange that reached a route, none for one refused before routing) and that the proxy still
 * answers a good request. `finish()` then checks the chain with the real verifier, that every
 * entry attempted is on disk, and that the bearer token sent with every request is nowhere on disk.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import type { AppendResult, EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import type { AuditSink } from '../../sidecar/src/proxy/sink.ts';
import { allFiles, openRealLog, startStack, type RealLog, type Stack } from '../proxy/harness.ts';
import { httpResponse, rawSend, startRawUpstream, type RawResult, type RawSendOptions, type RawUpstream, type UpstreamScript } from './wire.ts';

/** The token every request carries; it must never reach the disk. */
export const SECRET = `sk-rb-${randomBytes(12).toString('hex')}`;

/** An entry as a case expects it: status, complete, error code (null: none). */
export type EntryShape = [status: number, complete: boolean, code: string | null];
/** An answer as a case expects it: status and, for the proxy's own answers, the error code. */
export type AnswerShape = [status: number, code?: string | undefined];

export interface Expectation {
  /** The complete responses the client got, in order; 'cut': none, the connection closed or was cut. */
  answers: AnswerShape[] | 'cut';
  /** After its answers the connection was closed (default: not checked). */
  closed?: boolean;
  reached: boolean;
  /** The entries of the case's exchanges; [] for one refused before routing. */
  entries: EntryShape[];
  /** Further checks on the one entry (e.g. a header kept). */
  check?: (e: EntryPayload) => void;
}

export interface Case {
  name: string;
  /** The bytes to send; `id` goes in an `x-rb-case` header so upstream and entries can be matched. */
  send: (id: string) => Array<string | Buffer>;
  opts?: RawSendOptions;
  /** What the upstream does with this case's request (default: answer a chat completion). */
  upstream?: UpstreamScript;
  expect: Expectation;
}

const OK_BODY = JSON.stringify({ id: 'chatcmpl-rb', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
export const answerChat: UpstreamScript = (s) => {
  s.end(httpResponse(200, { 'content-type': 'application/json' }, OK_BODY));
};

export interface RequestSpec {
  method?: string;
  path?: string;
  /** Extra header lines, raw (`name: value`). */
  headers?: string[];
  body?: string | Buffer;
  contentType?: string | null;
  /** 'cl' (a correct Content-Length, default), 'chunked' (one chunk and the last), 'none'. */
  framing?: 'cl' | 'chunked' | 'none';
  version?: string;
  host?: string | null;
  keepAlive?: boolean;
}

export const CHAT = '/openai/v1/chat/completions';
export const CHAT_BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

/** A request's bytes: the secret bearer token, the case id, and whatever the spec says. */
export function request(id: string, spec: RequestSpec = {}): Buffer {
  const body = spec.body === undefined ? Buffer.from(CHAT_BODY) : typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body;
  const lines = [`${spec.method ?? 'POST'} ${spec.path ?? CHAT} ${spec.version ?? 'HTTP/1.1'}`];
  if (spec.host !== null) lines.push(`Host: ${spec.host ?? 'proxy.test'}`);
  lines.push(`Authorization: Bearer ${SECRET}`, `x-rb-case: ${id}`);
  if (spec.contentType !== null) lines.push(`Content-Type: ${spec.contentType ?? 'application/json'}`);
  const framing = spec.framing ?? 'cl';
  if (framing === 'cl') lines.push(`Content-Length: ${body.length}`);
  if (framing === 'chunked') lines.push('Transfer-Encoding: chunked');
  if (spec.keepAlive !== true) lines.push('Connection: close');
  lines.push(...(spec.headers ?? []));
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (framing === 'chunked') return Buffer.concat([head, Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  return Buffer.concat([head, framing === 'none' ? Buffer.alloc(0) : body]);
}

const codeOf = (b: Buffer): string | undefined => /LLMAUDIT_E_[A-Z_]+/.exec(b.toString('latin1'))?.[0];

/** Only a tee: each payload the real log accepted is kept here too (a refused one is not an entry). */
class TeeSink implements AuditSink {
  readonly payloads: EntryPayload[] = [];
  constructor(private readonly log: RealLog) {}
  async append(payload: EntryPayload): Promise<AppendResult> {
    const r = await this.log.log.append(payload);
    this.payloads.push(payload);
    return r;
  }
}

export interface Bench {
  stack: Stack;
  up: RawUpstream;
  log: RealLog;
  run(c: Case, id: string): Promise<void>;
  finish(): Promise<void>;
  close(): Promise<void>;
}

export async function startBench(durability: 'batched' | 'strict' = 'batched', config: Record<string, unknown> = {}): Promise<Bench> {
  const log = await openRealLog(durability);
  const tee = new TeeSink(log);
  const scripts = new Map<string, UpstreamScript>();
  const up = await startRawUpstream(answerChat);
  up.pick = (req) => scripts.get(req.headers['x-rb-case'] ?? '') ?? answerChat;
  const stack = await startStack({
    config: {
      endpoints: [
        { name: 'openai', upstream: up.url, api: 'openai' },
        { name: 'anthropic', upstream: up.url, api: 'anthropic' },
        { name: 'ollama', upstream: up.url, api: 'ollama' },
        { name: 'files', upstream: `${up.url}/base`, api: 'generic' },
      ],
      log: { durability },
      capture: { maxBodyBytes: 64 * 1024, maxDecodedBytes: 256 * 1024, mediaThresholdBytes: 16 * 1024 },
      timeouts: { connectMs: 2000, headersMs: 1500, idleMs: 1000, totalMs: 15_000, requestBodyMs: 1500, requestIdleMs: 400 },
      ...config,
    },
    sink: tee,
    chainDir: log.dir,
  });
  const port = stack.ports[0] as number;
  const settle = async () => {
    while (stack.proxy.inflight() > 0) await new Promise((r) => setTimeout(r, 1));
  };
  let alive = 0;
  return {
    stack,
    up,
    log,
    async run(c, id) {
      if (c.upstream !== undefined) scripts.set(id, c.upstream);
      const r: RawResult = await rawSend(port, c.send(id), c.opts);
      await settle();
      const x = c.expect;
      const got = { answers: r.responses.map((a): AnswerShape => (a.status >= 400 ? [a.status, codeOf(a.body)] : [a.status])), reached: up.requests.some((q) => q.headers['x-rb-case'] === id) };
      const entries = tee.payloads.filter((e) => e.request.headers['x-rb-case'] === id);
      const want = { answers: x.answers === 'cut' ? [] : x.answers.map((a): AnswerShape => (a[0] >= 400 ? [a[0], a[1]] : [a[0]])), reached: x.reached };
      expect({ ...got, entries: entries.map((e): EntryShape => [e.response.status, e.response.complete, e.response.error?.code ?? null]) }).toEqual({ ...want, entries: x.entries });
      if (x.answers === 'cut') expect(r.closed).toBe(true);
      if (x.closed !== undefined) expect(r.closed).toBe(x.closed);
      if (x.check !== undefined) x.check(entries[0] as EntryPayload);
      // The proxy is alive: a good request right after gets its answer.
      const ok = await rawSend(port, [request(`alive-${alive++}`)]);
      expect(ok.responses.map((a) => a.status)).toEqual([200]);
      await settle();
      scripts.delete(id);
    },
    async finish() {
      await settle();
      await log.log.flush();
      const report = await log.verify();
      expect(report.failure).toBeNull();
      expect(report.ok).toBe(true);
      // Every entry the proxy built is on disk.
      expect(report.entries).toBe(tee.payloads.length);
      for (const f of await allFiles(log.dir)) {
        const text = await readFile(f, 'latin1');
        expect(text.includes(SECRET), `${f} holds the bearer token`).toBe(false);
        expect(text.includes(Buffer.from(SECRET).toString('base64')), `${f} holds the bearer token (base64)`).toBe(false);
      }
    },
    async close() {
      await stack.close();
      await up.close();
      await log.close();
    },
  };
}
