import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from './api-error.ts';
import { EventChannel } from './event-channel.ts';
import { parseMetadataWatchLine } from './metadata-event.ts';
import { RESOURCES, apiVersionOf, resourcePath } from './resources.ts';
import type { KubeApi, KubeObject, ListOptions, ListResult, PatchOptions, ReplaceOptions, RequestOptions, ResourceName, ServerVersion, WatchEvent, WatchOptions, WatchStream } from './types.ts';

export interface ClientNodeKubeApiOptions {
  /** Per-request timeout for non-watch calls. */
  requestTimeoutMs?: number;
  userAgent?: string;
}

/**
 * {@link KubeApi} over the real API server. @kubernetes/client-node supplies what is hard to get
 * right — kubeconfig / in-cluster loading, TLS material, bearer tokens (re-read on every request,
 * so projected service-account tokens rotate), exec and OIDC auth — and we do the HTTP ourselves.
 * Its Watch sets a 30 s node-fetch timeout and its informers stop on non-410 errors (docs/adr/0007),
 * so watches here are plain long-lived GETs whose lifetime the watch loop alone decides.
 */
export class ClientNodeKubeApi implements KubeApi {
  private readonly kc: KubeConfig;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private agent: http.Agent | undefined;

  constructor(kc: KubeConfig, options: ClientNodeKubeApiOptions = {}) {
    this.kc = kc;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'llmaudit-operator';
  }

  async list(resource: ResourceName, options: ListOptions = {}): Promise<ListResult> {
    const query: Record<string, string> = {};
    if (options.labelSelector !== undefined) query.labelSelector = options.labelSelector;
    if (options.limit !== undefined) query.limit = String(options.limit);
    if (options.continue !== undefined) query.continue = options.continue;
    const accept = options.metadataOnly === true ? METADATA_LIST_ACCEPT : undefined;
    const body = (await this.request('GET', resourcePath(resource, options.namespace), query, undefined, undefined, options.signal, accept)) as { apiVersion?: string; kind?: string; items?: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
    // List items carry no apiVersion/kind (api-concepts "Collections"); fill them so objects look
    // alike everywhere. PartialObjectMetadataList items already carry theirs.
    const items = (body.items ?? []).map((o) => withKind(resource, o));
    const next = body.metadata?.continue;
    return {
      ...(body.apiVersion === undefined ? {} : { apiVersion: body.apiVersion }),
      ...(body.kind === undefined ? {} : { kind: body.kind }),
      items,
      resourceVersion: body.metadata?.resourceVersion ?? '',
      ...(next === undefined || next === '' ? {} : { continue: next }),
    };
  }

  async get(resource: ResourceName, namespace: string | undefined, name: string, options: RequestOptions = {}): Promise<KubeObject | undefined> {
    try {
      return (await this.request('GET', resourcePath(resource, namespace, name), {}, undefined, undefined, options.signal)) as KubeObject;
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async create(resource: ResourceName, object: KubeObject, options: RequestOptions = {}): Promise<KubeObject> {
    return (await this.request('POST', resourcePath(resource, object.metadata.namespace), {}, withKind(resource, object), undefined, options.signal)) as KubeObject;
  }

  async replace(resource: ResourceName, object: KubeObject, options: ReplaceOptions = {}): Promise<KubeObject> {
    const path = resourcePath(resource, object.metadata.namespace, object.metadata.name ?? '', options.subresource);
    return (await this.request('PUT', path, {}, withKind(resource, object), undefined, options.signal)) as KubeObject;
  }

  async patch(resource: ResourceName, namespace: string | undefined, name: string, body: unknown, options: PatchOptions): Promise<KubeObject> {
    const query: Record<string, string> = {};
    if (options.fieldManager !== undefined) query.fieldManager = options.fieldManager;
    if (options.force === true) query.force = 'true';
    // https://kubernetes.io/docs/reference/using-api/server-side-apply/ — JSON is valid YAML.
    const contentType = options.type === 'apply' ? 'application/apply-patch+yaml' : 'application/merge-patch+json';
    return (await this.request('PATCH', resourcePath(resource, namespace, name, options.subresource), query, body, contentType, options.signal)) as KubeObject;
  }

  async delete(resource: ResourceName, namespace: string | undefined, name: string, options: RequestOptions = {}): Promise<void> {
    await this.request('DELETE', resourcePath(resource, namespace, name), { propagationPolicy: 'Background' }, undefined, undefined, options.signal);
  }

  async version(): Promise<ServerVersion> {
    const v = (await this.request('GET', '/version')) as { major?: string; minor?: string; gitVersion?: string };
    return { major: v.major ?? '', minor: v.minor ?? '', ...(v.gitVersion === undefined ? {} : { gitVersion: v.gitVersion }) };
  }

  async hasApiGroup(group: string): Promise<boolean> {
    try {
      await this.request('GET', `/apis/${encodeURIComponent(group)}`);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return false;
      throw err;
    }
  }

  async watch(resource: ResourceName, options: WatchOptions): Promise<WatchStream> {
    const query: Record<string, string> = { watch: 'true', resourceVersion: options.resourceVersion };
    if (options.labelSelector !== undefined) query.labelSelector = options.labelSelector;
    if (options.allowWatchBookmarks === true) query.allowWatchBookmarks = 'true';
    if (options.timeoutSeconds !== undefined) query.timeoutSeconds = String(options.timeoutSeconds);
    if (options.sendInitialEvents === true) {
      query.sendInitialEvents = 'true';
      query.resourceVersionMatch = 'NotOlderThan';
    }
    // The header wait is bounded like any request; the stream itself lives until we or the server end it.
    const accept = options.metadataOnly === true ? METADATA_ACCEPT : undefined;
    const { req, res } = await this.open('GET', resourcePath(resource, options.namespace), query, undefined, undefined, this.timeoutMs, options.signal, accept);
    req.setTimeout(0);
    if (res.statusCode !== 200) throw await errorFrom(res);
    const channel = new EventChannel(() => req.destroy());
    // A metadata-only event's managedFields are not parsed (metadata-event.ts): nothing reads them.
    const parse = options.metadataOnly === true ? parseMetadataWatchLine : (line: string) => JSON.parse(line) as WatchEvent;
    let partial = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        if (line === '') continue;
        try {
          channel.push(parse(line));
        } catch (err) {
          channel.end(new KubeApiError(500, 'BadWatchEvent', 'unparseable watch event', { cause: err }));
          req.destroy();
          return;
        }
      }
    });
    res.on('end', () => channel.end());
    res.on('error', (err) => channel.end(err));
    res.on('aborted', () => channel.end(new Error('watch stream aborted')));
    return channel;
  }

  private async request(method: string, path: string, query: Record<string, string> = {}, body?: unknown, contentType = 'application/json', signal?: AbortSignal, accept?: string): Promise<unknown> {
    const { res } = await this.open(method, path, query, body, contentType, this.timeoutMs, signal, accept);
    if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) throw await errorFrom(res);
    let text: string;
    try {
      text = await readBody(res);
    } catch (err) {
      throw signal?.aborted === true ? abortedError(method, path, signal) : err;
    }
    return text === '' ? {} : JSON.parse(text);
  }

  private async open(method: string, path: string, query: Record<string, string>, body: unknown, contentType: string | undefined, timeoutMs: number, signal?: AbortSignal, accept = 'application/json'): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
    const cluster = this.kc.getCurrentCluster();
    if (cluster === null) throw new KubeApiError(0, 'NoCluster', 'kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    // One agent (TLS config, connection reuse) for the process; headers (tokens) fresh each time.
    this.agent ??= opts.agent === undefined ? undefined : (opts.agent as http.Agent);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { ...((opts.headers ?? {}) as http.OutgoingHttpHeaders), accept, 'user-agent': this.userAgent };
    if (payload !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = payload.length;
    }
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers, ...(this.agent === undefined ? {} : { agent: this.agent }), ...(opts.auth === undefined ? {} : { auth: opts.auth }), ...(signal === undefined ? {} : { signal }) });
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new KubeApiError(0, 'Timeout', `${method} ${path} timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof KubeApiError ? err : signal?.aborted === true ? abortedError(method, path, signal) : new KubeApiError(0, 'TransportError', err.message, { cause: err })));
      req.on('response', (res) => resolve({ req, res }));
      req.end(payload);
    });
  }
}

// What client-go's metadata client sends (k8s.io/client-go/metadata): the server answers with
// PartialObjectMetadata(List), or — a server too old to know it — with the full objects, which the
// caller strips anyway.
const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const METADATA_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

function withKind(resource: ResourceName, object: KubeObject): KubeObject {
  return { ...object, apiVersion: object.apiVersion ?? apiVersionOf(resource), kind: object.kind ?? RESOURCES[resource].kind };
}


function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    // An aborted request (its signal, or a timeout) may close the body without 'end' or 'error'.
    res.on('close', () => {
      if (!res.complete) reject(new KubeApiError(0, 'TransportError', 'response closed before its end'));
    });
  });
}

/** A request its caller gave up on (AbortSignal): status 0, reason Aborted. */
function abortedError(method: string, path: string, signal: AbortSignal): KubeApiError {
  const why = signal.reason instanceof Error ? signal.reason.message : 'aborted';
  return new KubeApiError(0, 'Aborted', `${method} ${path}: ${why}`, { cause: signal.reason });
}

async function errorFrom(res: http.IncomingMessage): Promise<KubeApiError> {
  const text = await readBody(res).catch(() => '');
  let reason = http.STATUS_CODES[res.statusCode ?? 0] ?? 'Error';
  let message = text.slice(0, 500);
  try {
    const status = JSON.parse(text) as { reason?: string; message?: string };
    if (typeof status.reason === 'string' && status.reason !== '') reason = status.reason;
    if (typeof status.message === 'string') message = status.message;
  } catch {
    // not a metav1.Status: keep the raw text
  }
  return new KubeApiError(res.statusCode ?? 0, reason, message);
}
