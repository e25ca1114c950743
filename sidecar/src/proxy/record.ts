/**
 * The end of an exchange: turn what was seen into an entry, append it, end the span, count and log
 * one line. How the client's response ends is the response finisher's decision
 * (response-finisher.ts); this module tells it when. The order encodes the durability policy
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
import type { AdapterFeed } from './adapter-feed.ts';
import type { UpstreamOutcome } from './upstream-handler.ts';
import type { ResponseFinisher, ErrorAnswer } from './response-finisher.ts';
import type { Classified } from './upstream-errors.ts';
import type { RouteTarget } from './router.ts';
import type { ExchangeContext } from './exchange-context.ts';
import type { BodyCapture, CapturedBody } from '../capture/body-capture.ts';
import type { MediaRef } from '../capture/media.ts';
import { createHash } from 'node:crypto';
import { classifyExchange } from '../telemetry/classify.ts';
import { redactHeaders } from '../capture/redact-headers.ts';
import { redactUrl } from '../capture/redact-url.ts';
import { decodeBody } from '../capture/decode-body.ts';
import { extractMedia } from '../capture/media.ts';
import { parseJsonBody, storedBody } from '../capture/stored-body.ts';
import { appendEntry } from './log-gate.ts';
import { SOURCE_MIN_BYTES, type PayloadSource } from '../auditlog/log-thread-protocol.ts';
import type { RequestGrant } from '../capture/memory-budget.ts';
import { buildEntry, type StoredSide } from './build-entry.ts';
import { moveResponseMedia } from './move-media.ts';
import { errorBody, errorFamily } from './error-shapes.ts';
import { proxyError } from './errors.ts';
import { describeError } from './upstream-errors.ts';
import { redactNames } from './respond.ts';
import type { Admission } from '../governance/engine.ts';
import { redactStoredRequest, settleExchange, spanGovernance } from '../governance/exchange-hook.ts';
import type { GovernanceRecord } from '../governance/decide.ts';

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
  /** The memory budget's admission of the request body (released once the entry is handed to the log). */
  grant?: RequestGrant;
  /** The one owner of the client's response. */
  finisher: ResponseFinisher;
}

export interface Finished {
  /** The adapter (if any) and the one path that feeds it. */
  feed: AdapterFeed;
  handle: TraceHandle;
  /** The request body parsed as JSON (undefined: not JSON, not whole, or empty). */
  reqJson: unknown;
  /** What the upstream did (null: the request was never forwarded). */
  outcome: UpstreamOutcome | null;
  /** Why the exchange failed (null: it did not). */
  err: unknown;
  proxyError: Classified | null;
  /** The decoded request body when it came compressed (null: could not be decoded). */
  reqPlain?: Buffer | null;
  /** Set when a compressed request body could not be decoded: stored as digest + size only. */
  reqEncoding?: string;
  /** The governance decision taken before forwarding (unset: the request never got that far). */
  governance?: Admission;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function digestOf(text: string): CapturedBody {
  const buf = Buffer.from(text);
  return { buf, sha256: createHash('sha256').update(buf).digest('hex'), bytes: buf.length, truncated: false };
}

export async function recordExchange(base: ExchangeBase, fin: Finished): Promise<void> {
  const { ctx, config, route, finisher } = base;
  const pe = fin.proxyError;
  const mode = config.capture.mode;
  const endpoint = route.endpoint.name;
  const adapter = fin.feed.adapter;

  // 1. The client's side first, where policy allows (cut, or end a relayed response now).
  const ending = finisher.begin(fin.outcome === null || fin.outcome.status === 0 ? null : fin.outcome.ok);
  // The upstream's response is what the entry shows unless the proxy answers in its place.
  const h = ending === 'answer' ? null : fin.outcome;
  const started = h !== null;
  const durationMs = round(performance.now() - base.t0);

  // 2. Request side.
  const reqCaptured = base.reqCapture.finish();
  let reqSide: StoredSide = { captured: reqCaptured, body: null };
  let media: MediaRef[] = [];
  let reqSource: PayloadSource | undefined;
  if (!reqCaptured.truncated && mode !== 'metadata') {
    // Stored as JSON only when it round-trips, else as the text sent (capture/stored-body.ts).
    const reqStored = fin.reqJson === undefined ? null : storedBody(fin.reqPlain ?? reqCaptured.buf, fin.reqJson);
    if (reqStored !== null && reqStored.json) {
      let body: unknown = reqStored.body;
      // A body no larger than the threshold cannot hold a base64 string above it: not walked.
      const plainBytes = fin.reqPlain != null ? fin.reqPlain.length : reqCaptured.bytes;
      if (ctx.media !== null && config.capture.mediaThresholdBytes > 0 && plainBytes > config.capture.mediaThresholdBytes) {
        const ex = extractMedia(reqStored.body, config.capture.mediaThresholdBytes, '/request/body');
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
      // Values the policy redacts in the log never reach the disk (docs/governance.md).
      const stored = redactStoredRequest(fin.governance, body, true).body;
      reqSide = { captured: reqCaptured, body: stored };
      // A large body stored as parsed goes to the writer as its text (docs/adr/0025-large-bodies-off-the-event-loop.md).
      const text = fin.reqPlain ?? reqCaptured.buf;
      if (stored === reqStored.body && text !== null && text.length >= SOURCE_MIN_BYTES) reqSource = { requestBody: text };
    } else if (fin.reqEncoding !== undefined) {
      reqSide = { captured: reqCaptured, body: null, encoding: fin.reqEncoding };
    } else {
      const s = reqStored ?? storedBody(fin.reqPlain ?? reqCaptured.buf, undefined);
      reqSide = { captured: reqCaptured, body: redactStoredRequest(fin.governance, s.body, false).body, ...(s.encoding === undefined ? {} : { encoding: s.encoding }), ...(s.rawReason === undefined ? {} : { rawReason: s.rawReason }) };
    }
  }
  if (base.grant?.refused === true || base.grant?.decodeRefused === true) {
    // The memory budget had no room for this body: streamed through, digest only (capture/memory-budget.ts).
    reqSide.omittedReason = 'memory_budget';
    ctx.metrics.truncations.inc({ direction: 'request', reason: 'memory_budget' });
  } else if (reqCaptured.truncated) ctx.metrics.truncations.inc({ direction: 'request', reason: 'cap' });

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
    let omittedReason: string | undefined;
    if (decoded !== null && h.encoding !== undefined) {
      const r = await decodeBody(decoded, h.encoding, config.capture.maxDecodedBytes, ctx.budget);
      if (r.ok) decoded = r.buf;
      else {
        decoded = null;
        encoding = h.encoding;
        if (r.reason === 'memory_budget') omittedReason = 'memory_budget';
        ctx.metrics.truncations.inc({ direction: 'response', reason: r.reason === 'decoded_cap' || r.reason === 'memory_budget' ? r.reason : 'decode_error' });
      }
    }
    try {
      exchange = fin.feed.finish(decoded, h.ok);
    } catch (err) {
      ctx.logger.warn({ id: base.id, err: describeError(err) }, 'adapter failed; response recorded opaquely');
    }
    let body: unknown = null;
    let rawReason: string | undefined;
    if (decoded === null && !captured.truncated && h.streamed && exchange !== null && h.encoding === undefined) {
      body = exchange.reconstructed ?? null; // digest-only stream: the adapter's reconstruction is the stored body
    } else if (decoded !== null) {
      // A stream (by media type, or framed by the request's stream flag) is stored as the adapter's reconstruction.
      if ((h.streamed || (exchange?.chunks ?? 0) > 0) && exchange !== null && exchange.reconstructed !== null && exchange.reconstructed !== undefined) body = exchange.reconstructed;
      else {
        // A whole body the adapter parsed is that parse: kept only if it round-trips.
        const ct = h.headers['content-type'];
        const parsed = exchange?.reconstructed ?? (h.streamed ? undefined : parseJsonBody(decoded, typeof ct === 'string' ? ct : undefined));
        const s = storedBody(decoded, parsed ?? undefined);
        body = s.body;
        if (s.encoding !== undefined) encoding = s.encoding;
        if (s.rawReason !== undefined) rawReason = s.rawReason;
      }
    }
    if (captured.truncated) ctx.metrics.truncations.inc({ direction: 'response', reason: 'cap' });
    if (body !== null && typeof body === 'object' && ctx.media !== null) {
      const moved = await moveResponseMedia(ctx, config, base.id, body, decoded !== null ? decoded.length : captured.bytes); // e.g. OpenAI Images b64_json
      body = moved.body;
      if (moved.media.length > 0) media = media.concat(moved.media);
    }
    respSide = { captured, body, ...(encoding === undefined ? {} : { encoding }), ...(rawReason === undefined ? {} : { rawReason }), ...(omittedReason === undefined ? {} : { omittedReason }) };
  } else {
    // The proxy answers itself (upstream unreachable, timeout, log gate, client gone first).
    status = pe?.status ?? 502;
    const family = errorFamily(adapter?.kind ?? null, route.endpoint.api, route.apiPath);
    errorText = errorBody(family, status, pe?.code ?? 'LLMAUDIT_E_UPSTREAM_UNREACHABLE', describeError(fin.err ?? proxyError(pe?.code ?? 'LLMAUDIT_E_UPSTREAM_UNREACHABLE')));
    if (pe?.code === 'LLMAUDIT_E_CLIENT_ABORTED') {
      // Nobody is left to answer: the entry says so instead of storing an answer never sent.
      respHeaders = {};
      respSide = { captured: digestOf(''), body: null };
    } else {
      respHeaders = { 'content-type': 'application/json' };
      respSide = { captured: digestOf(errorText), body: JSON.parse(errorText) as unknown };
    }
    try {
      exchange = fin.feed.finish(null, false);
    } catch {
      exchange = null;
    }
  }
  ctx.metrics.bytesCaptured.inc({ direction: 'request' }, reqCaptured.bytes);
  ctx.metrics.bytesCaptured.inc({ direction: 'response' }, respSide.captured.bytes);

  // Governance: the response's detections, the cost, the decision record (governance/exchange-hook.ts).
  const governed = await settleExchange(ctx.governance, ctx.governanceMetrics, config, fin.governance, { api: exchange?.api ?? adapter?.kind ?? 'opaque', endpoint, exchange, responseBody: respSide.body, responseIsJson: typeof respSide.body === 'object' });
  if (governed.responseBody !== respSide.body) respSide = { ...respSide, body: governed.responseBody };

  // 4. Classify and build the entry.
  const errorType = pe?.errorType ?? null;
  const spanType = classifyExchange({ exchange, status, errorType });
  const streamed = started ? h.streamed : false;
  const ttfbMs = h === null || h.firstByteMs === null ? null : round(h.firstByteMs);
  const api = exchange?.api ?? adapter?.kind ?? 'opaque';
  const payload = buildEntry({
    id: base.id,
    endpoint,
    api,
    policyName: config.policy,
    mode,
    request: { method: base.method, path: redactUrl(base.url), headers: redactHeaders(base.req.headers, names, base.req.rawHeaders), side: reqSide },
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
      complete: h !== null && h.ok && (!streamed || exchange === null || exchange.api === 'opaque' || (exchange.complete && exchange.apiError === null)),
      error: pe === null ? null : { code: pe.code, message: describeError(fin.err ?? proxyError(pe.code)) },
    },
    exchange,
    ids: fin.handle.ids,
    spanType,
    media,
    governance: governed.record,
  });

  // 5. Append. What follows it runs in its own function holding only what it needs: the exchange's
  // bodies, request and response objects are not kept alive (and copied by every young-generation
  // GC of the proxy) while the entry travels to the writer thread and back.
  const ta = performance.now();
  const appending = appendEntry(ctx, payload, reqSource); // a payload the log refuses is written degraded (log-gate.ts)
  // The request's memory charge is given back once the entry is written (or refused): until then
  // its canonical text and line are still in memory. Only the grant is kept alive, not `base`.
  const grant = base.grant;
  if (grant !== undefined) appending.then(() => grant.release(), () => grant.release());
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
    governance: governed.record,
    handle: fin.handle,
    onLogFailure: config.log.onLogFailure,
    // Whatever the client has not had yet waits for the append: the end of a held response, or
    // the proxy's own answer (the 503 instead when the log is down and policy blocks).
    finisher: ending === 'relayed' || ending === 'cut' ? null : finisher,
    // The client that went away gets no answer (the entry stores none either).
    answer:
      errorText === null || pe?.code === 'LLMAUDIT_E_CLIENT_ABORTED'
        ? null
        : {
            status,
            body: errorText,
            blocked: errorBody(errorFamily(adapter?.kind ?? null, route.endpoint.api, route.apiPath), 503, 'LLMAUDIT_E_LOG_UNAVAILABLE', proxyError('LLMAUDIT_E_LOG_UNAVAILABLE').message),
          },
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
  /** null: the client's response already ended (relayed or cut); nothing waits for the append. */
  finisher: ResponseFinisher | null;
  answer: ErrorAnswer | null;
  governance: GovernanceRecord;
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
  const sentStatus = x.finisher === null ? x.status : x.finisher.complete(appended !== null, block, x.status, x.answer);
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
      governance: spanGovernance(x.governance),
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
