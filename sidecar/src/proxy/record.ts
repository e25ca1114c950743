/**
 * The end of an exchange: finish the response toward the client, turn what was seen into an entry,
 * append it, end the span, count and log one line. The order encodes the durability policy
 * (docs/architecture.md "Proxy and capture": durability):
 * - batched: the client's response ends first, the append follows in the background;
 * - strict: the last bytes (res.end) and proxy-made error answers wait for the append;
 * - onLogFailure block: a failed append turns a not-yet-sent answer into a 503, cuts a held
 *   strict response (the client never sees it complete), and gates new exchanges until an
 *   append succeeds; allow: forward anyway, count, log at error level.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SidecarConfig } from '../config/schema.ts';
import type { NormalizedExchange } from '../adapters/types.ts';
import type { TraceHandle } from '../telemetry/types.ts';
import type { AppendResult } from '../auditlog/types.ts';
import type { ProxyAdapter } from './adapter-port.ts';
import type { UpstreamResult } from './upstream-handler.ts';
import type { Classified } from './upstream-errors.ts';
import type { RouteTarget } from './router.ts';
import type { ExchangeContext } from './exchange.ts';
import type { BodyCapture, CapturedBody } from '../capture/body-capture.ts';
import type { MediaRef } from '../capture/media.ts';
import { createHash } from 'node:crypto';
import { classifyExchange } from '../telemetry/classify.ts';
import { redactHeaders } from '../capture/redact-headers.ts';
import { redactUrl } from '../capture/redact-url.ts';
import { decodeBody } from '../capture/decode-body.ts';
import { extractMedia } from '../capture/media.ts';
import { parseJsonBody, storedBody } from '../capture/stored-body.ts';
import { buildEntry, type StoredSide } from './build-entry.ts';
import { moveResponseMedia } from './move-media.ts';
import { errorBody, errorFamily } from './error-shapes.ts';
import { proxyError } from './errors.ts';
import { describeError } from './upstream-errors.ts';
import { redactNames, sendProxyError } from './respond.ts';

export interface ExchangeBase {
  ctx: ExchangeContext;
  config: SidecarConfig;
  id: string;
  startedAt: number;
  t0: number;
  route: RouteTarget;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  url: string;
  reqCapture: BodyCapture;
  /** The response's end waits for the append (strict durability, or the writer is behind). */
  holdEnd: boolean;
}

export interface Finished {
  adapter: ProxyAdapter | null;
  handle: TraceHandle;
  /** The request body parsed as JSON (undefined: not JSON, not whole, or empty). */
  reqJson: unknown;
  result: UpstreamResult;
  proxyError: Classified | null;
  /** The decoded request body when it came compressed (null: could not be decoded). */
  reqPlain?: Buffer | null;
  /** Set when a compressed request body could not be decoded: stored as digest + size only. */
  reqEncoding?: string;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function digestOf(text: string): CapturedBody {
  const buf = Buffer.from(text);
  return { buf, sha256: createHash('sha256').update(buf).digest('hex'), bytes: buf.length, truncated: false };
}

export async function recordExchange(base: ExchangeBase, fin: Finished): Promise<void> {
  const { ctx, config, res, route } = base;
  const h = fin.result.handler;
  const pe = fin.proxyError;
  const strict = base.holdEnd;
  const started = h !== null && h.responseStarted;
  const mode = config.capture.mode;
  const endpoint = route.endpoint.name;

  // 1. The client's side first, where policy allows.
  if (started && pe !== null) {
    // Cut mid-response (reset, abort, timeout): what arrived is relayed, but the client must not
    // see the response complete.
    const held = h.takeHeld();
    if (held !== null && !res.destroyed) res.write(held);
    res.destroy();
  } else if (started && !strict) res.end();
  const durationMs = round(performance.now() - base.t0);

  // 2. Request side.
  const reqCaptured = base.reqCapture.finish();
  let reqSide: StoredSide = { captured: reqCaptured, body: null };
  let media: MediaRef[] = [];
  if (!reqCaptured.truncated && mode !== 'metadata') {
    if (fin.reqJson !== undefined) {
      let body: unknown = fin.reqJson;
      // A body no larger than the threshold cannot hold a base64 string above it: not walked.
      const plainBytes = fin.reqPlain != null ? fin.reqPlain.length : reqCaptured.bytes;
      if (ctx.media !== null && config.capture.mediaThresholdBytes > 0 && plainBytes > config.capture.mediaThresholdBytes) {
        const ex = extractMedia(fin.reqJson, config.capture.mediaThresholdBytes, '/request/body');
        if (ex.blobs.length > 0) {
          try {
            media = await ctx.media.put(ex.blobs);
            body = ex.body;
            ctx.metrics.mediaExtracted.inc(ex.blobs.length);
          } catch (err) {
            ctx.logger.warn({ id: base.id, err: describeError(err) }, 'media could not be written; kept inline');
          }
        }
      }
      reqSide = { captured: reqCaptured, body };
    } else if (fin.reqEncoding !== undefined) {
      reqSide = { captured: reqCaptured, body: null, encoding: fin.reqEncoding };
    } else {
      const s = storedBody(fin.reqPlain ?? reqCaptured.buf, undefined);
      reqSide = { captured: reqCaptured, body: s.body, ...(s.encoding === undefined ? {} : { encoding: s.encoding }) };
    }
  }
  if (reqCaptured.truncated) ctx.metrics.truncations.inc({ direction: 'request', reason: 'cap' });

  // 3. Response side: decode the stored copy, finish the adapter.
  let exchange: NormalizedExchange | null = null;
  let respSide: StoredSide;
  let respHeaders: Record<string, string>;
  let status: number;
  let errorText: string | null = null;
  const names = redactNames(config);
  if (started) {
    status = h.status;
    respHeaders = redactHeaders(h.headers as Record<string, string | string[] | undefined>, names);
    const captured = h.capture.finish();
    let decoded = captured.buf;
    let encoding: string | undefined;
    if (decoded !== null && h.encoding !== undefined) {
      const r = await decodeBody(decoded, h.encoding, config.capture.maxDecodedBytes);
      if (r.ok) decoded = r.buf;
      else {
        decoded = null;
        encoding = h.encoding;
        ctx.metrics.truncations.inc({ direction: 'response', reason: r.reason === 'decoded_cap' ? 'decoded_cap' : 'decode_error' });
      }
    }
    if (fin.adapter !== null) {
      try {
        if (decoded !== null && h.encoding !== undefined && h.streamed) fin.adapter.push(decoded);
        else if (decoded !== null && !h.streamed) fin.adapter.pushBody(decoded);
        exchange = fin.adapter.finish({ complete: fin.result.ok });
      } catch (err) {
        ctx.logger.warn({ id: base.id, err: describeError(err) }, 'adapter failed; response recorded opaquely');
      }
    }
    let body: unknown = null;
    if (decoded === null && !captured.truncated && h.streamed && exchange !== null && h.encoding === undefined) {
      body = exchange.reconstructed ?? null; // digest-only stream: the adapter's reconstruction is the stored body
    } else if (decoded !== null) {
      if (exchange !== null && exchange.reconstructed !== null && exchange.reconstructed !== undefined) body = exchange.reconstructed;
      else {
        const ct = h.headers['content-type'];
        const s = storedBody(decoded, h.streamed ? undefined : parseJsonBody(decoded, typeof ct === 'string' ? ct : undefined));
        body = s.body;
        if (s.encoding !== undefined) encoding = s.encoding;
      }
    }
    if (captured.truncated) ctx.metrics.truncations.inc({ direction: 'response', reason: 'cap' });
    if (body !== null && typeof body === 'object' && ctx.media !== null) {
      const moved = await moveResponseMedia(ctx, config, base.id, body, decoded !== null ? decoded.length : captured.bytes); // e.g. OpenAI Images b64_json
      body = moved.body;
      if (moved.media.length > 0) media = media.concat(moved.media);
    }
    respSide = { captured, body, ...(encoding === undefined ? {} : { encoding }) };
  } else {
    // The proxy answers itself (upstream unreachable, timeout, log gate, client gone first).
    status = pe?.status ?? 502;
    const family = errorFamily(fin.adapter?.kind ?? null, route.endpoint.api, route.apiPath);
    errorText = errorBody(family, status, pe?.code ?? 'LLMAUDIT_E_UPSTREAM_UNREACHABLE', describeError(fin.result.err ?? proxyError(pe?.code ?? 'LLMAUDIT_E_UPSTREAM_UNREACHABLE')));
    if (pe?.code === 'LLMAUDIT_E_CLIENT_ABORTED') {
      // Nobody is left to answer: the entry says so instead of storing an answer never sent.
      respHeaders = {};
      respSide = { captured: digestOf(''), body: null };
    } else {
      respHeaders = { 'content-type': 'application/json' };
      respSide = { captured: digestOf(errorText), body: JSON.parse(errorText) as unknown };
    }
    if (fin.adapter !== null) {
      try {
        exchange = fin.adapter.finish({ complete: false });
      } catch {
        exchange = null;
      }
    }
  }
  ctx.metrics.bytesCaptured.inc({ direction: 'request' }, reqCaptured.bytes);
  ctx.metrics.bytesCaptured.inc({ direction: 'response' }, respSide.captured.bytes);

  // 4. Classify and build the entry.
  const errorType = pe?.errorType ?? null;
  const spanType = classifyExchange({ exchange, status, errorType });
  const streamed = started ? h.streamed : false;
  const ttfbMs = h?.firstByteMs === null || h === null ? null : round(h.firstByteMs);
  const api = exchange?.api ?? fin.adapter?.kind ?? 'opaque';
  const payload = buildEntry({
    id: base.id,
    endpoint,
    api,
    policyName: config.policy,
    mode,
    request: { method: base.method, path: redactUrl(base.url), headers: redactHeaders(base.req.headers, names), side: reqSide },
    response: {
      status,
      headers: respHeaders,
      side: respSide,
      streamed,
      chunks: streamed ? (exchange?.chunks ?? h?.rawChunks ?? 0) : 0,
      ttfbMs,
      durationMs,
      // Transport and protocol: a stream that ended without its terminator ([DONE], message_stop,
      // done:true) or with an error event was not completed either.
      complete: fin.result.ok && (!streamed || exchange === null || exchange.api === 'opaque' || (exchange.complete && exchange.apiError === null)),
      error: pe === null ? null : { code: pe.code, message: describeError(fin.result.err ?? proxyError(pe.code)) },
    },
    exchange,
    ids: fin.handle.ids,
    spanType,
    media,
  });

  // 5. Append. What follows it runs in its own function holding only what it needs: the exchange's
  // bodies, request and response objects are not kept alive (and copied by every young-generation
  // GC of the proxy) while the entry travels to the writer thread and back.
  const ta = performance.now();
  const appending = ctx.sink.append(payload);
  return afterAppend(ctx, appending, {
    id: base.id,
    endpoint,
    api,
    model: payload.model,
    inputTokens: payload.usage.inputTokens,
    outputTokens: payload.usage.outputTokens,
    status,
    durationMs,
    ttfbMs,
    appendStartedAt: ta,
    pe,
    errorType,
    spanType,
    exchange: fin.handle.inert === true ? null : exchange,
    handle: fin.handle,
    onLogFailure: config.log.onLogFailure,
    // Whatever the client has not had yet waits for the append: the end of a strict response, or
    // the proxy's own answer (the 503 instead when the log is down and policy blocks).
    client: started ? (pe === null && strict ? { kind: 'strict-end', res, h } : null) : errorText !== null ? { kind: 'error-answer', res, errorText, family: errorFamily(fin.adapter?.kind ?? null, route.endpoint.api, route.apiPath) } : null,
  });
}

interface AfterAppend {
  id: string;
  endpoint: string;
  api: string;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  status: number;
  durationMs: number;
  ttfbMs: number | null;
  appendStartedAt: number;
  pe: Classified | null;
  errorType: string | null;
  spanType: ReturnType<typeof classifyExchange>;
  exchange: NormalizedExchange | null;
  handle: TraceHandle;
  onLogFailure: SidecarConfig['log']['onLogFailure'];
  client: { kind: 'strict-end'; res: ServerResponse; h: NonNullable<UpstreamResult['handler']> } | { kind: 'error-answer'; res: ServerResponse; errorText: string; family: ReturnType<typeof errorFamily> } | null;
}

async function afterAppend(ctx: ExchangeContext, appending: Promise<AppendResult>, x: AfterAppend): Promise<void> {
  const { endpoint, api, pe } = x;
  let appended: AppendResult | null = null;
  try {
    appended = await appending;
    ctx.logState.down = false;
  } catch (err) {
    ctx.logState.down = true;
    ctx.metrics.logFailures.inc();
    ctx.logger.error({ id: x.id, endpoint, code: (err as { code?: unknown }).code, err: describeError(err), onLogFailure: x.onLogFailure }, 'AUDIT LOG APPEND FAILED: exchange not recorded');
  }
  ctx.metrics.logAppendLatency.observe((performance.now() - x.appendStartedAt) / 1000);
  const block = appended === null && x.onLogFailure === 'block';

  // 6. Whatever the client has not had yet.
  let sentStatus = x.status;
  const c = x.client;
  if (c !== null && c.kind === 'strict-end') {
    const held = c.h.takeHeld();
    if (block) c.res.destroy();
    else if (held === null) c.res.end();
    else c.res.end(held);
  } else if (c !== null) {
    if (block && pe?.code !== 'LLMAUDIT_E_CLIENT_ABORTED') {
      sentStatus = 503;
      sendProxyError(c.res, errorBody(c.family, 503, 'LLMAUDIT_E_LOG_UNAVAILABLE', proxyError('LLMAUDIT_E_LOG_UNAVAILABLE').message), 503);
    } else sendProxyError(c.res, c.errorText, x.status);
  }
  if (block) ctx.metrics.failures.inc({ reason: 'log_unavailable' });
  if (pe !== null) ctx.metrics.failures.inc({ reason: pe.reason });

  // 7. Span, metrics, one pino line (no content, no credentials).
  try {
    x.handle.end({
      exchange: x.exchange,
      status: sentStatus,
      errorType: x.errorType,
      spanType: x.spanType,
      endedAt: ctx.now(),
      ttfbMs: x.ttfbMs,
      seq: appended?.seq ?? null,
      entryHash: appended?.hash ?? null,
      origin: ctx.origin,
    });
  } catch (err) {
    ctx.logger.warn({ id: x.id, err: describeError(err) }, 'tracer end failed');
  }
  ctx.metrics.exchanges.inc({ endpoint, api, status: String(sentStatus) });
  ctx.metrics.latency.observe({ endpoint, api }, x.durationMs / 1000);
  if (x.ttfbMs !== null) ctx.metrics.ttfb.observe({ endpoint, api }, x.ttfbMs / 1000);
  const model = x.model ?? 'unknown';
  if (x.inputTokens !== null) ctx.metrics.tokens.inc({ endpoint, model, direction: 'input' }, x.inputTokens);
  if (x.outputTokens !== null) ctx.metrics.tokens.inc({ endpoint, model, direction: 'output' }, x.outputTokens);
  const line = {
    id: x.id,
    endpoint,
    api,
    model: x.model,
    status: sentStatus,
    ms: x.durationMs,
    tokens: { input: x.inputTokens, output: x.outputTokens },
    seq: appended?.seq ?? null,
    ...(pe === null ? {} : { code: pe.code }),
  };
  if (pe === null) ctx.logger.info(line, 'exchange');
  else ctx.logger.warn(line, 'exchange failed');
}
