// Building and checking one entry line (docs/audit-log-format.md "Entries"). Pure functions.
//
// A line is the RFC 8785 (JCS) canonical JSON of the entry without `hash`/`sig`, with
// `,"hash":"<hex>"` and `,"sig":"<base64>"` inserted before its final `}`. So the bytes of a line,
// minus those two members, are exactly the bytes that were hashed. Readers must not rely on that:
// the hash is defined over JCS(parsed entry without hash and sig), and that is what is checked.
import { canonicalJson } from './jcs.ts';
import { sha256 } from './hash.ts';
import { logError } from './log-errors.ts';
import type { Entry, EntryPayload } from './types.ts';

/** Fields the writer owns; a payload carrying one of them is refused. */
export const CHAIN_FIELDS = ['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig'] as const;

export interface EntrySigner {
  sign(message: Uint8Array): Uint8Array;
}

export interface ChainPosition {
  seq: number;
  ts: string;
  origin: string;
  prevHash: string;
}

export interface BuiltEntry {
  line: string; // with the trailing \n (a string: the writer joins a batch and encodes it once)
  hash: string;
  hashBytes: Buffer;
}

function canonicalOf(body: Record<string, unknown>): string {
  try {
    return canonicalJson(body);
  } catch (first) {
    // JCS has no `undefined`; JSON drops such members, which is what a caller writing
    // `{ parentSpanId: undefined }` means. Anything JSON itself cannot carry is refused.
    let normalized: unknown;
    try {
      normalized = JSON.parse(JSON.stringify(body));
    } catch (err) {
      throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', (err as Error).message, { cause: err });
    }
    try {
      return canonicalJson(normalized);
    } catch (_second) {
      throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', (first as Error).message, { cause: first });
    }
  }
}

export function buildEntry(payload: EntryPayload, at: ChainPosition, signer: EntrySigner | null): BuiltEntry {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', 'payload must be a JSON object');
  }
  for (const f of CHAIN_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(payload, f)) throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', `payload must not set the chain field "${f}"`);
  }
  const body: Record<string, unknown> = { v: 1, seq: at.seq, ts: at.ts, origin: at.origin, ...payload, prevHash: at.prevHash };
  const canonical = canonicalOf(body);
  const hashBytes = sha256(canonical);
  const hash = hashBytes.toString('hex');
  let tail = `,"hash":"${hash}"`;
  if (signer !== null) tail += `,"sig":"${Buffer.from(signer.sign(hashBytes)).toString('base64')}"`;
  const line = `${canonical.slice(0, -1)}${tail}}\n`;
  return { line, hash, hashBytes };
}

const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type LineProblem = { kind: 'parse'; message: string };

export interface CheckedLine {
  entry: Entry;
  /** SHA-256 of JCS(entry without hash and sig), recomputed. */
  computedHash: Buffer;
}

/**
 * Parses one line and recomputes its hash. Returns a problem for anything that is not a
 * well-formed v1 entry (a parse error, exit 4); comparing hashes, links and signatures is the
 * caller's job, because what a mismatch means depends on the neighbours.
 */
export function checkLine(line: string): CheckedLine | LineProblem {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { kind: 'parse', message: `not JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'parse', message: 'not a JSON object' };
  const e = value as Record<string, unknown>;
  if (e.v !== 1) return { kind: 'parse', message: `unsupported entry version ${JSON.stringify(e.v)}` };
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 0) return { kind: 'parse', message: 'seq is not a non-negative integer' };
  if (typeof e.ts !== 'string') return { kind: 'parse', message: 'ts is not a string' };
  if (typeof e.origin !== 'string') return { kind: 'parse', message: 'origin is not a string' };
  if (typeof e.prevHash !== 'string' || !HEX64.test(e.prevHash)) return { kind: 'parse', message: 'prevHash is not 64 lowercase hex digits' };
  if (typeof e.hash !== 'string' || !HEX64.test(e.hash)) return { kind: 'parse', message: 'hash is not 64 lowercase hex digits' };
  if (e.sig !== undefined && (typeof e.sig !== 'string' || !BASE64.test(e.sig))) return { kind: 'parse', message: 'sig is not base64' };
  const fast = canonicalHashOfWriterLine(line, e);
  if (fast !== null) return { entry: e as unknown as Entry, computedHash: fast };
  const { hash: _hash, sig: _sig, ...rest } = e;
  let canonical: string;
  try {
    canonical = canonicalJson(rest);
  } catch (err) {
    return { kind: 'parse', message: `cannot canonicalize: ${(err as Error).message}` };
  }
  return { entry: e as unknown as Entry, computedHash: sha256(canonical) };
}

export function isLineProblem(x: CheckedLine | LineProblem): x is LineProblem {
  return (x as LineProblem).kind === 'parse';
}

const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badString(s: string): boolean {
  return SURROGATE.test(s) && LONE_SURROGATE.test(s);
}

/** Every object's keys in UTF-16 code-unit order (RFC 8785 §3.2.3), no lone surrogates, from `skipLast` on excluded at the top. */
function canonicalShape(v: unknown, skipLast = 0): boolean {
  if (typeof v === 'string') return !badString(v);
  if (v === null || typeof v !== 'object') return true;
  if (Array.isArray(v)) {
    for (const x of v) if (!canonicalShape(x)) return false;
    return true;
  }
  const keys = Object.keys(v);
  const n = keys.length - skipLast;
  for (let i = 0; i < n; i++) {
    const k = keys[i] as string;
    if ((i > 0 && !((keys[i - 1] as string) < k)) || badString(k)) return false;
    if (!canonicalShape((v as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * Fast, exact path for lines in the writer's form (canonical JSON + hash/sig before the final
 * brace): if JSON.stringify of the parsed entry reproduces the line byte for byte (so no
 * whitespace, ECMAScript escapes and number forms, and key order as in the text) and every
 * object's keys are in UTF-16 order, the line minus the hash/sig members IS the JCS text, and
 * hashing it directly equals hashing JCS(parsed entry). Anything else (a reformatted line,
 * integer-like keys, -0, 1e400, ...) returns null and takes the general path.
 */
function canonicalHashOfWriterLine(line: string, e: Record<string, unknown>): Buffer | null {
  const suffix = e.sig === undefined ? `,"hash":"${String(e.hash)}"}` : `,"hash":"${String(e.hash)}","sig":"${String(e.sig)}"}`;
  if (!line.endsWith(suffix) || JSON.stringify(e) !== line) return null;
  if (!canonicalShape(e, e.sig === undefined ? 1 : 2)) return null;
  return sha256(`${line.slice(0, line.length - suffix.length)}}`);
}
