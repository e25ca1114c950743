/**
 * Header filtering for forwarding. A proxy must not forward hop-by-hop fields: RFC 9110 §7.6.1
 * names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and Upgrade, plus every
 * field listed in Connection. Host is rewritten for the upstream (RFC 9110 §7.2: undici sets it
 * from the upstream origin). Expect is answered by Node's server itself (100-continue) and undici
 * refuses to send it. Proxy-Authorization / Proxy-Authenticate are addressed to a proxy
 * (RFC 9110 §11.7), i.e. to us, so they stop here too.
 */
const ALWAYS = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'host',
  'expect',
  'http2-settings',
]);

// The last Connection value and its tokens: clients send the same one (`keep-alive`) on every
// request, so the split is done once, not per exchange. The set is only read.
let lastConnection: string | null = null;
let lastTokens: ReadonlySet<string> | null = null;

function connectionTokens(value: string | undefined): ReadonlySet<string> | null {
  if (value === undefined || value === '') return null;
  if (value === lastConnection) return lastTokens;
  const set = new Set<string>();
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name !== '') set.add(name);
  }
  lastConnection = value;
  lastTokens = set;
  return set;
}

/**
 * Request headers to send upstream from Node's rawHeaders (name/value pairs, original case).
 * `dropContentLength` is set when the body is re-framed (a buffered body gets its own length).
 */
export function forwardRequestHeaders(rawHeaders: readonly string[], connection: string | undefined, dropContentLength: boolean): string[] {
  const extra = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (ALWAYS.has(lower)) continue;
    if (extra !== null && extra.has(lower)) continue;
    if (dropContentLength && lower === 'content-length') continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}

/** Response headers to send to the client from undici's parsed headers (lower-case names). */
export function forwardResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  dropContentLength: boolean,
): Record<string, string | string[]> {
  const conn = headers['connection'];
  const extra = connectionTokens(Array.isArray(conn) ? conn.join(',') : conn);
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (ALWAYS.has(name) || (extra !== null && extra.has(name))) continue;
    if (dropContentLength && name === 'content-length') continue;
    out[name] = value;
  }
  return out;
}
