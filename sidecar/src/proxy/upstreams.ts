/**
 * One undici Pool per endpoint (keep-alive connections to one origin). https upstreams verify TLS
 * against Node's bundled roots plus the endpoint's optional `caFile` (an extra CA, e.g. a
 * cluster-internal one); `ca` replaces the defaults in tls.connect, so both are passed.
 * Timeouts come from config: connect (TCP+TLS), headers, and body = the longest silence between
 * two chunks (undici `bodyTimeout` is an idle timer, reset on every chunk).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Pool } from '../undici-parts.ts';
import type { EndpointConfig, SidecarConfig } from '../config/schema.ts';
import { proxyError } from './errors.ts';

export type DispatcherFactory = (endpoint: EndpointConfig, config: SidecarConfig) => Dispatcher;

export const defaultDispatcherFactory: DispatcherFactory = (endpoint, config) => {
  const url = new URL(endpoint.upstream);
  let ca: string[] | undefined;
  if (url.protocol === 'https:' && endpoint.caFile !== undefined) {
    try {
      ca = [...rootCertificates, readFileSync(endpoint.caFile, 'utf8')];
    } catch (err) {
      throw proxyError('LLMAUDIT_E_CA_FILE', `${endpoint.name}: ${endpoint.caFile}`, { cause: err });
    }
  }
  return new Pool(url.origin, {
    connect: { timeout: config.timeouts.connectMs, rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) },
    headersTimeout: config.timeouts.headersMs,
    bodyTimeout: config.timeouts.idleMs,
    keepAliveTimeout: 30_000,
  });
};

/** Identity of what a pool was built from: a reload reuses pools whose inputs did not change. */
export function poolKey(endpoint: EndpointConfig, config: SidecarConfig): string {
  const t = config.timeouts;
  return `${new URL(endpoint.upstream).origin}|${endpoint.caFile ?? ''}|${t.connectMs}|${t.headersMs}|${t.idleMs}`;
}

export interface Upstreams {
  get(endpoint: EndpointConfig): Dispatcher;
  /** Builds pools for a new config, keeping unchanged ones; old pools close once idle. */
  update(config: SidecarConfig): void;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export function createUpstreams(config: SidecarConfig, factory: DispatcherFactory): Upstreams {
  let byName = new Map<string, { key: string; d: Dispatcher }>();
  const build = (cfg: SidecarConfig, previous: Map<string, { key: string; d: Dispatcher }>) => {
    const next = new Map<string, { key: string; d: Dispatcher }>();
    for (const ep of cfg.endpoints) {
      const key = poolKey(ep, cfg);
      const old = previous.get(ep.name);
      next.set(ep.name, old !== undefined && old.key === key ? old : { key, d: factory(ep, cfg) });
    }
    return next;
  };
  byName = build(config, byName);
  return {
    get(endpoint) {
      const hit = byName.get(endpoint.name);
      if (hit === undefined) throw new Error(`no dispatcher for endpoint ${endpoint.name}`);
      return hit.d;
    },
    update(cfg) {
      const next = build(cfg, byName);
      const kept = new Set([...next.values()].map((v) => v.d));
      for (const { d } of byName.values()) if (!kept.has(d)) void d.close().catch(() => {}); // close() waits for in-flight requests
      byName = next;
    },
    async close() {
      await Promise.allSettled([...byName.values()].map(({ d }) => d.close()));
    },
    async destroy() {
      await Promise.allSettled([...byName.values()].map(({ d }) => d.destroy()));
    },
  };
}
