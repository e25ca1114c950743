/**
 * The sidecar's admin server, on its own port so probes and scrapes never compete with LLM traffic
 * and the proxy listeners stay on the pod's loopback (docs/configuration.md "Admin server").
 *
 *   GET /healthz                  liveness: the event loop answers (200 always)
 *   GET /readyz                   readiness: log open and every listener up → 200, else 503 + reasons
 *   GET /metrics                  Prometheus text exposition (prom-client registry)
 *   GET /v1/checkpoint            the latest signed checkpoint (C2SP signed-note), text/plain
 *   GET /v1/proof/inclusion?seq=N InclusionProofBundle JSON (the `llmaudit prove --json` shape)
 *   POST /v1/erase                erasure of entries' content (erasure/live.ts), with a bearer token; only when configured
 *   GET /v1/proof/consistency?from=A[&to=B]  ConsistencyProofBundle JSON, to B (a size a checkpoint
 *                                 was signed at) or, without `to`, to the latest checkpoint
 *
 * Errors are JSON `{"error":{"code":"LLMAUDIT_E_...","message":"..."}}` (docs/errors.md).
 * Kubernetes probe semantics: https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ConsistencyProofBundle, InclusionProofBundle } from '../auditlog/types.ts';
import { isLlmauditError } from '../errors.ts';
import { adminError, type AdminErrorCode } from './admin-errors.ts';

/** The part of the audit log the admin server reads (AuditLog from auditlog/log-writer.ts fits). */
export interface AdminLogView {
  latestCheckpoint(): string | null;
  inclusionProof(seq: number): Promise<InclusionProofBundle>;
  consistencyProof(fromSize: number, toSize?: number): Promise<ConsistencyProofBundle>;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface AdminServerDeps {
  address: string;
  port: number;
  registry: Registry;
  /** Null while the log is not open. */
  log: () => AdminLogView | null;
  readiness: () => Readiness;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** POST /v1/erase (erasure/live.ts); absent: the path does not exist. */
  erase?: (body: string, authorization: string | undefined) => Promise<{ status: number; body: unknown }>;
  /** Runs before each /metrics scrape (e.g. to set gauges from the writer's stats). */
  beforeScrape?: () => void;
}

export interface AdminServer {
  start(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

const STATUS: Record<AdminErrorCode, number> = {
  LLMAUDIT_E_ADMIN_LISTEN: 500,
  LLMAUDIT_E_ADMIN_NOT_FOUND: 404,
  LLMAUDIT_E_ADMIN_METHOD: 405,
  LLMAUDIT_E_ADMIN_BAD_QUERY: 400,
  LLMAUDIT_E_ADMIN_NO_CHECKPOINT: 404,
  LLMAUDIT_E_ADMIN_PROOF_RANGE: 404,
  LLMAUDIT_E_ADMIN_LOG_UNAVAILABLE: 503,
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, value: unknown) => send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`);

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/** The request body as text, refused past `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(adminError('LLMAUDIT_E_ADMIN_BAD_QUERY', `the body is over ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A non-negative integer query parameter, or an error naming it. */
function intParam(url: URL, name: string, required: boolean): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) {
    if (required) throw adminError('LLMAUDIT_E_ADMIN_BAD_QUERY', `${name} is required`);
    return undefined;
  }
  if (!/^(0|[1-9]\d{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) throw adminError('LLMAUDIT_E_ADMIN_BAD_QUERY', `${name} must be a non-negative integer, got ${JSON.stringify(v.slice(0, 32))}`);
  return Number(v);
}

export function createAdminServer(deps: AdminServerDeps): AdminServer {
  let server: Server | null = null;
  let closing: Promise<void> | null = null;

  function openLog(): AdminLogView {
    const log = deps.log();
    if (log === null) throw adminError('LLMAUDIT_E_ADMIN_LOG_UNAVAILABLE');
    return log;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const paths = ['/healthz', '/readyz', '/metrics', '/v1/checkpoint', '/v1/proof/inclusion', '/v1/proof/consistency'];
    const erase = deps.erase;
    if (url.pathname === '/v1/erase' && erase !== undefined) {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw adminError('LLMAUDIT_E_ADMIN_METHOD', `${req.method ?? ''} ${url.pathname}`);
      }
      const r = await erase(await readBody(req, 64 * 1024), req.headers.authorization);
      return sendJson(res, r.status, r.body);
    }
    if (!paths.includes(url.pathname)) throw adminError('LLMAUDIT_E_ADMIN_NOT_FOUND', url.pathname.slice(0, 200));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw adminError('LLMAUDIT_E_ADMIN_METHOD', `${req.method ?? ''} ${url.pathname}`);
    }
    switch (url.pathname) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz': {
        const r = deps.readiness();
        return sendJson(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
      }
      case '/metrics': {
        deps.beforeScrape?.();
        return send(res, 200, deps.registry.contentType, await deps.registry.metrics());
      }
      case '/v1/checkpoint': {
        const note = openLog().latestCheckpoint();
        if (note === null) throw adminError('LLMAUDIT_E_ADMIN_NO_CHECKPOINT');
        return send(res, 200, 'text/plain; charset=utf-8', note);
      }
      case '/v1/proof/inclusion': {
        const seq = intParam(url, 'seq', true) as number;
        return sendJson(res, 200, await openLog().inclusionProof(seq));
      }
      default: {
        // /v1/proof/consistency: from A to B, or to the latest checkpoint (the one a witness is
        // shown, C2SP tlog-witness add-checkpoint). The bundle carries the signed checkpoint of
        // size B, so B must be a size the log signed a checkpoint at (checkpoints/ keeps them all).
        const from = intParam(url, 'from', true) as number;
        const to = intParam(url, 'to', false);
        if (to !== undefined && from > to) throw adminError('LLMAUDIT_E_ADMIN_PROOF_RANGE', `from=${from} is after to=${to}`);
        const bundle = await openLog()
          .consistencyProof(from, to)
          .catch((err: unknown) => {
            if (to !== undefined && isLlmauditError(err) && err.code === 'LLMAUDIT_E_LOG_NOT_FOUND') throw adminError('LLMAUDIT_E_ADMIN_PROOF_RANGE', err.message, { cause: err });
            throw err;
          });
        return sendJson(res, 200, bundle);
      }
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (isLlmauditError(err)) {
        const status = STATUS[err.code as AdminErrorCode] ?? (err.code === 'LLMAUDIT_E_LOG_NOT_FOUND' ? 404 : err.code === 'LLMAUDIT_E_LOG_CLOSED' ? 503 : 500);
        if (status >= 500) deps.logger.warn({ code: err.code, path: req.url }, 'admin request failed');
        return sendError(res, status, err.code, err.message);
      }
      deps.logger.error({ err, path: req.url }, 'admin request failed unexpectedly');
      sendError(res, 500, 'LLMAUDIT_E_INTERNAL', 'internal error');
    });
  }

  return {
    async start() {
      if (server !== null) throw new Error('admin server already started');
      const s = createServer({ requestTimeout: 30_000 }, handle);
      server = s;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(adminError('LLMAUDIT_E_ADMIN_LISTEN', `${deps.address}:${deps.port}: ${err.message}`, { cause: err }));
        s.once('error', onError);
        s.listen(deps.port, deps.address, () => {
          s.off('error', onError);
          resolve();
        });
      });
      const a = s.address() as AddressInfo;
      return { address: a.address, port: a.port };
    },
    close() {
      if (closing !== null) return closing;
      const s = server;
      closing =
        s === null || !s.listening
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            });
      return closing;
    },
  };
}
