/**
 * Header redaction before anything is stored (docs/audit-log-format.md "The exchange"): credentials keep only
 * their scheme, a short key-type prefix and the last 4 characters (`Bearer sk-...mnop`), enough
 * to tell keys apart in an audit without making them usable. Short secrets (under 16 characters)
 * are masked whole, since their last 4 characters would be a large share of them.
 */
export const DEFAULT_REDACTED_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-csrf-token',
];

/** Names that contain a credential word but carry no secret: stored as sent. */
export const SAFE_HEADERS: ReadonlySet<string> = new Set([
  'www-authenticate', // a challenge: scheme and realm
  'access-control-allow-credentials',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'anthropic-ratelimit-tokens-limit',
  'anthropic-ratelimit-tokens-remaining',
  'anthropic-ratelimit-tokens-reset',
  'anthropic-ratelimit-input-tokens-limit',
  'anthropic-ratelimit-input-tokens-remaining',
  'anthropic-ratelimit-input-tokens-reset',
  'anthropic-ratelimit-output-tokens-limit',
  'anthropic-ratelimit-output-tokens-remaining',
  'anthropic-ratelimit-output-tokens-reset',
]);

const CREDENTIAL_WORD = /key|token|secret|auth|password|cookie|signature|credential/;

/** True when a header (lower-case name) is stored redacted. */
export function isRedacted(lower: string, redact: ReadonlySet<string>): boolean {
  return redact.has(lower) || (CREDENTIAL_WORD.test(lower) && !SAFE_HEADERS.has(lower));
}

const MIN_REVEAL = 16;
// A key-type prefix like `sk-` or `pk_` (letters only, at most 4): identifies the kind of key.
const KEY_PREFIX = /^[A-Za-z]{1,4}[-_]/;
// Auth schemes (RFC 9110 §11.1) kept in clear: only known ones (the IANA HTTP Authentication
// Scheme Registry plus common unregistered ones), so a secret that happens to contain a space
// never has its first word taken for a scheme.
const SCHEMES = new Set([
  'basic', 'bearer', 'digest', 'hoba', 'mutual', 'negotiate', 'ntlm', 'oauth', 'scram-sha-1', 'scram-sha-256', 'vapid', 'dpop', 'gnap', 'concealed', 'privatetoken',
  'token', 'apikey', 'api-key', 'key', 'aws4-hmac-sha256',
]);
const SCHEME = /^([A-Za-z][A-Za-z0-9-]{0,31})\s+(.*)$/s;

export function redactValue(value: string): string {
  let scheme = '';
  let secret = value;
  const m = SCHEME.exec(value);
  if (m !== null && SCHEMES.has((m[1] as string).toLowerCase())) {
    scheme = `${m[1] as string} `;
    secret = m[2] as string;
  }
  if (secret.length < MIN_REVEAL) return `${scheme}***`;
  const p = KEY_PREFIX.exec(secret);
  return `${scheme}${p === null ? '' : p[0]}...${secret.slice(-4)}`;
}

export function redactionSet(extra: readonly string[]): ReadonlySet<string> {
  return new Set([...DEFAULT_REDACTED_HEADERS, ...extra.map((h) => h.toLowerCase())]);
}

/**
 * Node/undici parsed headers (lower-case names) → stored headers with secrets redacted. `raw`: the
 * request's rawHeaders (name, value, ...); a name there that the parsed object lacks is added —
 * Node's parsed headers drop a header named `__proto__`, which still reaches the upstream.
 */
export function redactHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  redact: ReadonlySet<string>,
  raw?: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  // Not sorted here: canonical order is the log writer's business, on its own thread (ADR 0010);
  // a sort on the proxy's event loop only added garbage to every exchange.
  const names = Object.keys(headers);
  for (const name of names) {
    const v = headers[name];
    if (v === undefined) continue;
    const lower = name.toLowerCase();
    const value = isRedacted(lower, redact) ? (typeof v === 'string' ? redactValue(v) : v.map(redactValue).join(', ')) : typeof v === 'string' ? v : v.join(', ');
    // defineProperty: a header named "__proto__" is a member like any other, not the prototype.
    if (lower === '__proto__') Object.defineProperty(out, lower, { value, enumerable: true, writable: true, configurable: true });
    else out[lower] = value;
  }
  if (raw !== undefined) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const lower = (raw[i] as string).toLowerCase();
      if (Object.hasOwn(headers, lower)) continue;
      const v = raw[i + 1] as string;
      const value = isRedacted(lower, redact) ? redactValue(v) : v;
      const prev = Object.hasOwn(out, lower) ? (Object.getOwnPropertyDescriptor(out, lower)?.value as string) : undefined;
      Object.defineProperty(out, lower, { value: prev === undefined ? value : `${prev}, ${value}`, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}
