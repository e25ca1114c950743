/**
 * One exchange, end to end (docs/architecture.md "Data flow of one exchange"): route → read the request
 * (bounded) → adapter + tracer.begin → forward with undici → relay the response chunk by chunk
 * while teeing a bounded copy → entry → append → span end. Every request that reaches a route
 * becomes exactly one entry, failures included.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ListenerConfig } from '../config/schema.ts';
import type { TraceHandle, TraceRequestInfo } from '../telemetry/types.ts';
import type { ExchangeContext } from './exchange-context.ts';
import { hasDotSegment, type RouteTarget } from './router.ts';
import { BodyCapture } from '../capture/body-capture.ts';
import { uuidv7 } from './entry-id.ts';
import { forwardRequestHeaders } from './hop-by-hop.ts';
import { errorBody, errorFamily } from './error-shapes.ts';
import { proxyError } from './errors.ts';
import { BodyGuard, readingBody, readRequestHead, streamRest } from './request-body.ts';
import { openAdapter, type ProxyAdapter } from './adapter-port.ts';
import { UpstreamHandler } from './upstream-handler.ts';
import { AdapterFeed } from './adapter-feed.ts';
import { ResponseFinisher } from './response-finisher.ts';
import { classifyUpstreamError, describeError } from './upstream-errors.ts';
import { recordExchange, type Finished } from './record.ts';
import { sendProxyError } from './respond.ts';
import { IN_TURNS_MIN_BYTES, parseJsonBody, parseJsonBodyInTurns } from '../capture/stored-body.ts';
import { decodeBody } from '../capture/decode-body.ts';
import { NOOP_TRACER } from '../telemetry/noop-tracer.ts';
import { admitExchange, rewriteBodyHeaders } from '../governance/exchange-hook.ts';
import { setImmediate as nextTurn } from 'node:timers/promises';


/** Aborts one exchange when close() passes its drain deadline (lighter than an AbortController per request). */
export class ShutdownSignal {
  aborted = false;
  onAbort: (() => void) | null = null;
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.onAbort?.();
  }
}

const upstreamAddr = new WeakMap<object, { host: string; port: number }>();
function upstreamAddress(endpoint: RouteTarget['endpoint']): { host: string; port: number } {
  let a = upstreamAddr.get(endpoint);
  if (a === undefined) {
    const u = new URL(endpoint.upstream);
    a = { host: u.hostname, port: u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
    upstreamAddr.set(endpoint, a);
  }
  return a;
}

export async function handleExchange(ctx: ExchangeContext, listener: ListenerConfig, req: IncomingMessage, res: ServerResponse, shutdown: ShutdownSignal): Promise<void> {
  const startedAt = ctx.now();
  const t0 = performance.now();
  const config = ctx.config; // one config per exchange, even across a reload
  const id = uuidv7(startedAt);
  res.setHeader('x-llmaudit-id', id);
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';

  if (req.httpVersionMajor !== 1) {
    // The parser lets `HTTP/2.0` (and a request line without a version) through; this proxy speaks
    // HTTP/1.x only (RFC 9110 §15.6.6).
    req.resume();
    ctx.metrics.failures.inc({ reason: 'bad_request' });
    ctx.logger.warn({ id, method, version: req.httpVersion }, 'HTTP version not supported');
    res.setHeader('connection', 'close');
    sendProxyError(res, errorBody('openai', 505, 'LLMAUDIT_E_BAD_REQUEST', `${proxyError('LLMAUDIT_E_BAD_REQUEST').message}: HTTP/${req.httpVersion} is not supported`), 505);
    return;
  }
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused with 400 (the server's own check is
    // off so that the refusal carries the documented JSON error).
    req.resume();
    ctx.metrics.failures.inc({ reason: 'bad_request' });
    ctx.logger.warn({ id, method }, 'request without Host refused');
    res.setHeader('connection', 'close');
    sendProxyError(res, errorBody('openai', 400, 'LLMAUDIT_E_BAD_REQUEST', `${proxyError('LLMAUDIT_E_BAD_REQUEST').message}: no Host header`), 400);
    return;
  }
  if (hasDotSegment(url)) {
    req.resume();
    ctx.metrics.failures.inc({ reason: 'bad_request' });
    ctx.logger.warn({ id, method }, 'dot segments in the request path refused');
    sendProxyError(res, errorBody('openai', 400, 'LLMAUDIT_E_BAD_REQUEST', `${proxyError('LLMAUDIT_E_BAD_REQUEST').message}: dot segments in the path`), 400);
    return;
  }
  const route = ctx.router.route(listener, url);
  if (route === null) {
    req.resume();
    ctx.metrics.failures.inc({ reason: 'no_route' });
    ctx.logger.warn({ id, method, path: url.split('?')[0] }, 'no route');
    const msg = `${proxyError('LLMAUDIT_E_NO_ROUTE').message}: ${url.split('?')[0] ?? '/'}`;
    sendProxyError(res, errorBody(errorFamily(null, null, url), 404, 'LLMAUDIT_E_NO_ROUTE', msg), 404);
    return;
  }

  // The client may go away at any point: remember it, and abort the upstream if one is running.
  let clientGone = false;
  let handler: UpstreamHandler | null = null;
  const onClose = () => {
    if (res.writableFinished) return;
    clientGone = true;
    handler?.abort(proxyError('LLMAUDIT_E_CLIENT_ABORTED'));
  };
  res.on('close', onClose);
  const onShutdown = () => handler?.abort(proxyError('LLMAUDIT_E_CLIENT_ABORTED', 'the proxy shut down'));
  shutdown.onAbort = onShutdown;

  // The memory budget decides whether the body may be read before forwarding (capture/memory-budget.ts).
  const grant = ctx.budget.admitRequest(req.headers, Math.max(config.capture.maxBodyBytes, config.capture.maxDecodedBytes));
  const reqCapture = new BodyCapture(grant.refused ? 0 : config.capture.maxBodyBytes);
  // The end of the response waits for the entry under strict durability, and under batched too
  // while the writer is far behind: that bounds what a writer that cannot keep up holds in memory.
  const finisher = new ResponseFinisher(res, config.log.durability === 'strict' || ctx.sink.behind?.() === true);
  const base = { ctx, config, id, startedAt, t0, route, req, res, method, url, reqCapture, finisher, grant };
  const guard = new BodyGuard(config.timeouts.requestBodyMs, config.timeouts.requestIdleMs);
  const socket = req.socket;
  readingBody.set(socket, { req, guard });
  try {
    let head;
    try {
      head = await readRequestHead(req, reqCapture, grant.limit, guard);
    } catch (err) {
      // The body's framing was malformed (the server's parser said so) or it came too slowly: the
      // client gets 400 / 408 and the connection closes. Otherwise the client went away.
      const code = (err as { code?: unknown }).code;
      const own = code === 'LLMAUDIT_E_BAD_REQUEST' || code === 'LLMAUDIT_E_REQUEST_TIMEOUT';
      const e = own ? err : proxyError('LLMAUDIT_E_CLIENT_ABORTED', describeError(err));
      if (own && !res.headersSent) res.setHeader('connection', 'close');
      await recordExchange(base, {
        feed: new AdapterFeed(null),
        handle: beginTrace(ctx, route, req, method, startedAt, null),
        reqJson: undefined,
        outcome: null,
        err: e,
        proxyError: classifyUpstreamError(e, false),
      });
      return;
    }
    if (head.ended) {
      guard.stop();
      readingBody.delete(socket);
    }
    const reqBuf = head.ended ? (head.chunks.length === 1 ? (head.chunks[0] as Buffer) : Buffer.concat(head.chunks, head.bytes)) : null;
    if (reqBuf !== null && head.chunks.length > 1) reqCapture.adoptWhole(reqBuf);
    // A compressed request body (Content-Encoding on the request, RFC 9110 §8.4) is decoded for
    // parsing and the stored copy; the upstream gets it as sent.
    const reqEnc = req.headers['content-encoding'];
    let plainReq: Buffer | null = reqBuf;
    let reqEncoding: string | undefined;
    if (reqBuf !== null && reqBuf.length > 0 && reqEnc !== undefined && reqEnc !== '' && reqEnc.toLowerCase() !== 'identity') {
      const d = await decodeBody(reqBuf, reqEnc, config.capture.maxDecodedBytes, ctx.budget);
      plainReq = d.ok ? d.buf : null;
      if (!d.ok) reqEncoding = reqEnc;
      if (!d.ok && d.reason === 'memory_budget') grant.decodeRefused = true;
    }
    // A large body is parsed a piece per turn of the event loop, and what reads it next (adapter,
    // trace, governance) each gets a turn of its own: no single turn holds every other exchange
    // up for the whole body (docs/adr/0025-large-bodies-off-the-event-loop.md).
    const large = plainReq !== null && plainReq.length >= IN_TURNS_MIN_BYTES;
    const reqJson = large ? await parseJsonBodyInTurns(plainReq, req.headers['content-type']) : parseJsonBody(plainReq, req.headers['content-type']);
    let adapter: ProxyAdapter | null = null;
    try {
      adapter = openAdapter({
        endpointApi: route.endpoint.api,
        method,
        apiPath: route.apiPath,
        contentType: req.headers['content-type'],
        body: plainReq === null || plainReq.length === 0 ? null : reqJson,
        maxBodyBytes: Math.max(config.capture.maxBodyBytes, config.capture.maxDecodedBytes),
      });
    } catch (err) {
      ctx.logger.warn({ id, err: describeError(err) }, 'adapter refused the request; recording it opaquely');
    }
    if (large) await nextTurn();
    const handle = large ? await beginTraceInTurns(ctx, route, req, method, startedAt, adapter) : beginTrace(ctx, route, req, method, startedAt, adapter);
    const feed = new AdapterFeed(adapter);
    const fin: Finished = { feed, handle, reqJson, outcome: null, err: null, proxyError: null };
    if (plainReq !== reqBuf) fin.reqPlain = plainReq;
    if (reqEncoding !== undefined) fin.reqEncoding = reqEncoding;

    if (config.log.onLogFailure === 'block' && ctx.logState.down) {
      // Fail closed (onLogFailure: block, docs/configuration.md): nothing is forwarded while the log cannot be written.
      // Recording this refusal doubles as the probe: when it lands, the gate opens again.
      fin.proxyError = { code: 'LLMAUDIT_E_LOG_UNAVAILABLE', status: 503, reason: 'log_unavailable', errorType: 'log_unavailable' };
      await recordExchange(base, fin);
      return;
    }
    if (clientGone || shutdown.aborted) {
      fin.err = proxyError('LLMAUDIT_E_CLIENT_ABORTED', shutdown.aborted ? 'the proxy shut down' : undefined);
      fin.proxyError = classifyUpstreamError(fin.err, false);
      await recordExchange(base, fin);
      return;
    }

    // Governance decides before anything is forwarded (docs/governance.md): a refused request never
    // reaches the upstream and gets the API family's error shape.
    if (large) await nextTurn();
    const gov = await admitExchange(ctx.governance, {
      config,
      endpoint: route.endpoint,
      method,
      apiPath: route.apiPath,
      api: adapter?.kind ?? 'opaque',
      headers: req.headers,
      body: head.ended && reqEncoding === undefined ? reqJson : undefined,
      bodyBytes: head.ended ? (plainReq?.length ?? head.bytes) : Math.max(head.bytes, Number(req.headers['content-length'] ?? 0) || 0),
      now: startedAt,
    });
    fin.governance = gov.admission;
    if (gov.block !== null) {
      if (gov.block.retryAfterS !== undefined) res.setHeader('retry-after', String(gov.block.retryAfterS));
      if (!head.ended) res.setHeader('connection', 'close'); // the rest of the body is not read
      fin.err = proxyError(gov.block.code, gov.block.message);
      fin.proxyError = { code: gov.block.code, status: gov.block.status, reason: 'governance', errorType: 'policy_blocked' };
      await recordExchange(base, fin);
      return;
    }

    let body: Buffer | Readable | null = head.ended ? (head.bytes === 0 ? null : reqBuf) : null;
    if (gov.forward !== null) body = gov.forward;
    if (!head.ended) body = streamRest(req, head.chunks, reqCapture, guard);
    const headers = forwardRequestHeaders(req.rawHeaders, req.headers.connection, head.ended);
    if (gov.forward !== null) rewriteBodyHeaders(headers, gov.forward.length);
    const up = handle.upstreamHeaders;
    for (const name of Object.keys(up)) {
      for (let i = headers.length - 2; i >= 0; i -= 2) if ((headers[i] as string).toLowerCase() === name) headers.splice(i, 2);
      headers.push(name, up[name] as string);
    }

    const h = new UpstreamHandler(finisher, feed, config, t0);
    handler = h;
    const opts: Dispatcher.DispatchOptions = { method: method as Dispatcher.HttpMethod, path: route.upstreamPath, headers, body };
    try {
      ctx.upstreams.get(route.endpoint).dispatch(opts, h);
    } catch (err) {
      h.fail(err); // no dispatcher for the endpoint, or options undici refuses
    }
    const totalMs = config.timeouts.totalMs;
    const timer = totalMs > 0 ? setTimeout(() => h.abort(proxyError('LLMAUDIT_E_UPSTREAM_TIMEOUT', `total ${totalMs} ms`)), totalMs) : null;
    timer?.unref();
    const outcome = await h.done;
    if (timer !== null) clearTimeout(timer);
    fin.outcome = outcome;
    if (!outcome.ok) {
      fin.err = outcome.err;
      fin.proxyError = classifyUpstreamError(outcome.err, finisher.committed);
    }
    // A request body that did not all arrive (it failed, or the answer came first) leaves the
    // connection unable to carry another request: it closes after the answer.
    if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
    // Returned, not awaited: this frame (request, bodies, adapter) is let go while the entry is
    // appended; only what the end of the exchange needs stays reachable (record.ts afterAppend).
    return recordExchange(base, fin);
  } finally {
    guard.stop();
    if (readingBody.get(socket)?.guard === guard) readingBody.delete(socket);
    res.off('close', onClose);
    shutdown.onAbort = null;
  }
}

function beginTrace(ctx: ExchangeContext, route: RouteTarget, req: IncomingMessage, method: string, startedAt: number, adapter: ProxyAdapter | null, prepared?: TraceRequestInfo): TraceHandle {
  const info = prepared ?? traceInfo(route, req, method, startedAt, adapter);
  try {
    return ctx.tracer.begin(info);
  } catch (err) {
    // Telemetry never breaks traffic (docs/tracing.md "Export"): the exchange goes on with fresh ids.
    ctx.logger.warn({ err: describeError(err) }, 'tracer.begin failed; exchange continues untraced');
    return NOOP_TRACER.begin(info);
  }
}

/** beginTrace for a large request: what begin() would do on its strings is done first, a slice per turn (ExchangeTracer.prepare). */
async function beginTraceInTurns(ctx: ExchangeContext, route: RouteTarget, req: IncomingMessage, method: string, startedAt: number, adapter: ProxyAdapter | null): Promise<TraceHandle> {
  const info = traceInfo(route, req, method, startedAt, adapter);
  if (ctx.tracer.prepare !== undefined) {
    try {
      await ctx.tracer.prepare(info, nextTurn);
    } catch (err) {
      ctx.logger.warn({ err: describeError(err) }, 'tracer.prepare failed; begin does the work');
    }
    await nextTurn();
  }
  return beginTrace(ctx, route, req, method, startedAt, adapter, info);
}

function traceInfo(route: RouteTarget, req: IncomingMessage, method: string, startedAt: number, adapter: ProxyAdapter | null): TraceRequestInfo {
  const a = upstreamAddress(route.endpoint);
  return {
    endpoint: route.endpoint.name,
    method,
    path: route.apiPath,
    headers: req.headers as Record<string, string | undefined>,
    serverAddress: a.host,
    serverPort: a.port,
    startedAt,
    request: adapter?.request ?? null,
  };
}

