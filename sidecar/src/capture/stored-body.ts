/**
 * How a captured body is stored in the entry: losslessly (docs/audit-log-format.md "Stored
 * bodies"). A JSON body is stored as JSON only when its parsed form round-trips: re-serializing it
 * gives back a text equal in meaning to the one sent. Otherwise the body is stored as the text that
 * was sent, with `rawReason` saying why:
 * - `lone_surrogate`: a `\uD800`-style escape not part of a surrogate pair (valid JSON, but not
 *   I-JSON: the log's canonical form cannot hold it);
 * - `number`: a number JSON.parse cannot keep exactly (`1e400` → Infinity, digits past a double's
 *   precision, `1e-400` → 0);
 * - `duplicate_key`: an object with the same member twice (JSON.parse keeps only the last);
 * - `depth`: nesting deeper than MAX_JSON_DEPTH (also not handed to the adapters or any walker);
 * - `invalid_utf8`: the bytes are not UTF-8 (stored base64).
 * Other UTF-8 text is stored as a string, anything else (invalid UTF-8, binary) as base64 with
 * `encoding: "base64"`. A body that claims to be JSON but does not parse is stored as its text,
 * and the exchange is recorded as opaque.
 *
 * The round-trip check is one scan of the bytes outside strings (strings are skipped with
 * Buffer#indexOf) plus a count of the parsed members: no second serialization.
 */
import { isUtf8 } from 'node:buffer';

export type RawReason = 'lone_surrogate' | 'number' | 'duplicate_key' | 'depth' | 'invalid_utf8';

/** Bodies nested deeper than this (objects and arrays) are stored as text, never walked. */
export const MAX_JSON_DEPTH = 256;

export interface StoredBody {
  body: unknown;
  /** Set when `body` is not the body's text or JSON: "base64". */
  encoding?: string;
  /** Set when the body parsed as JSON but is stored as sent (text or base64): why. */
  rawReason?: RawReason;
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

interface Scan {
  reason: RawReason | null;
  /** Object members (`:` outside strings): compared with the parsed members to find duplicates. */
  members: number;
}

const BACKSLASH_U = Buffer.from('\\u');

function hex4(buf: Buffer, at: number): number {
  if (at + 4 > buf.length) return -1;
  const v = Number.parseInt(buf.toString('latin1', at, at + 4), 16);
  return Number.isNaN(v) ? -1 : v;
}

/** True when the backslash at `at` starts an escape (an even number of backslashes before it). */
function realEscape(buf: Buffer, at: number, from: number): boolean {
  let n = 0;
  for (let k = at - 1; k >= from && buf[k] === 0x5c; k--) n++;
  return n % 2 === 0;
}

/** A lone surrogate escape between `from` and `to` (a string's content). */
function loneSurrogateIn(buf: Buffer, from: number, to: number): boolean {
  let p = buf.indexOf(BACKSLASH_U, from);
  while (p !== -1 && p < to) {
    if (!realEscape(buf, p, from)) {
      p = buf.indexOf(BACKSLASH_U, p + 1);
      continue;
    }
    const v = hex4(buf, p + 2);
    if (v >= 0xd800 && v <= 0xdbff) {
      const low = p + 6 < to && buf[p + 6] === 0x5c && buf[p + 7] === 0x75 ? hex4(buf, p + 8) : -1;
      if (low < 0xdc00 || low > 0xdfff) return true;
      p = buf.indexOf(BACKSLASH_U, p + 12);
    } else if (v >= 0xdc00 && v <= 0xdfff) return true;
    else p = buf.indexOf(BACKSLASH_U, p + 6);
  }
  return false;
}

const NUMBER = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** A decimal's value as `<sign><digits>e<exp>` with no leading or trailing zeros (0 for zero). */
function normalizeDecimal(text: string): string | null {
  const m = NUMBER.exec(text);
  if (m === null) return null;
  const frac = m[3] ?? '';
  let digits = `${m[2] ?? ''}${frac}`.replace(/^0+/, '');
  if (digits === '') return '0';
  let exp = Number(m[4] ?? '0') - frac.length;
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  return `${m[1] ?? ''}${digits}e${exp}`;
}

/** True when the number token `text` survives JSON.parse and re-serialization with its value. */
export function numberRoundTrips(text: string): boolean {
  const v = Number(text);
  if (!Number.isFinite(v)) return false;
  return normalizeDecimal(text) === normalizeDecimal(String(v));
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

/**
 * One pass over the bytes: nesting depth, numbers that would change, lone surrogate escapes, and
 * the member count. Strings are jumped over with indexOf (their content is most of an LLM body).
 * Stops at the first reason found; garbage is not judged here (JSON.parse does that).
 */
function scan(buf: Buffer): Scan {
  const len = buf.length;
  const anyEscapeU = buf.indexOf(BACKSLASH_U) !== -1;
  let depth = 0;
  let members = 0;
  let i = 0;
  while (i < len) {
    const c = buf[i] as number;
    if (c === 0x22) {
      let end = buf.indexOf(0x22, i + 1);
      while (end !== -1 && !realEscape(buf, end, i + 1)) end = buf.indexOf(0x22, end + 1);
      if (end === -1) return { reason: null, members };
      if (anyEscapeU && loneSurrogateIn(buf, i + 1, end)) return { reason: 'lone_surrogate', members };
      i = end + 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return { reason: 'depth', members };
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      i++;
    } else if (c === 0x3a) {
      members++;
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      let exp = false;
      while (j < len && isNumberChar(buf[j] as number)) {
        if (buf[j] === 0x65 || buf[j] === 0x45) exp = true;
        j++;
      }
      // Up to 15 characters without an exponent hold at most 15 significant digits, which a
      // double always gives back (DBL_DIG): only longer tokens and exponents are checked.
      if ((exp || j - i > 15) && !numberRoundTrips(buf.toString('latin1', i, j))) return { reason: 'number', members };
      i = j;
    } else i++;
  }
  return { reason: null, members };
}

/** Object members in a parsed value, counted without recursion. */
function countMembers(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null && typeof x === 'object') stack.push(x);
    } else {
      for (const k in v) {
        n++;
        const x = (v as Record<string, unknown>)[k];
        if (x !== null && typeof x === 'object') stack.push(x);
      }
    }
  }
  return n;
}

// The verdict of parseJsonBody for the value it returned, so storedBody need not scan again.
const verdicts = new WeakMap<object, RawReason | null>();

function verdict(buf: Buffer, parsed: unknown): RawReason | null {
  if (parsed !== null && typeof parsed === 'object') {
    const known = verdicts.get(parsed);
    if (known !== undefined || verdicts.has(parsed)) return known ?? null;
  }
  if (!isUtf8(buf)) return 'invalid_utf8';
  const s = scan(buf);
  if (s.reason !== null) return s.reason;
  return countMembers(parsed) === s.members ? null : 'duplicate_key';
}

/**
 * Parses JSON once; returns undefined when the bytes are not UTF-8 JSON or nest deeper than
 * MAX_JSON_DEPTH. A value that does not round-trip is still returned (the adapters read what
 * they can from it); storedBody() then stores the text instead.
 */
export function parseJsonBody(buf: Buffer | null, contentType: string | undefined): unknown {
  if (buf === null || buf.length === 0) return undefined;
  const ct = contentType?.toLowerCase() ?? '';
  if (!ct.includes('json') && !looksLikeJson(buf)) return undefined;
  if (!isUtf8(buf)) return undefined;
  const s = scan(buf);
  if (s.reason === 'depth') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed !== null && typeof parsed === 'object') verdicts.set(parsed, s.reason ?? (countMembers(parsed) === s.members ? null : 'duplicate_key'));
  return parsed;
}

function asText(buf: Buffer, rawReason?: RawReason): StoredBody {
  const out: StoredBody = isUtf8(buf) ? { body: buf.toString('utf8'), json: false } : { body: buf.toString('base64'), encoding: 'base64', json: false };
  if (rawReason !== undefined) out.rawReason = rawReason;
  return out;
}

/**
 * `parsed`: the value parsed from exactly these bytes (parseJsonBody, or an adapter's parse of a
 * non-streamed body), or undefined when they are not JSON.
 */
export function storedBody(buf: Buffer | null, parsed: unknown): StoredBody {
  if (buf === null || buf.length === 0) return { body: null, json: false };
  if (parsed !== undefined) {
    const reason = verdict(buf, parsed);
    return reason === null ? { body: parsed, json: true } : asText(buf, reason);
  }
  // Not parsed: too deep to be walked (say so), invalid JSON, or not JSON at all.
  return asText(buf, looksLikeJson(buf) && isUtf8(buf) && scan(buf).reason === 'depth' ? 'depth' : undefined);
}
