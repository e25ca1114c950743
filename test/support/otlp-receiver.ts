/**
 * A real OTLP/HTTP trace receiver for tests, on port 0. It accepts what
 * @opentelemetry/exporter-trace-otlp-http sends: OTLP/JSON (`Content-Type: application/json`,
 * optionally gzip), per the OTLP specification "OTLP/HTTP" → "JSON Protobuf Encoding" (ids as
 * hex strings, enums as integers, 64-bit integers as strings or numbers). Protobuf bodies are
 * answered 415: our exporter is configured for JSON, so a protobuf request is a bug.
 *
 * `failWith(status)` makes it refuse exports (a collector in trouble); `close()` stops it.
 * `waitFor` gives up after `timeoutMs` (default 10 s, under vitest's 30 s test timeout) with the
 * spans received so far in its message: when the proxy never ends a span, the test fails fast
 * and says what it saw, instead of hanging until the test timeout with no clue.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type AttrValue = string | number | boolean | null | AttrValue[];

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER. */
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttrValue>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, AttrValue> }>;
  /** OTLP StatusCode: 0 UNSET, 1 OK, 2 ERROR. */
  statusCode: number;
  resource: Record<string, AttrValue>;
}

export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_CLIENT = 3;

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpAnyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

function anyValue(v: OtlpAnyValue): AttrValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue);
  return null;
}

function attrs(list: OtlpKeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

const nanosToMs = (n: string | number): number => Number(BigInt(n) / 1_000_000n);

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpKeyValue[];
  links?: Array<{ traceId: string; spanId: string; attributes?: OtlpKeyValue[] }>;
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans?: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

export function decodeOtlpJson(body: OtlpExport): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind,
          startMs: nanosToMs(s.startTimeUnixNano),
          endMs: nanosToMs(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attrs(l.attributes) })),
          statusCode: s.status?.code ?? 0,
          resource,
        });
      }
    }
  }
  return out;
}

export interface OtlpReceiver {
  /** Base URL (what `telemetry.otlpEndpoint` takes); spans arrive on `<url>/v1/traces`. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Export requests received (accepted or refused). */
  readonly requests: number;
  /** Request headers of the last export request (lower-cased names). */
  readonly lastHeaders: Readonly<Record<string, string | string[] | undefined>>;
  /** Resolves once `predicate(spans)` holds; checked on every export that arrives. Rejects after `timeoutMs`. */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  failWith(status: number | null): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const waiters: Array<{ predicate: (s: ReceivedSpan[]) => boolean; resolve: (s: ReceivedSpan[]) => void }> = [];
  let failStatus: number | null = null;
  let requests = 0;
  let lastHeaders: IncomingMessage['headers'] = {};

  const server: Server = createServer((req, res) => {
    void (async () => {
      requests += 1;
      lastHeaders = req.headers;
      let body = await readBody(req);
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (failStatus !== null) {
        res.writeHead(failStatus, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
        res.writeHead(415).end();
        return;
      }
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      spans.push(...decodeOtlpJson(JSON.parse(body.toString('utf8')) as OtlpExport));
      // OTLP/HTTP: a full success is 200 with an (empty) ExportTraceServiceResponse.
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const w of [...waiters]) {
        if (w.predicate(spans)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(spans);
        }
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    get lastHeaders() {
      return lastHeaders;
    },
    waitFor(predicate, timeoutMs = 10_000) {
      if (predicate(spans)) return Promise.resolve(spans);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (s: ReceivedSpan[]) => {
            clearTimeout(timer);
            resolve(s);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          const seen = spans.map((s) => `${s.name} [${String(s.attributes['llmaudit.span_type'] ?? '-')}]`);
          reject(new Error(`OTLP receiver: condition not met after ${timeoutMs} ms; ${requests} export requests, ${spans.length} spans: ${seen.join(', ') || 'none'}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    failWith(status) {
      failStatus = status;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
