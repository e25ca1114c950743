// Building and checking one entry line (docs/audit-log-format.md "Entries"). Pure functions.
//
// A line is the RFC 8785 (JCS) canonical JSON of the entry without `hash`/`sig`, with
// `,"hash":"<hex>"` and `,"sig":"<base64>"` inserted before its final `}`. So the bytes of a line,
// minus those two members, are exactly the bytes that were hashed. Readers must not rely on that:
// the hash is defined over JCS(parsed entry without hash and sig), and that is what is checked.
import { randomBytes } from 'node:crypto';
import { canonicalJson } from './jcs.ts';
import { sha256 } from './hash.ts';
import { logError } from './log-errors.ts';
import type { Entry, EntryPayload } from './types.ts';

/** Fields the writer owns; a payload carrying one of them is refused. */
export const CHAIN_FIELDS = ['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig', 'parts'] as const;

/** The entry format the writer writes into a new chain (docs/audit-log-format.md "Format versions"). */
export const CURRENT_VERSION = 2;
export type EntryVersion = 1 | 2;

/**
 * The content parts of a v2 entry: JSON pointers of the values the entry commits to through a salted
 * digest instead of directly. A part that is absent or null is not a part (nothing to erase).
 */
export const CONTENT_PARTS = ['/request/body', '/response/body'] as const;

/** Bytes of each part's salt. */
export const SALT_BYTES = 16;

/** `{"erased": {...}}`: what an erased part holds in place of its value. */
export interface ErasedMarker {
  erased: { at: string; reason: string; by: string };
}

// Salts come from a pool refilled 4 KiB at a time: one randomBytes call per 256 salts.
let saltPool = Buffer.alloc(0);
let saltAt = 0;
function newSalt(): Buffer {
  if (saltAt + SALT_BYTES > saltPool.length) {
    saltPool = randomBytes(4096);
    saltAt = 0;
  }
  const s = Buffer.from(saltPool.subarray(saltAt, saltAt + SALT_BYTES));
  saltAt += SALT_BYTES;
  return s;
}

/** The salted digest of a part: hex SHA-256(salt || UTF-8(JCS(part))). */
export function partDigest(salt: Uint8Array, canonicalPart: string): string {
  return sha256(Buffer.concat([salt, Buffer.from(canonicalPart, 'utf8')])).toString('hex');
}

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

function canonicalOf(body: unknown): string {
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

export function buildEntry(payload: EntryPayload, at: ChainPosition, signer: EntrySigner | null, version: EntryVersion = CURRENT_VERSION): BuiltEntry {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', 'payload must be a JSON object');
  }
  for (const f of CHAIN_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(payload, f)) throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', `payload must not set the chain field "${f}"`);
  }
  if (version === 1) {
    const body: Record<string, unknown> = { v: 1, seq: at.seq, ts: at.ts, origin: at.origin, ...payload, prevHash: at.prevHash };
    return finish(canonicalOf(body), canonicalOf(body), signer);
  }
  // v2: the entry is canonicalized once, with a marker string in place of each part and of each
  // salt. The line is that text with the markers replaced by the part's canonical text and the
  // salt; the hashed view is the same text with the part members and the salt members cut out.
  const full: Record<string, unknown> = { v: 2, seq: at.seq, ts: at.ts, origin: at.origin, ...payload, prevHash: at.prevHash };
  const parts: Record<string, { digest: string; salt: string }> = {};
  const splices: Array<{ member: string; marker: string; text: string; saltMarker: string; salt: string }> = [];
  for (const pointer of CONTENT_PARTS) {
    const member = pointer.slice(1).split('/') as [string, string];
    const holder = full[member[0]];
    if (holder === null || typeof holder !== 'object' || Array.isArray(holder)) continue;
    const value = (holder as Record<string, unknown>)[member[1]];
    if (value === undefined || value === null) continue;
    const text = canonicalOf(value);
    const salt = newSalt();
    const digest = partDigest(salt, text);
    const tag = `${splices.length}-${salt.toString('hex')}`;
    const marker = `\u0000llmaudit-part-${tag}`;
    const saltMarker = `\u0000llmaudit-salt-${tag}`;
    full[member[0]] = { ...(holder as Record<string, unknown>), [member[1]]: marker };
    parts[pointer] = { digest, salt: saltMarker };
    splices.push({ member: `${JSON.stringify(member[1])}:${JSON.stringify(marker)}`, marker: JSON.stringify(marker), text, saltMarker: `,"salt":${JSON.stringify(saltMarker)}`, salt: `,"salt":"${salt.toString('base64')}"` });
  }
  full.parts = parts;
  const framed = canonicalOf(full);
  let line = framed;
  let view = framed;
  for (const sp of splices) {
    line = replaceOnce(replaceOnce(line, sp.marker, sp.text), sp.saltMarker, sp.salt);
    const i = view.indexOf(sp.member);
    const end = i + sp.member.length;
    // The member and one comma beside it (none if it is the object's only member).
    if (view[end] === ',') view = `${view.slice(0, i)}${view.slice(end + 1)}`;
    else if (view[i - 1] === ',') view = `${view.slice(0, i - 1)}${view.slice(end)}`;
    else view = `${view.slice(0, i)}${view.slice(end)}`;
    view = replaceOnce(view, sp.saltMarker, '');
  }
  return finish(view, line, signer);
}

function replaceOnce(text: string, find: string, by: string): string {
  const i = text.indexOf(find);
  return `${text.slice(0, i)}${by}${text.slice(i + find.length)}`;
}

/** `hashed` is the canonical text the hash covers, `canonical` the line's text without hash and sig. */
function finish(hashed: string, canonical: string, signer: EntrySigner | null): BuiltEntry {
  const hashBytes = sha256(hashed);
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
  /** SHA-256 of what the entry hash covers (v1: JCS(entry without hash and sig); v2: the hashed view), recomputed. */
  computedHash: Buffer;
  /** v2: pointers of the parts that are erased (no salt, an erased marker in place). */
  erased: readonly string[];
  /** v2: why a part does not match its digest, or an erased part is malformed: changed content (exit 3). */
  partMismatch: string | null;
}

const NO_ERASED: readonly string[] = [];
const SALT_B64 = /^[A-Za-z0-9+/]{22}==$/;
const POINTER = /^(\/[^/~]*)+$/;

/**
 * Parses one line and recomputes its hash. Returns a problem for anything that is not a
 * well-formed v1 or v2 entry (a parse error, exit 4); comparing hashes, links and signatures is the
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
  if (e.v === 1 && chainFieldsProblem(e) === null) {
    const fast = canonicalHashOfWriterLine(line, e);
    if (fast !== null) return { entry: e as unknown as Entry, computedHash: fast, erased: NO_ERASED, partMismatch: null };
  }
  return hashEntryObject(e);
}

function chainFieldsProblem(e: Record<string, unknown>): LineProblem | null {
  if (e.v !== 1 && e.v !== 2) return { kind: 'parse', message: `unsupported entry version ${JSON.stringify(e.v)}` };
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 0) return { kind: 'parse', message: 'seq is not a non-negative integer' };
  if (typeof e.ts !== 'string') return { kind: 'parse', message: 'ts is not a string' };
  if (typeof e.origin !== 'string') return { kind: 'parse', message: 'origin is not a string' };
  if (typeof e.prevHash !== 'string' || !HEX64.test(e.prevHash)) return { kind: 'parse', message: 'prevHash is not 64 lowercase hex digits' };
  if (typeof e.hash !== 'string' || !HEX64.test(e.hash)) return { kind: 'parse', message: 'hash is not 64 lowercase hex digits' };
  if (e.sig !== undefined && (typeof e.sig !== 'string' || !BASE64.test(e.sig))) return { kind: 'parse', message: 'sig is not base64' };
  return null;
}

/**
 * Checks the chain fields of a parsed entry and recomputes what its hash covers: v1 the JCS of the
 * entry without `hash` and `sig`; v2 the hashed view (each part by its salted digest), checking
 * every part that is present against its digest.
 */
export function hashEntryObject(e: Record<string, unknown>): CheckedLine | LineProblem {
  const problem = chainFieldsProblem(e);
  if (problem !== null) return problem;
  if (e.v === 2) return checkV2(e);
  const { hash: _hash, sig: _sig, ...rest } = e;
  let canonical: string;
  try {
    canonical = canonicalJson(rest);
  } catch (err) {
    return { kind: 'parse', message: `cannot canonicalize: ${(err as Error).message}` };
  }
  return { entry: e as unknown as Entry, computedHash: sha256(canonical), erased: NO_ERASED, partMismatch: null };
}

/** True for exactly `{"erased": {"at": string, "reason": string, "by": string}}`. */
export function isErasedMarker(v: unknown): v is ErasedMarker {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  if (keys.length !== 1 || keys[0] !== 'erased') return false;
  const m = (v as { erased: unknown }).erased;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return false;
  const mk = Object.keys(m).sort();
  const r = m as Record<string, unknown>;
  return mk.length === 3 && mk[0] === 'at' && mk[1] === 'by' && mk[2] === 'reason' && typeof r.at === 'string' && typeof r.by === 'string' && typeof r.reason === 'string';
}

/** The object holding the member a pointer names, and the member's name; null if the path is not there. */
export function pointerParent(root: Record<string, unknown>, pointer: string): { parent: Record<string, unknown>; key: string } | null {
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  let cur: unknown = root;
  for (const t of tokens.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return null;
    cur = (cur as Record<string, unknown>)[t];
  }
  if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return null;
  return { parent: cur as Record<string, unknown>, key: tokens.at(-1) as string };
}

/** A copy of `root` whose objects along `pointer` are copied too, so the member can be removed. */
function withoutMember(root: Record<string, unknown>, pointer: string): Record<string, unknown> {
  const tokens = pointer.slice(1).split('/');
  const out: Record<string, unknown> = { ...root };
  let cur = out;
  for (const t of tokens.slice(0, -1)) {
    const next = { ...(cur[t] as Record<string, unknown>) };
    cur[t] = next;
    cur = next;
  }
  delete cur[tokens.at(-1) as string];
  return out;
}

function checkV2(e: Record<string, unknown>): CheckedLine | LineProblem {
  const parts = e.parts;
  if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) return { kind: 'parse', message: 'parts is not an object' };
  const { hash: _hash, sig: _sig, ...view0 } = e;
  let view: Record<string, unknown> = view0;
  const viewParts: Record<string, { digest: string }> = {};
  const erased: string[] = [];
  let mismatch: string | null = null;
  for (const [pointer, p] of Object.entries(parts as Record<string, unknown>)) {
    if (!POINTER.test(pointer)) return { kind: 'parse', message: `parts: ${JSON.stringify(pointer)} is not a JSON pointer to a member` };
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return { kind: 'parse', message: `parts[${pointer}] is not an object` };
    const { digest, salt } = p as Record<string, unknown>;
    if (typeof digest !== 'string' || !HEX64.test(digest)) return { kind: 'parse', message: `parts[${pointer}].digest is not 64 lowercase hex digits` };
    if (salt !== undefined && (typeof salt !== 'string' || !SALT_B64.test(salt))) return { kind: 'parse', message: `parts[${pointer}].salt is not the base64 of ${SALT_BYTES} bytes` };
    if (Object.keys(p).length !== (salt === undefined ? 1 : 2)) return { kind: 'parse', message: `parts[${pointer}] has members other than digest and salt` };
    viewParts[pointer] = { digest };
    const at = pointerParent(e, pointer);
    const part = at === null ? undefined : at.parent[at.key];
    if (mismatch === null) {
      if (part === undefined) mismatch = `the part ${pointer} is missing`;
      else if (salt === undefined) {
        if (isErasedMarker(part)) erased.push(pointer);
        else mismatch = `the part ${pointer} has no salt but is not an erased marker: content was put back in place of an erased part`;
      } else {
        let text: string;
        try {
          text = canonicalJson(part);
        } catch (err) {
          return { kind: 'parse', message: `cannot canonicalize ${pointer}: ${(err as Error).message}` };
        }
        if (partDigest(Buffer.from(salt, 'base64'), text) !== digest) mismatch = `the part ${pointer} does not match its salted digest`;
      }
    }
    if (at !== null) view = withoutMember(view, pointer);
  }
  view.parts = viewParts;
  let canonical: string;
  try {
    canonical = canonicalJson(view);
  } catch (err) {
    return { kind: 'parse', message: `cannot canonicalize: ${(err as Error).message}` };
  }
  return { entry: e as unknown as Entry, computedHash: sha256(canonical), erased: erased.length === 0 ? NO_ERASED : erased, partMismatch: mismatch };
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
