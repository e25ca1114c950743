// Checking one entry line in the writer's form from its bytes (docs/audit-log-format.md "Entries",
// "Hashing"; ADR 0024). The verifier's fast path: no JSON.parse of the whole line, no
// re-serialisation. Pure functions over module-level scratch state (one line at a time).
//
// A line in the writer's form is the RFC 8785 (JCS) text of the entry without `hash` and `sig`,
// with `,"hash":"<hex>"` and `,"sig":"<base64>"` inserted before its final brace. So when every
// value in the line is in its JCS form, each part's JCS text is a stretch of the line, and so is
// every piece of the hashed view: the view is the line with each part's member cut out and each
// `parts` entry's `,"salt":"..."` cut out (entry.ts buildV2 writes it from the same texts).
//
// checkWriterLine scans the bytes once and proves the line is in that form: a JSON object whose
// members before `hash` are in UTF-16 order (RFC 8785 §3.2.3) with no duplicate, then `hash` and
// optionally `sig`, then the end; no whitespace; every string valid UTF-8 without a raw control
// character, escaping only `"`, `\` and control characters, those as JCS does (§3.2.2.2);
// every number the text ECMAScript gives its value (§3.2.2.3), which excludes -0; nesting at
// most 64. Such a line is exactly what JSON.parse followed by canonicalJson reproduces, so the
// digests and hash computed from its bytes equal what the general path (entry.ts checkLine)
// computes. Anything else returns null and the general path decides, with its messages: a line
// in another form (reformatted, integer-like keys sorted otherwise, 1.0, \u0041, ...), a chain
// field out of the format, a malformed `parts`, a part that does not match its digest, a member
// named __proto__. The property test in line-bytes.test.ts holds the two paths equal.
import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import { CHAIN_FIELDS, isErasedMarker, SALT_BYTES } from './entry.ts';
import type { Entry } from './types.ts';

/**
 * What the verifier reads of an entry: the chain fields, `media`, and (a record: a line with a
 * `kind` member) every member. The fast path parses only those; the general path gives the whole entry.
 */
export type EntryFields = Pick<Entry, 'v' | 'seq' | 'ts' | 'origin' | 'prevHash' | 'hash' | 'sig'> & { [member: string]: unknown };

export interface CheckedBytes {
  entry: EntryFields;
  /** SHA-256 of the hashed view (v1: of the line without `hash` and `sig`). */
  computedHash: Buffer;
  /** v2: pointers of the erased parts, in the order of `parts`. */
  erased: readonly string[];
  partMismatch: null;
}

const MAX_DEPTH = 64;
const MAX_MEMBERS = 512;
const NO_ERASED: readonly string[] = [];
const CHAIN: ReadonlySet<string> = new Set(CHAIN_FIELDS);
// eslint-disable-next-line no-control-regex -- a raw control character is what it finds (JSON allows none)
const CONTROL = /[\x00-\x1f]/;
const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

// The line being checked: its bytes, and the same bytes as a latin1 string (one character per
// byte, so string positions are byte positions and indexOf/startsWith run natively).
const EMPTY = Buffer.alloc(0);
let buf: Buffer = EMPTY;
let s = '';
let len = 0;
// The position of the next backslash at or after the last search, len when there is none.
let nextBackslash = 0;

// Members of the entry (top) and of its members that are objects (sub): where the key starts
// (its quote), where the value starts, where it ends (exclusive). Sub members of top member i are
// subFrom[i] to subTo[i] (subFrom -1: the value is not an object).
// A line with more members than MAX_MEMBERS (of either kind) leaves this path.
const topKey = new Int32Array(MAX_MEMBERS);
const topVal = new Int32Array(MAX_MEMBERS);
const topEnd = new Int32Array(MAX_MEMBERS);
const subFrom = new Int32Array(MAX_MEMBERS);
const subTo = new Int32Array(MAX_MEMBERS);
const subKey = new Int32Array(MAX_MEMBERS);
const subVal = new Int32Array(MAX_MEMBERS);
const subEnd = new Int32Array(MAX_MEMBERS);
// Per member: 0, or 1 if it is a part, 2 (top only) if members of it are parts.
const topPart = new Uint8Array(MAX_MEMBERS);
const subPart = new Uint8Array(MAX_MEMBERS);
let nTop = 0;
let nSub = 0;
let recording = false;

/** The end of the string token at p (its quote), or -1 if it is not one in the JCS form. */
function str(p: number): number {
  let i = p + 1;
  for (;;) {
    const q = s.indexOf('"', i);
    if (q < 0) return -1;
    if (nextBackslash < i) {
      nextBackslash = s.indexOf('\\', i);
      if (nextBackslash < 0) nextBackslash = len;
    }
    if (nextBackslash > q) return q + 1;
    i = escapeEnd(nextBackslash);
    if (i < 0) return -1;
  }
}

/** JCS escapes only `"`, `\` and control characters: \b \t \n \f \r, the others as \u00xx (lowercase hex). */
function escapeEnd(b: number): number {
  switch (s.charCodeAt(b + 1)) {
    case 0x22:
    case 0x5c:
    case 0x62:
    case 0x66:
    case 0x6e:
    case 0x72:
    case 0x74:
      return b + 2;
    case 0x75: {
      if (s.charCodeAt(b + 2) !== 0x30 || s.charCodeAt(b + 3) !== 0x30) return -1;
      const h = s.charCodeAt(b + 4);
      const l = s.charCodeAt(b + 5);
      const lo = l >= 0x30 && l <= 0x39 ? l - 0x30 : l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
      if ((h !== 0x30 && h !== 0x31) || lo < 0) return -1;
      const c = (h - 0x30) * 16 + lo;
      return c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? -1 : b + 6;
    }
    default:
      return -1;
  }
}

/** The end of the number at p, or -1 unless its text is the one ECMAScript gives its value. */
function num(p: number): number {
  let e = p;
  for (; e < len; e++) {
    const c = s.charCodeAt(e);
    // digits, + - . e E
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x65 || c === 0x45)) break;
  }
  const t = s.slice(p, e);
  return String(Number(t)) === t ? e : -1;
}

function value(p: number, depth: number): number {
  switch (s.charCodeAt(p)) {
    case 0x22:
      return str(p);
    case 0x7b:
      return obj(p, depth);
    case 0x5b:
      return arr(p, depth);
    case 0x74:
      return s.startsWith('true', p) ? p + 4 : -1;
    case 0x66:
      return s.startsWith('false', p) ? p + 5 : -1;
    case 0x6e:
      return s.startsWith('null', p) ? p + 4 : -1;
    default:
      return num(p);
  }
}

function arr(p: number, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  p++;
  if (s.charCodeAt(p) === 0x5d) return p + 1;
  for (;;) {
    p = value(p, depth + 1);
    if (p < 0) return -1;
    const c = s.charCodeAt(p);
    if (c === 0x5d) return p + 1;
    if (c !== 0x2c) return -1;
    p++;
  }
}

/** An object at p (one level below the entry when `recording`: its members are recorded as sub members). */
function obj(p: number, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  const record = recording;
  recording = false;
  p++;
  if (s.charCodeAt(p) === 0x7d) return p + 1;
  let prevKey = -1;
  let prevKeyEnd = -1;
  for (;;) {
    if (s.charCodeAt(p) !== 0x22) return -1;
    const ke = str(p);
    if (ke < 0 || s.charCodeAt(ke) !== 0x3a || !keyAllowed(p, ke)) return -1;
    if (prevKey >= 0 && !keyLess(prevKey, prevKeyEnd, p, ke)) return -1;
    const ve = value(ke + 1, depth + 1);
    if (ve < 0) return -1;
    if (record) {
      if (nSub === MAX_MEMBERS) return -1;
      subKey[nSub] = p;
      subVal[nSub] = ke + 1;
      subEnd[nSub] = ve;
      subPart[nSub] = 0;
      nSub++;
    }
    prevKey = p;
    prevKeyEnd = ke;
    const c = s.charCodeAt(ve);
    if (c === 0x7d) return ve + 1;
    if (c !== 0x2c) return -1;
    p = ve + 1;
  }
}

/** "__proto__" is left to the general path (a parse makes it an own member; nothing here needs to know how). */
function keyAllowed(k: number, ke: number): boolean {
  return ke - k !== 11 || !s.startsWith('"__proto__"', k);
}

/**
 * Whether the key at [a, ae) comes before the one at [b, be) in UTF-16 order. UTF-8 bytes order
 * as code points do, which is UTF-16's order except between characters above U+FFFF and those
 * from U+E000: so the bytes decide unless the first difference is between two non-ASCII bytes,
 * or an escape comes first; then the keys are decoded and compared.
 */
function keyLess(a: number, ae: number, b: number, be: number): boolean {
  const la = ae - a - 2;
  const lb = be - b - 2;
  const n = la < lb ? la : lb;
  for (let i = 1; i <= n; i++) {
    const x = s.charCodeAt(a + i);
    const y = s.charCodeAt(b + i);
    if (x === 0x5c || y === 0x5c) return decoded(a, ae) < decoded(b, be);
    if (x !== y) return x >= 0x80 && y >= 0x80 ? decoded(a, ae) < decoded(b, be) : x < y;
  }
  return la < lb;
}

function decoded(a: number, ae: number): string {
  return JSON.parse(buf.toString('utf8', a, ae)) as string;
}

/** The string value at [a, ae) (a JCS string token). */
function stringAt(a: number, ae: number): string {
  const t = s.slice(a + 1, ae - 1);
  return /[\\\x80-\xff]/.test(t) ? decoded(a, ae) : t;
}

/** Whether the key of top member i is `name` (ASCII, nothing JCS escapes). */
function topIs(i: number, name: string): boolean {
  const k = topKey[i] as number;
  return (topVal[i] as number) - k === name.length + 3 && s.startsWith(name, k + 1);
}

/** Whether [a, a+n) and [b, b+n) hold the same bytes. */
function sameBytes(a: number, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (s.charCodeAt(a + i) !== s.charCodeAt(b + i)) return false;
  return true;
}

// The hashed view (and a salt followed by a part) is assembled here from stretches of the line.
let scratch = Buffer.allocUnsafe(64 * 1024);
let out = 0;
let runFrom = 0;
let runTo = -1;

function emit(a: number, b: number): void {
  if (a === runTo) runTo = b;
  else {
    flush();
    runFrom = a;
    runTo = b;
  }
}

function flush(): void {
  if (runTo > runFrom) out += buf.copy(scratch, out, runFrom, runTo);
  runTo = -1;
  runFrom = 0;
}

const B64 = (() => {
  const t = new Int8Array(128).fill(-1);
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < abc.length; i++) t[abc.charCodeAt(i)] = i;
  return t;
})();

/** Decodes the 22 base64 characters at p (then "==") into scratch[0, 16) as Buffer's decoder does (the last 4 bits dropped); false if not base64. */
function salt(p: number): boolean {
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < 22; i++) {
    const c = s.charCodeAt(p + i);
    const v = c < 128 ? (B64[c] as number) : -1;
    if (v < 0) return false;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      scratch[o++] = (acc >> bits) & 0xff;
    }
  }
  return o === SALT_BYTES && s.charCodeAt(p + 22) === 0x3d && s.charCodeAt(p + 23) === 0x3d;
}

function isHex64At(p: number): boolean {
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(p + i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Checks a line (its bytes, without the newline) in the writer's form and recomputes its hash:
 * the result of entry.ts checkLine for that line when everything in it is intact, or null (the
 * line is not in that form, or something in it is wrong: the general path then decides).
 */
export function checkWriterLine(line: Buffer): CheckedBytes | null {
  len = line.length;
  if (len < 2 || line[0] !== 0x7b || line[len - 1] !== 0x7d) return null;
  buf = line;
  s = line.toString('latin1', 0, len);
  try {
    if (CONTROL.test(s) || !isUtf8(line)) return null;
    return check();
  } finally {
    buf = EMPTY;
    s = '';
  }
}

function check(): CheckedBytes | null {
  if (scratch.length < len) scratch = Buffer.allocUnsafe(Math.max(len, 2 * scratch.length));
  nextBackslash = -1;
  nTop = 0;
  nSub = 0;
  // The members before `hash`.
  let p = 1;
  let trailer = -1;
  for (;;) {
    if (s.charCodeAt(p) !== 0x22) return null;
    // The first letter before startsWith: this runs once per member.
    const c1 = s.charCodeAt(p + 1);
    if (c1 === 0x68 && s.startsWith('"hash":', p)) {
      trailer = p;
      break;
    }
    // A `sig` before `hash` is not where the writer puts it (and is not hashed).
    if (c1 === 0x73 && s.startsWith('"sig":', p)) return null;
    const ke = str(p);
    if (ke < 0 || s.charCodeAt(ke) !== 0x3a || !keyAllowed(p, ke)) return null;
    if (nTop > 0 && !keyLess(topKey[nTop - 1] as number, (topVal[nTop - 1] as number) - 1, p, ke)) return null;
    if (nTop === MAX_MEMBERS) return null;
    const vs = ke + 1;
    let ve: number;
    if (s.charCodeAt(vs) === 0x7b) {
      subFrom[nTop] = nSub;
      recording = true;
      ve = obj(vs, 1);
      recording = false;
      subTo[nTop] = nSub;
    } else {
      subFrom[nTop] = -1;
      ve = value(vs, 1);
    }
    if (ve < 0) return null;
    topKey[nTop] = p;
    topVal[nTop] = vs;
    topEnd[nTop] = ve;
    topPart[nTop] = 0;
    nTop++;
    if (s.charCodeAt(ve) !== 0x2c) return null;
    p = ve + 1;
  }
  if (nTop === 0) return null;
  // `"hash":"<64 hex>"`, then `,"sig":"<base64>"` or nothing, then the final brace.
  const hashHex = s.slice(trailer + 8, trailer + 72);
  if (s.charCodeAt(trailer + 7) !== 0x22 || s.charCodeAt(trailer + 72) !== 0x22 || !HEX64.test(hashHex)) return null;
  let sig: string | undefined;
  let end = trailer + 73;
  if (s.startsWith(',"sig":"', end)) {
    const q = s.indexOf('"', end + 8);
    if (q < 0) return null;
    sig = s.slice(end + 8, q);
    if (!BASE64.test(sig)) return null;
    end = q + 1;
  }
  if (end !== len - 1) return null;

  // The chain fields (entry.ts chainFieldsProblem: anything out of the format is the general path's).
  let v = 0;
  let seq = -1;
  let ts: string | undefined;
  let origin: string | undefined;
  let prevHash: string | undefined;
  let parts = -1;
  let media = -1;
  let kind = false;
  for (let i = 0; i < nTop; i++) {
    const a = topVal[i] as number;
    const e = topEnd[i] as number;
    const c = s.charCodeAt((topKey[i] as number) + 1);
    if (c === 0x76 && topIs(i, 'v')) {
      if (e - a !== 1) return null;
      v = s.charCodeAt(a) - 0x30;
      if (v !== 1 && v !== 2) return null;
    } else if (c === 0x73 && topIs(i, 'seq')) {
      if (s.charCodeAt(a) === 0x22) return null;
      seq = Number(s.slice(a, e));
      if (!Number.isSafeInteger(seq) || seq < 0) return null;
    } else if (c === 0x74 && topIs(i, 'ts')) {
      if (s.charCodeAt(a) !== 0x22) return null;
      ts = stringAt(a, e);
    } else if (c === 0x6f && topIs(i, 'origin')) {
      if (s.charCodeAt(a) !== 0x22) return null;
      origin = stringAt(a, e);
    } else if (c === 0x70 && topIs(i, 'prevHash')) {
      if (e - a !== 66 || s.charCodeAt(a) !== 0x22) return null;
      prevHash = s.slice(a + 1, a + 65);
      if (!HEX64.test(prevHash)) return null;
    } else if (c === 0x70 && topIs(i, 'parts')) parts = i;
    else if (c === 0x6d && topIs(i, 'media')) media = i;
    else if (c === 0x6b && topIs(i, 'kind')) kind = true;
  }
  if (v === 0 || seq < 0 || ts === undefined || origin === undefined || prevHash === undefined) return null;

  out = 0;
  runTo = -1;
  let erased: readonly string[] | null = null;
  if (v === 1) {
    emit(0, trailer - 1);
  } else {
    if (parts < 0 || subFrom[parts] === -1) return null;
    erased = findParts(parts);
    if (erased === null) return null;
    viewV2(parts);
  }
  emit(len - 1, len);
  flush();
  // A digest as a latin1 ('binary') string copied into a pooled Buffer costs less than a digest as a Buffer
  // (which gets its own backing store).
  const computedHash = Buffer.from(hash('sha256', scratch.subarray(0, out), 'binary'), 'latin1');

  let entry: EntryFields;
  if (kind) {
    entry = JSON.parse(buf.toString('utf8')) as EntryFields;
  } else {
    entry = { v: v as 1 | 2, seq, ts, origin, prevHash, hash: hashHex };
    if (sig !== undefined) entry.sig = sig;
    if (media >= 0) {
      const a = topVal[media] as number;
      const e = topEnd[media] as number;
      entry.media = e - a === 2 && s.charCodeAt(a) === 0x5b ? [] : JSON.parse(buf.toString('utf8', a, e));
    }
  }
  return { entry, computedHash, erased: erased ?? NO_ERASED, partMismatch: null };
}

/**
 * Marks the members the `parts` entries point at and checks each: a salted part against its
 * digest, an unsalted one for being an erased marker. Returns the erased pointers, or null for
 * anything this path does not decide (the general path then does).
 */
function findParts(parts: number): readonly string[] | null {
  // Allocated at the first erased part: most entries have none.
  let erased: string[] | null = null;
  for (let j = subFrom[parts] as number; j < (subTo[parts] as number); j++) {
    const k = subKey[j] as number;
    const ke = (subVal[j] as number) - 1;
    // The pointer: "/a" or "/a/b", tokens not empty, no escape or "~", not under a chain field.
    if (s.charCodeAt(k + 1) !== 0x2f) return null;
    const tokens = pointerTokens(s.slice(k + 1, ke - 1));
    if (tokens === null) return null;
    const [top, sub] = tokens;
    // Its entry: {"digest":"<64 hex>"} or {"digest":"<64 hex>","salt":"<22 base64>=="}.
    const a = subVal[j] as number;
    const e = subEnd[j] as number;
    // A salted part's digest is compared with the one computed (64 lowercase hex), an erased one's checked here.
    if (!s.startsWith('{"digest":"', a) || s.charCodeAt(a + 75) !== 0x22) return null;
    let salted: boolean;
    if (e - a === 77 && s.charCodeAt(a + 76) === 0x7d && isHex64At(a + 11)) salted = false;
    else if (e - a === 111 && s.startsWith(',"salt":"', a + 76) && s.startsWith('"}', a + 109)) salted = true;
    else return null;
    // The member it points at.
    const t = topNamed(k + 2, top.length);
    if (t < 0) return null;
    let va: number;
    let vb: number;
    if (sub === null) {
      if (topPart[t] !== 0) return null;
      topPart[t] = 1;
      va = topVal[t] as number;
      vb = topEnd[t] as number;
    } else {
      if (topPart[t] === 1 || subFrom[t] === -1) return null;
      const m = subNamed(t, k + 3 + top.length, sub.length);
      if (m < 0) return null;
      topPart[t] = 2;
      subPart[m] = 1;
      va = subVal[m] as number;
      vb = subEnd[m] as number;
    }
    if (salted) {
      if (!salt(a + 85)) return null;
      if (scratch.length < SALT_BYTES + vb - va) scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, SALT_BYTES + vb - va));
      buf.copy(scratch, SALT_BYTES, va, vb);
      // A slice compared costs less than startsWith at an offset of the long line.
      if (s.slice(a + 11, a + 75) !== hash('sha256', scratch.subarray(0, SALT_BYTES + vb - va), 'hex')) return null;
    } else {
      if (!isErasedMarker(JSON.parse(buf.toString('utf8', va, vb)))) return null;
      (erased ??= []).push(decoded(k, ke));
    }
  }
  return erased ?? NO_ERASED;
}

// Pointers seen before (the same few in every entry): their tokens, or null if this path leaves them.
const POINTERS = new Map<string, readonly [string, string | null] | null>();

/** "/a" or "/a/b": tokens not empty, no escape or "~", not under a chain field; else null. */
function pointerTokens(pointer: string): readonly [string, string | null] | null {
  let t = POINTERS.get(pointer);
  if (t === undefined) {
    const slash = pointer.indexOf('/', 1);
    const top = slash < 0 ? pointer.slice(1) : pointer.slice(1, slash);
    const sub = slash < 0 ? null : pointer.slice(slash + 1);
    t = /[~\\]/.test(pointer) || top === '' || sub === '' || (sub !== null && sub.includes('/')) || CHAIN.has(top) ? null : [top, sub];
    if (POINTERS.size < 256) POINTERS.set(pointer, t);
  }
  return t;
}

/** The top member whose key is the n bytes at p, or -1. */
function topNamed(p: number, n: number): number {
  for (let i = 0; i < nTop; i++) {
    const k = topKey[i] as number;
    if ((topVal[i] as number) - k === n + 3 && sameBytes(k + 1, p, n)) return i;
  }
  return -1;
}

/** The sub member of top member t whose key is the n bytes at p, or -1. */
function subNamed(t: number, p: number, n: number): number {
  for (let j = subFrom[t] as number; j < (subTo[t] as number); j++) {
    const k = subKey[j] as number;
    if ((subVal[j] as number) - k === n + 3 && sameBytes(k + 1, p, n)) return j;
  }
  return -1;
}

/** Emits the hashed view but its final brace: the members but the parts, `parts` without salts. */
function viewV2(parts: number): void {
  emit(0, 1);
  let first = true;
  for (let i = 0; i < nTop; i++) {
    const mark = topPart[i] as number;
    if (mark === 1) continue;
    const k = topKey[i] as number;
    if (!first) emit(k - 1, k);
    first = false;
    if (i === parts) {
      emit(k, (topVal[i] as number) + 1);
      for (let j = subFrom[i] as number; j < (subTo[i] as number); j++) {
        const sk = subKey[j] as number;
        if (j > (subFrom[i] as number)) emit(sk - 1, sk);
        emit(sk, (subVal[j] as number) + 76);
        emit((subEnd[j] as number) - 1, subEnd[j] as number);
      }
      emit((topEnd[i] as number) - 1, topEnd[i] as number);
    } else if (mark === 2) {
      emit(k, (topVal[i] as number) + 1);
      let firstSub = true;
      for (let j = subFrom[i] as number; j < (subTo[i] as number); j++) {
        if (subPart[j] === 1) continue;
        const sk = subKey[j] as number;
        if (!firstSub) emit(sk - 1, sk);
        firstSub = false;
        emit(sk, subEnd[j] as number);
      }
      emit((topEnd[i] as number) - 1, topEnd[i] as number);
    } else emit(k, topEnd[i] as number);
  }
}
