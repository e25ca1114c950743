/**
 * Routing: a request's path picks an endpoint by prefix (`/<name>` unless `pathPrefix` says
 * otherwise, longest prefix first, matched on a segment boundary); the prefix is stripped and the
 * rest joined onto the upstream base URL (keeping its base path). Paths that match no prefix go to
 * the listener's `defaultEndpoint` unchanged (the Ollama port takeover keeps `OLLAMA_HOST`
 * working). Pure: built once per config and swapped on reload.
 */
import type { EndpointConfig, ListenerConfig, SidecarConfig } from '../config/schema.ts';

export interface RouteTarget {
  endpoint: EndpointConfig;
  /** Path + query to request from the upstream origin, base path included. */
  upstreamPath: string;
  /** Path as the API sees it (prefix stripped, no base path, no query): drives API detection. */
  apiPath: string;
}

export interface Router {
  route(listener: ListenerConfig, rawUrl: string): RouteTarget | null;
}

interface Prefixed {
  prefix: string;
  endpoint: EndpointConfig;
}

export function upstreamBasePath(upstream: string): string {
  const p = new URL(upstream).pathname;
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

export function createRouter(config: SidecarConfig): Router {
  const byName = new Map<string, EndpointConfig>();
  const basePaths = new Map<EndpointConfig, string>();
  const prefixed: Prefixed[] = [];
  for (const ep of config.endpoints) {
    byName.set(ep.name, ep);
    basePaths.set(ep, upstreamBasePath(ep.upstream));
    let prefix = ep.pathPrefix ?? `/${ep.name}`;
    if (prefix.length > 1 && prefix.endsWith('/')) prefix = prefix.slice(0, -1);
    prefixed.push({ prefix, endpoint: ep });
  }
  prefixed.sort((a, b) => b.prefix.length - a.prefix.length);

  const target = (endpoint: EndpointConfig, rest: string, query: string): RouteTarget => {
    const apiPath = rest === '' ? '/' : rest;
    const base = basePaths.get(endpoint) ?? '';
    return { endpoint, apiPath, upstreamPath: base + apiPath + query };
  };

  return {
    route(listener, rawUrl) {
      // Absolute-form targets (RFC 9112 §3.2.2) are only for forward proxies; we take the path.
      let url = rawUrl;
      if (!url.startsWith('/')) {
        try {
          const u = new URL(url);
          url = u.pathname + u.search;
        } catch {
          return null;
        }
      }
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const query = q === -1 ? '' : url.slice(q);
      for (const { prefix, endpoint } of prefixed) {
        if (prefix === '/') return target(endpoint, path, query);
        if (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */)) {
          return target(endpoint, path.slice(prefix.length), query);
        }
      }
      if (listener.defaultEndpoint !== undefined) {
        const ep = byName.get(listener.defaultEndpoint);
        if (ep !== undefined) return target(ep, path, query);
      }
      return null;
    },
  };
}

const DOT_SEGMENT = /(^|[/\\])\.{1,2}([/\\]|$)/;
const ENCODED = /%(2e|2f|5c|25)/gi;
const DECODED: Record<string, string> = { '2e': '.', '2f': '/', '5c': '\\', '25': '%' };

/**
 * True when the path has `.` or `..` segments: literal or percent-encoded (`%2e`, also
 * double-encoded `%252e`), separated by `/`, `\` or their encodings (`%2f`, `%5c`). They would be
 * resolved against the upstream base path (RFC 3986 §5.2.4) by an upstream that decodes or
 * treats `\` as `/`, and could step out of it (`/openai/..%2fadmin` → `/admin`); SDKs never send
 * them, so such requests are refused.
 */
export function hasDotSegment(url: string): boolean {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  // Decode the few escapes that matter, as often as they nest (bounded: each pass shortens the path).
  for (let i = 0; i < 4 && path.includes('%'); i++) {
    const next = path.replace(ENCODED, (_m, hex: string) => DECODED[hex.toLowerCase()] as string);
    if (next === path) break;
    path = next;
  }
  return DOT_SEGMENT.test(path);
}
