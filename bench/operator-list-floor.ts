/**
 * The floor under the operator's time to ready: a bare client that only lists every Deployment
 * metadata-only (`as=PartialObjectMetadataList`, or a watch-list of `as=PartialObjectMetadata`
 * events up to the bookmark that ends them), parses it with JSON.parse and keeps name, namespace
 * and resourceVersion of each. No controllers, no webhook, no leader election. Run as a child of
 * bench/operator-apiserver.ts under the same V8 flags as the operator:
 *
 *   node --import tsx [V8 flags] bench/operator-list-floor.ts list|watch-list
 *   (FLOOR_URL, FLOOR_TOKEN, FLOOR_CA: the API server, a bearer token, its CA's PEM)
 *
 * Prints one JSON line: { mode, count, pages, mb, s }.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';

const mode = process.argv[2];
if (mode !== 'list' && mode !== 'watch-list') throw new Error('usage: operator-list-floor.ts list|watch-list');
const url = process.env.FLOOR_URL ?? '';
const agent = new https.Agent({ keepAlive: true, ca: process.env.FLOOR_CA });
const LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

function get(path: string, accept: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = https.request(url + path, { agent, headers: { authorization: `Bearer ${process.env.FLOOR_TOKEN ?? ''}`, accept } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

interface Meta {
  name: string;
  namespace: string;
  resourceVersion: string;
  annotations?: Record<string, string>;
}
const kept = new Map<string, { name: string; namespace: string; resourceVersion: string }>();
const keep = (m: Meta): void => void kept.set(`${m.namespace}/${m.name}`, { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion });

const t0 = performance.now();
let bytes = 0;
let pages = 0;
if (mode === 'list') {
  let token: string | undefined;
  do {
    const res = await get(`/apis/apps/v1/deployments?limit=500${token === undefined ? '' : `&continue=${encodeURIComponent(token)}`}`, LIST_ACCEPT);
    if (res.statusCode !== 200) throw new Error(`list: ${String(res.statusCode)}`);
    res.setEncoding('utf8');
    let body = '';
    for await (const chunk of res) body += chunk as string;
    bytes += Buffer.byteLength(body);
    pages++;
    const page = JSON.parse(body) as { metadata: { continue?: string }; items: { metadata: Meta }[] };
    for (const o of page.items) keep(o.metadata);
    token = page.metadata.continue === '' ? undefined : page.metadata.continue;
  } while (token !== undefined);
} else {
  const res = await get('/apis/apps/v1/deployments?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true', WATCH_ACCEPT);
  if (res.statusCode !== 200) throw new Error(`watch-list: ${String(res.statusCode)}`);
  res.setEncoding('utf8');
  let partial = '';
  stream: for await (const chunk of res) {
    bytes += Buffer.byteLength(chunk as string);
    partial += chunk as string;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const ev = JSON.parse(partial.slice(0, nl)) as { type: string; object: { metadata: Meta } };
      partial = partial.slice(nl + 1);
      if (ev.type !== 'BOOKMARK') keep(ev.object.metadata);
      else if (ev.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true') break stream;
    }
  }
  res.destroy();
}
const s = (performance.now() - t0) / 1000;
agent.destroy();
process.stdout.write(`${JSON.stringify({ mode, count: kept.size, pages, mb: Math.round(bytes / 1e5) / 10, s: Math.round(s * 100) / 100 })}\n`);
