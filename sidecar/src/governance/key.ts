/**
 * The policy's HMAC key for redaction tokens and API-key fingerprints: the file named by
 * `governance.redactionKeyFile` (a mounted Secret), else derived from the log's signing key with
 * HKDF-SHA-256 (RFC 5869) under its own label, so it is as secret as the signing key, stable
 * across restarts, and never the signing key itself.
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SidecarConfig } from '../config/schema.ts';

export function governanceKey(config: SidecarConfig, signerKey: string): Buffer {
  const file = config.governance.redactionKeyFile;
  if (file !== undefined) return readFileSync(file);
  return Buffer.from(hkdfSync('sha256', Buffer.from(signerKey), Buffer.from('llmaudit'), Buffer.from('governance redaction key v1'), 32));
}
