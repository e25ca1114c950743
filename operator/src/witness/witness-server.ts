// The operator's C2SP tlog-witness HTTP server, on every replica (the chart's Service fronts them
// all; the heads ConfigMap's compare-and-swap makes any replica's answer safe):
//
//   POST /<namespace>/<policy>/add-checkpoint     https://c2sp.org/tlog-witness "add-checkpoint"
//
// `<namespace>/<policy>` is the submission prefix the operator renders into each policy's sidecar
// config (witness.url), so the witness knows which key the log must have signed with: the
// policy's verifier key, read from its signing Secret — never trusted by network position.
// Unknown policy: 404 (the spec's "unknown origin"); no signature by that key: 403.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseSignerKey, parseVerifierKey, type NoteVerifier } from '@llmaudit/sidecar/auditlog';
import { TLOG_SIZE_CONTENT_TYPE } from '@llmaudit/sidecar/witness/add-checkpoint';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { SIGNING_FILE, policyResourceNames } from '../api/names.ts';
import type { Log } from '../controllers/types.ts';
import { operatorError } from '../errors.ts';
import type { EmitEvent } from '../kube/events.ts';
import type { KubeApi } from '../kube/types.ts';
import type { Refusal } from './heads.ts';
import { podOfOrigin } from './heads.ts';
import type { HeadStore } from './head-store.ts';
import type { WitnessMetrics } from './witness-metrics.ts';
import type { WitnessOutcome } from './witness-core.ts';

/** An add-checkpoint body: old line, at most 63 proof lines, a checkpoint with its signatures. */
const MAX_BODY = 64 * 1024;
const KEY_CACHE_MS = 30_000;

export interface WitnessServerDeps {
  api: KubeApi;
  store: HeadStore;
  /** The policy from the replica's cache. */
  lookupPolicy: (namespace: string, name: string) => AuditPolicy | undefined;
  emitEvent: EmitEvent;
  metrics: WitnessMetrics;
  log: Log;
  port: number;
  host?: string;
}

export interface WitnessServer {
  port: number;
  close(): Promise<void>;
}

/** The policy's log verifier key, from the Secret the sidecars sign with (cached briefly). */
export function policyVerifierReader(api: KubeApi, ttlMs = KEY_CACHE_MS, now: () => number = Date.now): (policy: AuditPolicy) => Promise<NoteVerifier | undefined> {
  const cache = new Map<string, { at: number; verifier: NoteVerifier | undefined }>();
  return async (policy) => {
    const ns = policy.metadata.namespace ?? '';
    const ref = policy.spec.signing.secretRef;
    const secretName = ref?.name ?? policyResourceNames(policy.metadata.name ?? '').signingSecret;
    const key = `${ns}/${secretName}/${ref?.key ?? SIGNING_FILE}`;
    const hit = cache.get(key);
    if (hit !== undefined && now() - hit.at < ttlMs) return hit.verifier;
    const secret = await api.get('secrets', ns, secretName);
    const raw = (secret?.data as Record<string, string> | undefined)?.[ref?.key ?? SIGNING_FILE];
    let verifier: NoteVerifier | undefined;
    try {
      verifier = raw === undefined ? undefined : parseVerifierKey(parseSignerKey(Buffer.from(raw, 'base64').toString('utf8').trim()).verifierKey);
    } catch {
      verifier = undefined;
    }
    cache.set(key, { at: now(), verifier });
    return verifier;
  };
}

export function resultLabel(o: WitnessOutcome): string {
  if ('refusal' in o && o.refusal !== undefined) return 'refused';
  switch (o.status) {
    case 200:
      return 'cosigned';
    case 409:
      return 'conflict';
    case 422:
      return 'unprocessable';
    case 403:
      return 'forbidden';
    default:
      return 'bad_request';
  }
}

export async function startWitnessServer(deps: WitnessServerDeps): Promise<WitnessServer> {
  const verifierOf = policyVerifierReader(deps.api);

  const reportRefusal = async (policy: AuditPolicy, origin: string, refusal: Refusal): Promise<void> => {
    deps.log.warn({ policy: `${policy.metadata.namespace ?? ''}/${policy.metadata.name ?? ''}`, origin, kind: refusal.kind, size: refusal.size }, 'witness refused a checkpoint');
    const message = `Witness refused a checkpoint of ${origin}: ${refusal.message}. Its log no longer matches what the witness cosigned; run llmaudit verify --witness-key on it.`;
    await deps.emitEvent({ regarding: { ...policy, metadata: policy.metadata }, type: 'Warning', reason: 'CheckpointRefused', message });
    const { pod, podUid } = podOfOrigin(origin);
    if (pod !== '') {
      await deps.emitEvent({ regarding: { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: policy.metadata.namespace ?? '', uid: podUid } }, type: 'Warning', reason: 'CheckpointRefused', message });
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://witness');
    const m = /^\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)\/add-checkpoint$/.exec(url.pathname);
    if (m === null) return text(res, 404, 'not found\n');
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return text(res, 405, 'add-checkpoint takes POST\n');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) {
        deps.metrics.requests.inc({ result: 'bad_request' });
        res.setHeader('connection', 'close');
        return text(res, 413, `body above ${MAX_BODY} bytes\n`);
      }
      chunks.push(c);
    }
    const policy = deps.lookupPolicy(m[1] as string, m[3] as string);
    if (policy === undefined) {
      deps.metrics.requests.inc({ result: 'not_found' });
      return text(res, 404, `no AuditPolicy ${m[1] ?? ''}/${m[3] ?? ''}\n`);
    }
    const verifier = await verifierOf(policy);
    if (verifier === undefined) {
      deps.metrics.requests.inc({ result: 'forbidden' });
      return text(res, 403, 'the policy has no signing key yet\n');
    }
    const outcome = await deps.store.submit(policy, verifier, Buffer.concat(chunks));
    deps.metrics.requests.inc({ result: resultLabel(outcome) });
    if ('refusal' in outcome && outcome.refusal !== undefined && outcome.origin !== undefined) void reportRefusal(policy, outcome.origin, outcome.refusal).catch(() => undefined);
    switch (outcome.status) {
      case 200:
        return text(res, 200, `${outcome.cosignature ?? ''}\n`);
      case 409:
        return send(res, 409, TLOG_SIZE_CONTENT_TYPE, `${outcome.knownSize}\n`);
      default:
        return text(res, outcome.status, `${outcome.message}\n`);
    }
  };

  const server = http.createServer({ requestTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      deps.metrics.requests.inc({ result: 'error' });
      deps.log.error({ err }, 'witness request failed');
      if (!res.headersSent) text(res, 503, 'witness storage unavailable, retry later\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(operatorError('LLMAUDIT_E_WITNESS_LISTEN', `port ${deps.port}: ${err.message}`, { cause: err })));
    server.listen(deps.port, deps.host ?? '0.0.0.0', () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }).end(body);
}

function text(res: http.ServerResponse, status: number, body: string): void {
  send(res, status, 'text/plain; charset=utf-8', body);
}
