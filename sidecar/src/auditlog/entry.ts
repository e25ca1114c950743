// Building and checking one entry line (docs/audit-log-format.md "Entries"). Pure functions.
//
// A line is the RFC 8785 (JCS) canonical JSON of the entry without `hash`/`sig`, with
// `,"hash":"<hex>"` and `,"sig":"<base64>"` inserted before its final `}`. So the bytes of a line,
// minus those two members, are exactly the bytes that were hashed. Readers must not rely on that:
// the hash is defined over JCS(parsed entry without hash and sig), and that is what is checked.
import { hash, randomBytes } from 'node:crypto';
import { canonicalJson, canonicalJsonOfPlain, canonicalStringText, sortNames } from './jcs.ts';
import { sha256, sha256HexAndBytes } from './hash.ts';
import { logError } from './log-errors.ts';
import type { Entry, EntryPayload } from './types.ts';

/** Fields the writer owns; a payload carrying one of them is refused. */
export const CHAIN_FIELDS = ['v', 'seq', 'ts', 'origin', 'prevHash', 'hash', 'sig', 'parts'] as const;

/** The entry format the writer writes into a new chain (docs/audit-log-format.md "Format versions"). */
export const CURRENT_VERSION = 2;
export type EntryVersion = 1 | 2;

/**
 * The content parts of a v2 entry: JSON pointers of the values the entry commits to through a salted
 * digest instead of directly. A member at one of them that is absent, null or an empty array is not
 * a part (nothing to erase). Besides the bodies, their wire digests and the media list are parts:
 * an unsalted digest of the bytes sent, or of a media file, would confirm a guess of erased content.
 */
export const CONTENT_PARTS = ['/media', '/request/body', '/request/bodySha256', '/response/body', '/response/bodySha256'] as const;

// CONTENT_PARTS by top-level member: the names of its members that are parts, or null when the
// top-level member itself is one.
const PART_MEMBERS: ReadonlyMap<string, ReadonlySet<string> | null> = (() => {
  const m = new Map<string, Set<string> | null>();
  for (const p of CONTENT_PARTS) {
    const [top, sub] = p.slice(1).split('/') as [string, string | undefined];
    if (sub === undefined) m.set(top, null);
    else m.set(top, (m.get(top) ?? new Set<string>()).add(sub));
  }
  return m;
})();

/** Bytes of each part's salt. */
export const SALT_BYTES = 16;

/** `{"erased": {...}}`: what an erased part holds in place of its value. */
export interface ErasedMarker {
  erased: { at: string; reason: string; by: string };
}

// Salts come from a pool refilled 4 KiB at a time: one randomBytes call per 256 salts. A salt is
// taken as its offset in the pool, which is replaced, never written to.
let saltPool = Buffer.alloc(0);
let saltAt = 0;
function takeSalt(): number {
  if (saltAt + SALT_BYTES > saltPool.length) {
    saltPool = randomBytes(4096);
    saltAt = 0;
  }
  const at = saltAt;
  saltAt += SALT_BYTES;
  return at;
}

/** partDigest of the salt at `at` in the pool, copied straight into the scratch buffer. */
function saltedDigest(at: number, canonicalPart: string): string {
  const need = SALT_BYTES + canonicalPart.length * 3;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  saltPool.copy(scratch, 0, at, at + SALT_BYTES);
  const n = scratch.write(canonicalPart, SALT_BYTES, 'utf8');
  return hash('sha256', scratch.subarray(0, SALT_BYTES + n), 'hex');
}

/** The salted digest of a part: hex SHA-256(salt || UTF-8(JCS(part))). */
export function partDigest(salt: Uint8Array, canonicalPart: string): string {
  // salt || UTF-8 written into one reused buffer and hashed in one call: cheaper than a Hash
  // object (its creation dominates for the short parts) or a concatenated copy.
  const need = salt.length + canonicalPart.length * 3;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  scratch.set(salt, 0);
  const n = scratch.write(canonicalPart, salt.length, 'utf8');
  return hash('sha256', scratch.subarray(0, salt.length + n), 'hex');
}

let scratch = Buffer.allocUnsafe(8192);

/** partDigest with the salt given in base64 (as a line holds it), decoded straight into the scratch buffer. */
function partDigestOfLine(saltB64: string, canonicalPart: string): string {
  const need = SALT_BYTES + canonicalPart.length * 3;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  const k = scratch.write(saltB64, 0, 'base64');
  const n = scratch.write(canonicalPart, k, 'utf8');
  return hash('sha256', scratch.subarray(0, k + n), 'hex');
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

// The JCS text of member names seen before: an entry has the same few dozen names every time.
const nameTexts = new Map<string, string>();

function nameText(name: string): string {
  let t = nameTexts.get(name);
  if (t === undefined) {
    t = canonicalOf(name);
    if (nameTexts.size < 1024) nameTexts.set(name, t);
  }
  return t;
}

/** canonicalOf with the common scalars done inline (JSON.stringify is RFC 8785's text for them). */
function valueText(v: unknown): string {
  if (typeof v === 'string') {
    const t = canonicalStringText(v);
    if (t !== undefined) return t;
  } else if (typeof v === 'number') {
    if (Number.isFinite(v)) return JSON.stringify(v);
  } else if (typeof v === 'boolean') return v ? 'true' : 'false';
  else if (v === null) return 'null';
  else {
    const t = canonicalJsonOfPlain(v);
    if (t !== undefined) return t;
  }
  return canonicalOf(v);
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
  if (version === 1) {
    checkNoChainFields(payload);
    const body: Record<string, unknown> = { v: 1, seq: at.seq, ts: at.ts, origin: at.origin, ...payload, prevHash: at.prevHash };
    const text = canonicalOf(body);
    return finish(text, text.slice(0, -1), signer);
  }
  return buildV2(payload, at, signer);
}

function checkNoChainFields(payload: EntryPayload): void {
  for (const f of CHAIN_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(payload, f)) throw logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', `payload must not set the chain field "${f}"`);
  }
}

/** Absent, null or an empty array: not a part. */
function isPartValue(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

// v2: the entry is canonicalized member by member (members sorted as RFC 8785 sorts them), each
// member's text going into the line and, unless it is a part, into the hashed view; the holders of
// parts (request, response) are canonicalized the same way one level down. So each value is
// canonicalized once, and the line and the view are joined from the same texts. The payload is
// read in place: no merged copy of it with the chain fields is made.

/** Where a member of the entry comes from: a chain field, `parts`, or the payload. */
const FROM_PAYLOAD = 0;
const V = 1;
const SEQ = 2;
const TS = 3;
const ORIGIN = 4;
const PREV_HASH = 5;
const PARTS = 6;
const CHAIN_SLOTS: ReadonlyMap<string, number> = new Map([
  ['v', V],
  ['seq', SEQ],
  ['ts', TS],
  ['origin', ORIGIN],
  ['prevHash', PREV_HASH],
  ['parts', PARTS],
]);

/** The members of an entry in RFC 8785 order: names, their `"name":` texts, and where each value comes from. */
interface EntryOrder {
  payloadKeys: string[];
  names: string[];
  texts: string[];
  from: number[];
  /** The pointer each member would have as a part. */
  pointers: string[];
}

/** The members of an object (a holder of parts) in RFC 8785 order. */
interface MemberOrder {
  keys: string[];
  sorted: string[];
  texts: string[];
  pointers: string[];
}

// The proxy's entries have the same members in the same order every time: the sorted order of the
// last key list seen is reused while the payload's keys match it.
let entryOrderMemo: EntryOrder | null = null;
const memberOrderMemo = new Map<string, MemberOrder>();

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The member order of an entry whose payload has `payloadKeys`. A payload is checked for chain
 * fields here: a key list equal to the memoized one belongs to a payload checked before (the keys
 * are its own members, so the same list holds no chain field), and a new list is checked.
 */
function entryOrder(payload: EntryPayload, payloadKeys: string[]): EntryOrder {
  const m = entryOrderMemo;
  if (m !== null && sameKeys(m.payloadKeys, payloadKeys)) return m;
  checkNoChainFields(payload);
  const names = [...payloadKeys, ...CHAIN_SLOTS.keys()];
  sortNames(names);
  const order: EntryOrder = { payloadKeys, names, texts: names.map((n) => `${nameText(n)}:`), from: names.map((n) => CHAIN_SLOTS.get(n) ?? FROM_PAYLOAD), pointers: names.map((n) => `/${n}`) };
  entryOrderMemo = order;
  return order;
}

function memberOrder(holder: string, keys: string[]): MemberOrder {
  const m = memberOrderMemo.get(holder);
  if (m !== undefined && sameKeys(m.keys, keys)) return m;
  const sorted = [...keys];
  sortNames(sorted);
  const order: MemberOrder = { keys, sorted, texts: sorted.map((k) => `${nameText(k)}:`), pointers: sorted.map((k) => `/${holder}/${k}`) };
  if (m !== undefined || memberOrderMemo.size < 16) memberOrderMemo.set(holder, order);
  return order;
}

/** The parts of one entry as they are found: pointers, salted digests and salts, kept sorted by pointer at the end. */
interface PartsOut {
  pointers: string[];
  digests: string[];
  salts: string[];
}

// One entry's parts, reused from entry to entry (building an entry is synchronous, and each build
// empties them first): no arrays allocated per entry.
const partsOut: PartsOut = { pointers: [], digests: [], salts: [] };
const partOrder: number[] = [];

function addPart(out: PartsOut, pointer: string, text: string): void {
  const at = takeSalt();
  out.pointers.push(pointer);
  out.digests.push(saltedDigest(at, text));
  out.salts.push(saltPool.toString('base64', at, at + SALT_BYTES));
}

function buildV2(payload: EntryPayload, at: ChainPosition, signer: EntrySigner | null): BuiltEntry {
  const order = entryOrder(payload, Object.keys(payload));
  // The line and the view are built by concatenation (V8 keeps them as ropes, flattened once when
  // hashed or written), in two halves around `parts`, whose digests are known only at the end.
  let line = '';
  let view = '';
  let lineHead = '';
  let viewHead = '';
  let tail = false;
  const parts = partsOut;
  parts.pointers.length = 0;
  parts.digests.length = 0;
  parts.salts.length = 0;
  const { names, texts, from } = order;
  for (let i = 0; i < names.length; i++) {
    const k = names[i] as string;
    let v: unknown;
    switch (from[i]) {
      case PARTS:
        lineHead = line;
        viewHead = view;
        line = '';
        view = '';
        tail = true;
        continue;
      case V:
        v = 2;
        break;
      case SEQ:
        v = at.seq;
        break;
      case TS:
        v = at.ts;
        break;
      case ORIGIN:
        v = at.origin;
        break;
      case PREV_HASH:
        v = at.prevHash;
        break;
      default:
        v = (payload as Record<string, unknown>)[k];
        if (v === undefined) continue; // JSON drops such members
    }
    const name = texts[i] as string;
    const sub = PART_MEMBERS.get(k);
    if (sub === null && isPartValue(v)) {
      const text = valueText(v);
      addPart(parts, order.pointers[i] as string, text);
      line += tail || line.length > 0 ? `,${name}${text}` : `${name}${text}`;
    } else if (sub !== undefined && sub !== null && isPlainObject(v)) {
      let inLine = '';
      let inView = '';
      const mo = memberOrder(k, Object.keys(v));
      for (let j = 0; j < mo.sorted.length; j++) {
        const sk = mo.sorted[j] as string;
        const sv = v[sk];
        if (sv === undefined) continue;
        const text = valueText(sv);
        const member = `${mo.texts[j] as string}${text}`;
        inLine += inLine.length > 0 ? `,${member}` : member;
        if (sub.has(sk) && isPartValue(sv)) addPart(parts, mo.pointers[j] as string, text);
        else inView += inView.length > 0 ? `,${member}` : member;
      }
      line += `${tail || line.length > 0 ? ',' : ''}${name}{${inLine}}`;
      view += `${tail || view.length > 0 ? ',' : ''}${name}{${inView}}`;
    } else {
      const member = `${name}${valueText(v)}`;
      line += tail || line.length > 0 ? `,${member}` : member;
      view += tail || view.length > 0 ? `,${member}` : member;
    }
  }
  const { pointers, digests, salts } = parts;
  // Pointers in UTF-16 order, as RFC 8785 orders the members of `parts`: an insertion sort of
  // indexes (an entry has a handful of parts, found nearly in order).
  const idx = partOrder;
  idx.length = 0;
  for (let i = 0; i < pointers.length; i++) {
    let j = i - 1;
    while (j >= 0 && (pointers[idx[j] as number] as string) > (pointers[i] as string)) {
      idx[j + 1] = idx[j] as number;
      j--;
    }
    idx[j + 1] = i;
  }
  let partsLine = '';
  let partsView = '';
  for (let n = 0; n < pointers.length; n++) {
    const i = idx[n] as number;
    const sep = n > 0 ? ',' : '';
    const head = `${sep}${nameText(pointers[i] as string)}:{"digest":"${digests[i] as string}"`;
    partsLine += `${head},"salt":"${salts[i] as string}"}`;
    partsView += `${head}}`;
  }
  const viewText = `{${viewHead}${viewHead.length > 0 ? ',' : ''}"parts":{${partsView}}${view}}`;
  const lineOpen = `{${lineHead}${lineHead.length > 0 ? ',' : ''}"parts":{${partsLine}}${line}`;
  return finish(viewText, lineOpen, signer);
}

/** `hashed` is the canonical text the hash covers, `open` the line's text without hash and sig and without its final brace. */
function finish(hashed: string, open: string, signer: EntrySigner | null): BuiltEntry {
  const { hex: hash, bytes: hashBytes } = sha256HexAndBytes(hashed);
  let tail = `,"hash":"${hash}"`;
  if (signer !== null) {
    const sig = signer.sign(hashBytes);
    tail += `,"sig":"${(Buffer.isBuffer(sig) ? sig : Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength)).toString('base64')}"`;
  }
  const line = `${open}${tail}}\n`;
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
  if (chainFieldsProblem(e) === null) {
    if (e.v === 1) {
      const fast = canonicalHashOfWriterLine(line, e);
      if (fast !== null) return { entry: e as unknown as Entry, computedHash: fast, erased: NO_ERASED, partMismatch: null };
    } else {
      const fast = checkV2WriterLine(line, e);
      if (fast !== null) return fast;
    }
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

/** A part the fast path found: its pointer, digest and salt (undefined: erased), and its value. */
interface FoundPart {
  pointer: string;
  digest: string;
  salt: string | undefined;
  found: boolean;
}

/**
 * Fast, exact path for v2 lines in the writer's form, the counterpart of canonicalHashOfWriterLine:
 * each member of the entry (and of a part's holder) is serialized with JSON.stringify and must be
 * found at its place in the line, so the line is JSON.stringify of the parsed entry; with every
 * object's keys in UTF-16 order it is then the JCS text, and so is each member's text. The hashed
 * view is joined from those texts without the parts, and each part's text is its JCS text for the
 * digest. Returns the result only when everything is intact and parts are one or two levels deep
 * under members that are not chain fields; anything else (a reformatted line, a digest that does
 * not match, a malformed `parts`) returns null and the general path decides, with its messages.
 * Exported for its property test against the general path.
 */
export function checkV2WriterLine(line: string, e: Record<string, unknown>): CheckedLine | null {
  const parts = e.parts;
  if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) return null;
  const suffix = e.sig === undefined ? `,"hash":"${String(e.hash)}"}` : `,"hash":"${String(e.hash)}","sig":"${String(e.sig)}"}`;
  if (!line.endsWith(suffix)) return null;
  // Parts by top-level member: the part itself (a FoundPart) or its members that are parts.
  const byTop = new Map<string, FoundPart | Map<string, FoundPart>>();
  const all: FoundPart[] = [];
  let viewParts = '';
  for (const pointer of Object.keys(parts)) {
    const p = (parts as Record<string, unknown>)[pointer];
    const tokens = fastPointer(pointer);
    if (tokens === null) return null;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
    const { digest, salt } = p as Record<string, unknown>;
    // A salted part's digest is checked by comparing it with the one computed (64 lowercase hex).
    if (typeof digest !== 'string' || (salt === undefined && !HEX64.test(digest))) return null;
    if (salt !== undefined && (typeof salt !== 'string' || !SALT_B64.test(salt))) return null;
    if (Object.keys(p).length !== (salt === undefined ? 1 : 2)) return null;
    const top = tokens[0] as string;
    const found: FoundPart = { pointer, digest, salt, found: false };
    const had = byTop.get(top);
    if (tokens.length === 1) {
      if (had !== undefined) return null;
      byTop.set(top, found);
    } else {
      if (had !== undefined && !(had instanceof Map)) return null;
      const subs = had ?? new Map<string, FoundPart>();
      if (subs.has(tokens[1] as string)) return null;
      subs.set(tokens[1] as string, found);
      byTop.set(top, subs);
    }
    all.push(found);
    viewParts += `${viewParts === '' ? '' : ','}${JSON.stringify(pointer)}:{"digest":"${digest}"}`;
  }
  const keys = Object.keys(e);
  const n = keys.length - (e.sig === undefined ? 1 : 2);
  if (keys[n] !== 'hash' || (e.sig !== undefined && keys[n + 1] !== 'sig')) return null;
  if (line.charCodeAt(0) !== 0x7b) return null;
  let pos = 1;
  let view = '';
  const texts: string[] = []; // the text of each part, in the order of `all`
  for (let i = 0; i < n; i++) {
    const k = keys[i] as string;
    if (i > 0) {
      if (line.charCodeAt(pos) !== 0x2c || !((keys[i - 1] as string) < k)) return null;
      pos++;
    }
    const memberAt = pos;
    pos = matchMemberName(line, pos, k);
    if (pos < 0) return null;
    const v = e[k];
    const part = byTop.get(k);
    if (part === undefined || k === 'parts') {
      pos = matchJcs(line, pos, v, 1);
      if (pos < 0) return null;
      view += `${view.length > 0 ? ',' : ''}${k === 'parts' ? `"parts":{${viewParts}}` : line.slice(memberAt, pos)}`;
    } else if (!(part instanceof Map)) {
      const valueAt = pos;
      pos = matchJcs(line, pos, v, 1);
      if (pos < 0) return null;
      part.found = true;
      texts[all.indexOf(part)] = line.slice(valueAt, pos);
    } else {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || line.charCodeAt(pos) !== 0x7b) return null;
      const holderName = line.slice(memberAt, pos);
      pos++;
      let inView = '';
      const subKeys = Object.keys(v);
      for (let j = 0; j < subKeys.length; j++) {
        const sk = subKeys[j] as string;
        if (j > 0) {
          if (line.charCodeAt(pos) !== 0x2c || !((subKeys[j - 1] as string) < sk)) return null;
          pos++;
        }
        const subAt = pos;
        pos = matchMemberName(line, pos, sk);
        if (pos < 0) return null;
        const valueAt = pos;
        pos = matchJcs(line, pos, (v as Record<string, unknown>)[sk], 2);
        if (pos < 0) return null;
        const sp = part.get(sk);
        if (sp === undefined) inView += `${inView.length > 0 ? ',' : ''}${line.slice(subAt, pos)}`;
        else {
          sp.found = true;
          texts[all.indexOf(sp)] = line.slice(valueAt, pos);
        }
      }
      if (line.charCodeAt(pos) !== 0x7d) return null;
      pos++;
      view += `${view.length > 0 ? ',' : ''}${holderName}{${inView}}`;
    }
  }
  if (pos + suffix.length !== line.length) return null;
  let erased: string[] | null = null;
  for (const [i, p] of all.entries()) {
    if (!p.found) return null;
    if (p.salt === undefined) {
      const where = pointerParent(e, p.pointer);
      if (where === null || !isErasedMarker(where.parent[where.key])) return null;
      (erased ??= []).push(p.pointer);
    } else if (partDigestOfLine(p.salt, texts[i] as string) !== p.digest) return null;
  }
  return { entry: e as unknown as Entry, computedHash: sha256(`{${view}}`), erased: erased ?? NO_ERASED, partMismatch: null };
}

const FAST_POINTERS = new Map<string, readonly string[] | null>();
const CHAIN_FIELD_SET: ReadonlySet<string> = new Set(CHAIN_FIELDS);

/** The tokens of a pointer the fast path handles (one or two levels, no escapes, not under a chain field), else null; memoized. */
function fastPointer(pointer: string): readonly string[] | null {
  let t = FAST_POINTERS.get(pointer);
  if (t === undefined) {
    const tokens = pointer.slice(1).split('/');
    t = POINTER.test(pointer) && !pointer.includes('~') && tokens.length <= 2 && !CHAIN_FIELD_SET.has(tokens[0] as string) ? tokens : null;
    if (FAST_POINTERS.size < 256) FAST_POINTERS.set(pointer, t);
  }
  return t;
}

/** `"name":` at `pos` in the line in its JCS form: the position after it, or -1. */
function matchMemberName(line: string, pos: number, name: string): number {
  const end = matchJcs(line, pos, name, 0);
  return end < 0 || line.charCodeAt(end) !== 0x3a ? -1 : end + 1;
}

/**
 * Whether the line holds, at `pos`, exactly the RFC 8785 text of `v` (a value JSON.parse made of
 * that line): returns the position after it, or -1 (not canonical there, or too deep to check).
 * A string without a backslash is compared as it stands: if the line's next characters are the
 * string itself and then a quote, its token has no escape, and since JSON.parse admits no raw
 * control character or quote in a string, that is the text JSON.stringify (RFC 8785 §3.2.2.2)
 * gives it, unless it holds a lone surrogate (refused). Other strings and numbers are compared
 * with their JSON.stringify text; object members must be in UTF-16 order (§3.2.3).
 */
function matchJcs(line: string, pos: number, v: unknown, depth: number): number {
  if (typeof v === 'string') {
    if (!BACKSLASH_OR_SURROGATE.test(v)) {
      if (line.charCodeAt(pos) === 0x22 && line.charCodeAt(pos + 1 + v.length) === 0x22 && line.substr(pos + 1, v.length) === v) return pos + v.length + 2;
    } else if (badString(v)) return -1;
    return matchText(line, pos, JSON.stringify(v));
  }
  if (typeof v === 'number') return Object.is(v, -0) ? -1 : matchText(line, pos, JSON.stringify(v));
  if (v === null) return matchText(line, pos, 'null');
  if (v === true) return matchText(line, pos, 'true');
  if (v === false) return matchText(line, pos, 'false');
  if (typeof v !== 'object' || depth > 64) return -1;
  if (Array.isArray(v)) {
    if (line.charCodeAt(pos) !== 0x5b) return -1;
    pos++;
    for (let i = 0; i < v.length; i++) {
      if (i > 0) {
        if (line.charCodeAt(pos) !== 0x2c) return -1;
        pos++;
      }
      pos = matchJcs(line, pos, v[i], depth + 1);
      if (pos < 0) return -1;
    }
    return line.charCodeAt(pos) === 0x5d ? pos + 1 : -1;
  }
  if (line.charCodeAt(pos) !== 0x7b) return -1;
  pos++;
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (i > 0) {
      if (line.charCodeAt(pos) !== 0x2c || !((keys[i - 1] as string) < k)) return -1;
      pos++;
    }
    pos = matchMemberName(line, pos, k);
    if (pos < 0) return -1;
    pos = matchJcs(line, pos, (v as Record<string, unknown>)[k], depth + 1);
    if (pos < 0) return -1;
  }
  return line.charCodeAt(pos) === 0x7d ? pos + 1 : -1;
}

const BACKSLASH_OR_SURROGATE = /[\\\uD800-\uDFFF]/;

function matchText(line: string, pos: number, text: string): number {
  return line.substr(pos, text.length) === text ? pos + text.length : -1;
}
