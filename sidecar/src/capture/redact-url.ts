/**
 * Some APIs accept the key in the query string (Azure OpenAI `api-key`, Google `key`); those values
 * are masked in the stored path like header secrets.
 */
import { redactValue } from './redact-headers.ts';

const SECRET_PARAMS = new Set(['key', 'api-key', 'api_key', 'apikey', 'access_token', 'token', 'sig', 'signature', 'x-api-key', 'code']);

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const parts = url.slice(q + 1).split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    const eq = p.indexOf('=');
    if (eq === -1) continue;
    let name: string;
    try {
      name = decodeURIComponent(p.slice(0, eq)).toLowerCase();
    } catch {
      name = p.slice(0, eq).toLowerCase();
    }
    if (!SECRET_PARAMS.has(name)) continue;
    parts[i] = `${p.slice(0, eq)}=${encodeURIComponent(redactValue(p.slice(eq + 1)))}`;
    changed = true;
  }
  return changed ? `${url.slice(0, q)}?${parts.join('&')}` : url;
}
