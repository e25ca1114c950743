/**
 * Keyed redaction tokens and their application to a JSON body.
 *
 * A match is replaced by `[LABEL:xxxxxxxx]`, the first 8 hex digits of HMAC-SHA-256(key,
 * detector NUL value) (RFC 2104): equal values give equal tokens across entries (an auditor can
 * correlate "the same card number") while the value cannot be recovered or confirmed by guessing
 * without the policy's key. 32 bits keep tokens short; a collision only merges two values in
 * correlation, it reveals nothing.
 */
import { createHmac } from 'node:crypto';
import type { Match } from './detectors.ts';

export function redactionToken(key: Buffer, detector: string, label: string, value: string): string {
  const mac = createHmac('sha256', key).update(detector).update('\0').update(value).digest('hex');
  return `[${label}:${mac.slice(0, 8)}]`;
}

/** `text` with each match (sorted, disjoint) replaced by its token. */
export function redactText(text: string, matches: readonly Match[], tokenOf: (m: Match, value: string) => string): string {
  let out = '';
  let at = 0;
  for (const m of matches) {
    out += text.slice(at, m.start) + tokenOf(m, text.slice(m.start, m.end));
    at = m.end;
  }
  return out + text.slice(at);
}

function unescape(seg: string): string {
  return seg.replaceAll('~1', '/').replaceAll('~0', '~');
}

/**
 * A copy of `body` with the strings at the given JSON Pointers replaced. Only the containers on
 * the way to a replaced string are copied; the rest is shared with `body`, which is not changed.
 */
export function replaceAtPointers(body: unknown, replacements: ReadonlyMap<string, string>): unknown {
  if (replacements.size === 0) return body;
  if (replacements.has('')) return replacements.get('');
  const copies = new Map<unknown, unknown>();
  let root: unknown = body;
  const copyOf = (v: unknown): unknown => {
    let c = copies.get(v);
    if (c === undefined) {
      c = Array.isArray(v) ? v.slice() : { ...(v as Record<string, unknown>) };
      copies.set(v, c);
      copies.set(c, c);
    }
    return c;
  };
  for (const [pointer, value] of replacements) {
    const segs = pointer.split('/').slice(1).map(unescape);
    root = copyOf(root);
    let node = root as Record<string, unknown>;
    for (let i = 0; i < segs.length - 1; i++) {
      const k = segs[i] as string;
      const child = node[k];
      if (typeof child !== 'object' || child === null) break;
      const c = copyOf(child) as Record<string, unknown>;
      node[k] = c;
      node = c;
    }
    const last = segs[segs.length - 1] as string;
    if (typeof node[last] === 'string') node[last] = value;
  }
  return root;
}
