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
  line: Buffer; // with the trailing \n
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
  const line = Buffer.from(`${canonical.slice(0, -1)}${tail}}\n`, 'utf8');
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
