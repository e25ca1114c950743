/**
 * The proxy: listeners → router → one exchange per request (exchange.ts) → audit sink.
 * Long-lived, with start() / reload() / idempotent close() (docs/style-guide.md "Streaming and lifecycle").
 * Everything it needs is handed in (docs/style-guide.md "Dependencies are passed in").
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { EndpointConfig, ListenerConfig, SidecarConfig } from '../config/schema.ts';
import type { ExchangeTracer } from '../telemetry/types.ts';
import type { ProxyMetrics } from './metrics.ts';
import { createRouter, type Router } from './router.ts';
import { createUpstreams, defaultDispatcherFactory, type Upstreams } from './upstreams.ts';
import { handleExchange, ShutdownSignal } from './exchange.ts';
import type { ExchangeContext } from './exchange-context.ts';
import { PROXY_ERRORS, proxyError } from './errors.ts';
import { errorBody } from './error-shapes.ts';
import { readingBody } from './request-body.ts';
import { sendProxyError } from './respond.ts';

import type { AuditSink } from './sink.ts';
import { createMediaStore } from '../capture/media-store.ts';
import { LogGate, probeWritable } from './log-gate.ts';
import { randomBytes } from 'node:crypto';
import { createGovernance } from '../governance/engine.ts';
import type { GovernanceMetrics } from '../governance/exchange-hook.ts';
import { MemoryBudget } from '../capture/memory-budget.ts';

export type { AuditSink } from './sink.ts';

export interface ProxyDeps {
  config: SidecarConfig;
  sink: AuditSink;
  logger: Logger;
  tracer: ExchangeTracer;
  metrics: ProxyMetrics;
  /**
   * The chain directory: base64 media above `capture.mediaThresholdBytes` are written to
   * `<chainDir>/media/<sha256>.<ext>` and referenced from the entry. Unset: media stay inline.
   */
  chainDir?: string;
  /** The log's origin line, passed to the tracer's outcome (`llmaudit.origin`). */
  origin?: string;
  /** Builds the dispatcher for an endpoint; default: an undici Pool with the config's TLS and timeouts. */
  dispatcherFactory?: (endpoint: EndpointConfig, config: SidecarConfig) => Dispatcher;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** How often a closed log gate probes the chain directory (default 1000 ms; log-gate.ts). */
  logProbeIntervalMs?: number;
  /** HMAC key of redaction tokens and API-key fingerprints (default: random, so tokens correlate only within this process). */
  governanceKey?: Buffer;
  /** Governance decisions, detections, cost (default: not counted). */
  governanceMetrics?: GovernanceMetrics;
}

export interface ListenAddress {
  address: string;
  port: number;
}

export interface Proxy {
  /** Binds every listener; resolves with the bound addresses (port 0 → the real port), in config order. */
  start(): Promise<ListenAddress[]>;
  /** Swaps routes, endpoints, capture and log settings for new exchanges; listeners need a restart. */
  reload(config: SidecarConfig): void;
  /** Stops accepting, waits up to drainMs for in-flight exchanges and their entries, then aborts the rest. */
  close(opts?: { drainMs?: number }): Promise<void>;
  /** Exchanges in flight (request accepted, entry not yet appended). */
  inflight(): number;
  /** True between a successful start() and close(). */
  listening(): boolean;
  /** True while the last append failed (with onLogFailure: block, new exchanges get 503 until one lands). */
  logDown(): boolean;
}

// The framing is unknown, so the family is too: the OpenAI shape, the most common.
const BAD_REQUEST_BODY = errorBody('openai', 400, 'LLMAUDIT_E_BAD_REQUEST', PROXY_ERRORS.LLMAUDIT_E_BAD_REQUEST.message);
const BAD_REQUEST = `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BAD_REQUEST_BODY)}\r\n\r\n${BAD_REQUEST_BODY}`;
const HEADERS_TOO_LARGE_BODY = errorBody('openai', 431, 'LLMAUDIT_E_BAD_REQUEST', `${PROXY_ERRORS.LLMAUDIT_E_BAD_REQUEST.message}: request headers too large`);
const HEADERS_TOO_LARGE = `HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(HEADERS_TOO_LARGE_BODY)}\r\n\r\n${HEADERS_TOO_LARGE_BODY}`;
const CONNECT_BODY = errorBody('openai', 405, 'LLMAUDIT_E_BAD_REQUEST', `${PROXY_ERRORS.LLMAUDIT_E_BAD_REQUEST.message}: CONNECT (this is not a forward proxy)`);
const CONNECT_REFUSED = `HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CONNECT_BODY)}\r\n\r\n${CONNECT_BODY}`;
const EXPECT_BODY = errorBody('openai', 417, 'LLMAUDIT_E_BAD_REQUEST', `${PROXY_ERRORS.LLMAUDIT_E_BAD_REQUEST.message}: unsupported Expect header (only 100-continue)`);

/** Responses a connection still owes (pipelined requests are answered in order, RFC 9112 §9.3.2). */
interface ConnState {
  pending: number;
  /** A malformed request followed them: its 400 goes out once they are all sent. */
  badRequestAfter: boolean;
  /** The response being sent or awaited. */
  current: ServerResponse | null;
}
const connStates = new WeakMap<Socket, ConnState>();

function sameListeners(a: readonly ListenerConfig[], b: readonly ListenerConfig[]): boolean {
  return a.length === b.length && a.every((l, i) => l.address === b[i]?.address && l.port === b[i]?.port);
}

export function createProxy(deps: ProxyDeps): Proxy {
  const now = deps.now ?? Date.now;
  let config = deps.config;
  let router: Router = createRouter(config);
  const upstreams: Upstreams = createUpstreams(config, deps.dispatcherFactory ?? defaultDispatcherFactory);
  const servers: Server[] = [];
  const active = new Set<Promise<void>>();
  const aborters = new Set<ShutdownSignal>();
  let started = false;
  let closing: Promise<void> | null = null;
  let idleWaiters: Array<() => void> = [];

  // Closed by an append that cannot reach the disk; reopened by a probe of the chain directory (log-gate.ts).
  const gate = new LogGate({ probe: deps.chainDir === undefined ? null : () => probeWritable(deps.chainDir as string), logger: deps.logger, ...(deps.logProbeIntervalMs === undefined ? {} : { probeIntervalMs: deps.logProbeIntervalMs }) });
  // Rate-limit buckets and budgets live in the engine, which outlives reloads (docs/governance.md).
  const governance = createGovernance({ key: deps.governanceKey ?? randomBytes(32), hooks: { storeFailure: () => deps.governanceMetrics?.storeFailures.inc() } });
  const ctx: ExchangeContext = {
    get config() {
      return config;
    },
    get router() {
      return router;
    },
    upstreams,
    sink: deps.sink,
    logger: deps.logger,
    tracer: deps.tracer,
    metrics: deps.metrics,
    media: deps.chainDir === undefined ? null : createMediaStore(deps.chainDir),
    origin: deps.origin ?? config.origin ?? '',
    now,
    logState: gate,
    governance,
    governanceMetrics: deps.governanceMetrics ?? null,
    budget: new MemoryBudget(() => config.capture.memoryBudgetBytes),
  };

  const track = (listener: ListenerConfig) => (req: IncomingMessage, res: ServerResponse) => {
    let st = connStates.get(req.socket);
    if (st === undefined) {
      const state: ConnState = { pending: 0, badRequestAfter: false, current: null };
      st = state;
      connStates.set(req.socket, st);
      // The client's FIN: after a complete request it may be a half-close (shutdown(SHUT_WR)), and
      // the answer still goes out; once the answer has begun it means the client is gone, and the
      // exchange is aborted as on a reset.
      req.socket.on('end', () => {
        const r = state.current;
        if (r !== null && r.headersSent && !r.writableFinished) r.destroy();
      });
    }
    const conn = st;
    conn.pending++;
    conn.current = res;
    // The response as long as it is unanswered. The closures below reach the request and the
    // response only through it and the socket: once the client has its answer, the exchange's
    // recording (which outlives it until the entry is appended) keeps neither alive.
    let answering: ServerResponse | null = res;
    const socket = req.socket;
    const answered = () => {
      if (answering === null) return;
      if (conn.current === answering) conn.current = null;
      answering = null;
      conn.pending--;
      if (conn.pending === 0 && conn.badRequestAfter) {
        conn.badRequestAfter = false;
        if (socket.writable) socket.end(BAD_REQUEST);
        else socket.destroy();
      }
    };
    res.once('finish', answered);
    res.once('close', answered);
    const abort = new ShutdownSignal();
    aborters.add(abort);
    const p = handleExchange(ctx, listener, req, res, abort)
      .catch((err: unknown) => {
        deps.logger.error({ err }, 'exchange failed unexpectedly');
        const r = answering;
        if (r === null) return; // answered already: nothing left to end
        if (!r.headersSent) {
          r.statusCode = 500;
          r.end();
        } else r.destroy();
      })
      .finally(() => {
        aborters.delete(abort);
        active.delete(p);
        if (active.size === 0) {
          const w = idleWaiters;
          idleWaiters = [];
          for (const f of w) f();
        }
      });
    active.add(p);
  };

  return {
    async start() {
      if (started) throw new Error('proxy already started');
      started = true;
      const addrs: ListenAddress[] = [];
      for (const listener of config.listeners) {
        // keepAliveTimeout above common client pools' idle timeouts avoids races on reused sockets.
        // requireHostHeader off: a request without Host is refused by the exchange, with a JSON body.
        const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000, requireHostHeader: false }, track(listener));
        // A client that half-closes after its request (shutdown(SHUT_WR)) still gets its answer.
        (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
        const where = `${listener.address}:${listener.port}`;
        server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
          // Malformed requests (bare CR/LF in headers, Transfer-Encoding with Content-Length...)
          // are refused by Node's parser before any handler runs (RFC 9112 §6.3, §11.2).
          // A peer that merely went away (reset, idle keep-alive timeout) is not a bad request.
          if (err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
            socket.destroy();
            return;
          }
          deps.metrics.failures.inc({ reason: 'bad_request' });
          deps.logger.warn({ code: err.code, listener: where }, 'malformed request refused');
          const reading = readingBody.get(socket);
          if (reading !== undefined && !reading.req.complete) {
            // The body of a routed request is malformed (its exchange answers 400 and records it),
            // or the client closed its side before the body ended (recorded as gone).
            reading.guard.fail(
              err.code === 'HPE_INVALID_EOF_STATE'
                ? proxyError('LLMAUDIT_E_CLIENT_ABORTED', 'the client closed the request before its body ended')
                : proxyError('LLMAUDIT_E_BAD_REQUEST', `malformed request body framing (${err.code ?? err.message})`),
            );
            return;
          }
          const st = connStates.get(socket);
          if (st !== undefined && st.pending > 0) {
            // Requests before it on this connection are answered first, then the 400, then close.
            st.badRequestAfter = true;
            return;
          }
          socket.end(err.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : BAD_REQUEST);
        });
        server.on('connect', (_req: IncomingMessage, socket: Socket) => {
          deps.metrics.failures.inc({ reason: 'bad_request' });
          deps.logger.warn({ listener: where }, 'CONNECT refused');
          if (socket.writable) socket.end(CONNECT_REFUSED);
          else socket.destroy();
        });
        server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
          // Expect other than 100-continue (RFC 9110 §10.1.1): 417, in the documented JSON shape.
          deps.metrics.failures.inc({ reason: 'bad_request' });
          deps.logger.warn({ listener: where }, 'unsupported Expect refused');
          req.resume();
          res.setHeader('connection', 'close');
          sendProxyError(res, EXPECT_BODY, 417);
        });
        servers.push(server);
        const bound = new Promise<void>((resolve, reject) => {
          const onError = (err: Error) => reject(proxyError('LLMAUDIT_E_LISTEN', `${listener.address}:${listener.port}: ${err.message}`, { cause: err }));
          server.once('error', onError);
          server.listen(listener.port, listener.address, () => {
            server.off('error', onError);
            resolve();
          });
        });
        try {
          await bound;
        } catch (err) {
          // Leave nothing half-started: listeners bound so far are closed again.
          for (const s of servers) s.close();
          servers.length = 0;
          started = false;
          throw err;
        }
        const a = server.address() as AddressInfo;
        addrs.push({ address: a.address, port: a.port });
      }
      return addrs;
    },
    reload(next) {
      if (!sameListeners(config.listeners, next.listeners)) {
        deps.logger.warn('listener changes take effect after a restart; routes, endpoints and capture settings are reloaded');
      }
      upstreams.update(next);
      router = createRouter(next);
      config = next;
    },
    close(opts = {}) {
      if (closing !== null) return closing;
      closing = (async () => {
        gate.close();
        for (const s of servers) s.close();
        for (const s of servers) s.closeIdleConnections();
        if (active.size > 0) {
          const drained = new Promise<void>((resolve) => idleWaiters.push(resolve));
          const drainMs = opts.drainMs ?? config.shutdownDrainMs;
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, drainMs);
          });
          await Promise.race([drained, timeout]);
          clearTimeout(timer);
          // Past the deadline: abort what is left; each still writes its (incomplete) entry.
          for (const a of aborters) a.abort();
          for (const s of servers) s.closeAllConnections(); // also ends requests still sending their body
          // Aborted exchanges still write their entries; a log that does not answer at all must not
          // hold the shutdown forever either.
          let grace: NodeJS.Timeout | undefined;
          await Promise.race([Promise.allSettled([...active]), new Promise<void>((resolve) => (grace = setTimeout(resolve, Math.max(1000, drainMs))))]);
          clearTimeout(grace);
          if (active.size > 0) deps.logger.error({ pending: active.size }, 'shutdown: entries still unwritten after the grace period');
        }
        for (const s of servers) s.closeAllConnections();
        await upstreams.destroy();
        await governance.close();
        started = false;
      })();
      return closing;
    },
    inflight() {
      return active.size;
    },
    logDown() {
      return ctx.logState.down;
    },
    listening() {
      return started && closing === null && servers.length > 0 && servers.every((s) => s.listening);
    },
  };
}
