/**
 * The processes `npm run bench -- proxy` measures against, each run as its own child process so
 * its RSS is its own and the load generator does not share its event loop:
 *
 *   upstream   a fake OpenAI-compatible provider: 1 KiB chat.completion JSON, or 200 SSE frames
 *              (`"stream": true`; `"frames": N` for N, up to 10,000), or one frame then silence until
 *              POST /__release (`"hold": true`)
 *   floor      the minimal undici pass-through proxy (undici docs/examples/proxy: pool.request +
 *              pipe), the floor any recording proxy is compared with
 *   bare       llmaudit's own forwarding path with nothing recorded: node:http in, the body read
 *              whole, hop-by-hop headers stripped by the sidecar's own functions, undici
 *              Pool.dispatch with a controller-API handler writing each chunk straight to the
 *              response (exchange.ts and upstream-handler.ts without capture, adapters, entry,
 *              log, metrics or logging). No recording proxy on Node's HTTP stack goes below it,
 *              so it bounds any ratio against another gateway measured in the same run.
 *
 *   node --import tsx bench/proxy-servers.ts upstream
 *   node --import tsx bench/proxy-servers.ts floor http://127.0.0.1:<upstream port>
 *   node --import tsx bench/proxy-servers.ts bare http://127.0.0.1:<upstream port>
 *
 * Each prints one JSON line {"port":N} on stdout once listening, and exits on SIGTERM. Loopback only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { forwardRequestHeaders, forwardResponseHeaders } from '../sidecar/src/proxy/hop-by-hop.ts';
import { isStreamContentType } from '../sidecar/src/proxy/upstream-handler.ts';

export const STREAM_FRAMES = 200;
const MAX_FRAMES = 10_000;

function completionBody(): string {
  const base = { id: 'chatcmpl-bench', object: 'chat.completion', created: 1_790_000_000, model: 'bench-model', choices: [{ index: 0, message: { role: 'assistant', content: '' }, finish_reason: 'stop' }], usage: { prompt_tokens: 20, completion_tokens: 200, total_tokens: 220 } };
  const len = JSON.stringify(base).length;
  base.choices[0]!.message.content = 'x'.repeat(Math.max(0, 1024 - len));
  return JSON.stringify(base);
}

function frame(i: number): string {
  const chunk = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_790_000_000, model: 'bench-model', choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: '' } : { content: `tok${i} ` }, finish_reason: null }] };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}
const FINAL = `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_790_000_000, model: 'bench-model', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;

async function readJson(req: IncomingMessage): Promise<{ stream?: boolean; hold?: boolean; frames?: number }> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean; hold?: boolean; frames?: number };
  } catch {
    return {};
  }
}

function startUpstream(): void {
  const body = completionBody();
  // `"frames": N` in the request asks for a stream of N frames (the stream-length rows), up to MAX_FRAMES.
  const allFrames = Array.from({ length: MAX_FRAMES - 1 }, (_, i) => frame(i));
  const frames = allFrames.slice(0, STREAM_FRAMES - 1);
  let held: ServerResponse[] = [];
  const server = createServer((req, res) => void answer(req, res).catch(() => res.destroy()));
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.url === '/__release') {
      const n = held.length;
      for (const r of held) r.end(FINAL);
      held = [];
      res.end(JSON.stringify({ released: n }));
      return;
    }
    const reqBody = await readJson(req);
    if (reqBody.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (reqBody.hold === true) {
      res.write(frames[0]);
      held.push(res);
      return;
    }
    const n = typeof reqBody.frames === 'number' ? Math.min(MAX_FRAMES, Math.max(1, Math.floor(reqBody.frames))) : STREAM_FRAMES;
    for (const f of n === STREAM_FRAMES ? frames : allFrames.slice(0, n - 1)) if (!res.write(f)) await new Promise((r) => res.once('drain', r));
    res.end(FINAL);
  };
  serve(server, async () => undefined);
}

/** Listens on a loopback port, prints {"port":N}, and on SIGTERM closes the server, then `after`, and exits. */
function serve(server: Server, after: () => Promise<unknown>): void {
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => void after().then(() => process.exit(0)));
  });
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function startFloor(upstream: string): void {
  const pool = new Pool(upstream, { keepAliveTimeout: 60_000 });
  const server = createServer((req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    pool
      .request({ method: req.method as 'POST', path: req.url ?? '/', headers, body: req })
      .then(({ statusCode, headers: h, body }) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(statusCode, out);
        body.pipe(res);
        res.on('close', () => body.destroy());
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  });
  serve(server, () => pool.close());
}

function startBare(upstream: string): void {
  const pool = new Pool(upstream, { keepAliveTimeout: 60_000 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 0 ? null : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {}, // undici takes a handler with onRequestStart for the controller API
        onResponseStart(controller, statusCode, headers) {
          if (statusCode < 200) return;
          res.writeHead(statusCode, forwardResponseHeaders(headers as Record<string, string | string[] | undefined>, false));
          const ct = headers['content-type'];
          if (isStreamContentType(typeof ct === 'string' ? ct : undefined)) res.flushHeaders();
          res.on('close', () => {
            if (!res.writableFinished) controller.abort(new Error('client gone'));
          });
        },
        onResponseData(controller, chunk) {
          if (!res.write(chunk)) {
            controller.pause();
            res.once('drain', () => controller.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (!res.headersSent) res.writeHead(502);
          res.destroy();
        },
      };
      pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: forwardRequestHeaders(req.rawHeaders, req.headers.connection, true), body }, handler);
    });
  });
  serve(server, () => pool.close());
}

const role = process.argv[2];
if (role === 'upstream') startUpstream();
else if (role === 'floor' && process.argv[3] !== undefined) startFloor(process.argv[3]);
else if (role === 'bare' && process.argv[3] !== undefined) startBare(process.argv[3]);
else if (role !== undefined) {
  process.stderr.write('usage: proxy-servers.ts upstream | floor <upstream-url> | bare <upstream-url>\n');
  process.exitCode = 1;
}
