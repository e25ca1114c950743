/**
 * The webhook's HTTPS server (node:https, TLS 1.2+): POST /mutate-v1-pod takes an AdmissionReview
 * and answers with admission.ts's decision. Certificates are swapped in with
 * tls.Server#setSecureContext, so a renewal needs no restart and open connections keep working.
 * The API server calls with a 10 s timeout (timeoutSeconds in the chart), so requests are bounded
 * in size and time here too: a decision not made within the webhook's own budget (3 s, well under
 * timeoutSeconds) admits the pod unchanged — answered in time, rather than timed out by the API
 * server, so the client gets a warning and the pod is counted.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { admitWithinBudget, parseAdmissionReview, type AdmissionDeps } from './admission.ts';

export const MUTATE_PATH = '/mutate-v1-pod';
/** An AdmissionReview carries the pod (etcd caps objects at 1.5 MiB) plus request metadata. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
/** How long one AdmissionReview may take here; the chart's timeoutSeconds is 10. */
export const DEFAULT_BUDGET_MS = 3000;

export interface WebhookServerOptions extends AdmissionDeps {
  port: number;
  host?: string;
  /** PEM pair; may come later through setCertificate (handshakes fail until then). */
  tls?: { cert: string; key: string };
  maxBodyBytes?: number;
  /** Answer (unchanged) when the decision takes longer than this. */
  budgetMs?: number;
}

export interface WebhookServer {
  start(): Promise<{ port: number }>;
  setCertificate(pair: { cert: string; key: string }): void;
  close(): Promise<void>;
  readonly server: Server;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createWebhookServer(opts: WebhookServerOptions): WebhookServer {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const server = createServer({ minVersion: 'TLSv1.2', ...(opts.tls === undefined ? {} : { cert: opts.tls.cert, key: opts.tls.key }) });
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== MUTATE_PATH) return send(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, maxBody)).toString('utf8'));
    } catch (err) {
      if (err instanceof BodyTooLarge) return send(res, 413, { error: `body larger than ${maxBody} bytes` });
      return send(res, 400, { error: 'body is not JSON' });
    }
    try {
      const request = parseAdmissionReview(body);
      send(res, 200, await admitWithinBudget(request, opts, opts.budgetMs ?? DEFAULT_BUDGET_MS));
    } catch (err) {
      if (isLlmauditError(err, 'LLMAUDIT_E_ADMISSION_REVIEW_INVALID')) return send(res, 400, { error: err.message, code: err.code });
      // admit() turns its own failures into "allowed"; reaching here is a bug. No review uid to answer: 500.
      opts.log?.warn({ err: (err as Error).message }, 'webhook request failed');
      send(res, 500, { error: 'internal error' });
    }
  }

  let closed = false;
  return {
    server,
    start() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
          server.off('error', reject);
          resolve({ port: (server.address() as AddressInfo).port });
        });
      });
    },
    setCertificate(pair) {
      server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
    },
    close() {
      if (closed || !server.listening) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
