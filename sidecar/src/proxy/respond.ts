import type { ServerResponse } from 'node:http';
import type { SidecarConfig } from '../config/schema.ts';
import { redactionSet } from '../capture/redact-headers.ts';

/** Sends an error the proxy made itself (already in the API family's shape). */
export function sendProxyError(res: ServerResponse, body: string, status: number): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const redactCache = new WeakMap<readonly string[], ReadonlySet<string>>();

/** The redacted header names of a config, computed once per config object. */
export function redactNames(config: SidecarConfig): ReadonlySet<string> {
  let set = redactCache.get(config.capture.redactHeaders);
  if (set === undefined) {
    set = redactionSet(config.capture.redactHeaders);
    redactCache.set(config.capture.redactHeaders, set);
  }
  return set;
}
