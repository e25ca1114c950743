/**
 * How a captured body is stored in the entry: JSON bodies as JSON, other UTF-8 text as a string,
 * anything else (invalid UTF-8, binary) as base64 with `encoding: "base64"`. A body that claims to
 * be JSON but does not parse is stored as its text, and the exchange is recorded as opaque.
 */
import { isUtf8 } from 'node:buffer';

export interface StoredBody {
  body: unknown;
  /** Set when `body` is not the body's text or JSON: "base64". */
  encoding?: string;
  json: boolean;
}

function looksLikeJson(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7b /* { */ || c === 0x5b /* [ */;
  }
  return false;
}

/** Parses JSON once; returns undefined when the bytes are not UTF-8 JSON. */
export function parseJsonBody(buf: Buffer | null, contentType: string | undefined): unknown {
  if (buf === null || buf.length === 0) return undefined;
  const ct = contentType?.toLowerCase() ?? '';
  if (!ct.includes('json') && !looksLikeJson(buf)) return undefined;
  if (!isUtf8(buf)) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function storedBody(buf: Buffer | null, parsed: unknown): StoredBody {
  if (buf === null || buf.length === 0) return { body: null, json: false };
  if (parsed !== undefined) return { body: parsed, json: true };
  if (isUtf8(buf)) return { body: buf.toString('utf8'), json: false };
  return { body: buf.toString('base64'), encoding: 'base64', json: false };
}
