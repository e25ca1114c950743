import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeApiError } from '../kube/api-error.ts';
import type { MemoryKubeApi } from '../kube/memory-api.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { KubeObject, ResourceName } from '../kube/types.ts';

export interface ServedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  authorization: string | undefined;
  accept: string | undefined;
}

/**
 * Serves a MemoryKubeApi over the Kubernetes REST paths on 127.0.0.1:0, so the real client
 * (ClientNodeKubeApi over @kubernetes/client-node's KubeConfig) is tested against the same
 * semantics as everything else. Test-only.
 */
export interface ServedMemoryApi {
  url: string;
  requests: ServedRequest[];
  /** While set, requests it matches are read and then never answered (a hanging API server). */
  hold: ((r: ServedRequest) => boolean) | undefined;
  /** Requests held so far whose client has not gone away. */
  readonly held: number;
  close(): Promise<void>;
}

export async function serveMemoryApi(api: MemoryKubeApi): Promise<ServedMemoryApi> {
  const requests: ServedRequest[] = [];
  let held = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const served: ServedRequest = { method: req.method ?? '', path: url.pathname, query, contentType: req.headers['content-type'], authorization: req.headers.authorization, accept: req.headers.accept };
    requests.push(served);
    if (out.hold?.(served) === true) {
      held++;
      res.on('close', () => held--);
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req.method ?? 'GET', url.pathname, query, chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8')), res).catch((err: unknown) => {
        const e = err instanceof KubeApiError ? err : new KubeApiError(500, 'InternalError', String(err));
        if (!res.headersSent) res.writeHead(e.statusCode, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: e.reason, code: e.statusCode, message: e.message }));
      });
    });
  });

  async function handle(method: string, path: string, query: Record<string, string>, body: unknown, res: http.ServerResponse): Promise<void> {
    const parts = path.split('/').filter((p) => p !== '');
    const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest.splice(0, 2);
    }
    const [resourceName, name, sub] = rest as [string, string | undefined, string | undefined];
    if (!(resourceName in RESOURCES)) throw new KubeApiError(404, 'NotFound', `no resource ${resourceName}`);
    const resource = resourceName as ResourceName;
    const subresource = sub === 'status' ? ('status' as const) : undefined;
    const send = (obj: unknown, code = 200) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    // Accept: application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1 asks for metadata only.
    const metadataOnly = /;as=PartialObjectMetadata(List)?;g=meta\.k8s\.io;v=v1/.test(res.req.headers.accept ?? '');
    const opts = { ...(namespace === undefined ? {} : { namespace }), ...(query.labelSelector === undefined ? {} : { labelSelector: query.labelSelector }), ...(metadataOnly ? { metadataOnly } : {}) };
    const page = { ...(query.limit === undefined ? {} : { limit: Number(query.limit) }), ...(query.continue === undefined ? {} : { continue: query.continue }) };
    if (method === 'GET' && name === undefined && query.watch === 'true') {
      const stream = await api.watch(resource, { ...opts, resourceVersion: query.resourceVersion ?? '', allowWatchBookmarks: query.allowWatchBookmarks === 'true', ...(query.sendInitialEvents === 'true' ? { sendInitialEvents: true } : {}) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders(); // as the API server does: the client sees 200 before the first event
      res.on('close', () => stream.close());
      try {
        for await (const ev of stream) res.write(`${JSON.stringify(ev)}\n`);
        res.end();
      } catch {
        res.destroy();
      }
      return;
    }
    if (method === 'GET' && name === undefined) {
      const l = await api.list(resource, { ...opts, ...page });
      // Collections carry no apiVersion/kind on items (api-concepts "Collections"); a
      // PartialObjectMetadataList's items do.
      if (metadataOnly) return send({ apiVersion: l.apiVersion, kind: l.kind, metadata: { resourceVersion: l.resourceVersion, ...(l.continue === undefined ? {} : { continue: l.continue }) }, items: l.items });
      return send({ kind: `${RESOURCES[resource].kind}List`, metadata: { resourceVersion: l.resourceVersion, ...(l.continue === undefined ? {} : { continue: l.continue }) }, items: l.items.map(({ apiVersion: _a, kind: _k, ...o }) => o) });
    }
    if (method === 'GET' && name !== undefined) {
      const o = await api.get(resource, namespace, name);
      if (o === undefined) throw new KubeApiError(404, 'NotFound', `${resource} "${name}" not found`);
      return send(o);
    }
    if (method === 'POST') return send(await api.create(resource, { ...(body as KubeObject), metadata: { ...(body as KubeObject).metadata, ...(namespace === undefined ? {} : { namespace }) } }), 201);
    if (method === 'PUT') return send(await api.replace(resource, body as KubeObject, subresource === undefined ? {} : { subresource }));
    if (method === 'PATCH' && name !== undefined) {
      const type = query.fieldManager !== undefined && (res.req.headers['content-type'] ?? '').includes('apply-patch') ? 'apply' : 'merge';
      return send(await api.patch(resource, namespace, name, body, { type, ...(subresource === undefined ? {} : { subresource }) }));
    }
    if (method === 'DELETE' && name !== undefined) {
      await api.delete(resource, namespace, name);
      return send({ kind: 'Status', status: 'Success' });
    }
    throw new KubeApiError(405, 'MethodNotAllowed', method);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const out: ServedMemoryApi = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    hold: undefined,
    get held() {
      return held;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return out;
}
