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
import { isAscii, isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';

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

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

/**
 * The value of the four hex digits at `at`, or -1. Read from the bytes: a body written with every
 * non-ASCII character escaped (`\u00e9`) has one of these per character, and a string made for
 * each cost ~2 µs apiece (hundreds of milliseconds for such a 2 MB body).
 */
function hex4(buf: Buffer, at: number): number {
  if (at + 4 > buf.length) return -1;
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const d = hexDigit(buf[k] as number);
    if (d === -1) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** True when the backslash at `at` starts an escape (an even number of backslashes before it). */
function realEscape(buf: Buffer, at: number, from: number): boolean {
  let n = 0;
  for (let k = at - 1; k >= from && buf[k] === 0x5c; k--) n++;
  return n % 2 === 0;
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

const STR_YIELD = -1;
const STR_LONE = -2;
const STR_UNTERMINATED = -3;

/** True when the next byte after whitespace from `at` is a colon (the string before it was a member name). */
function colonFollows(buf: Buffer, at: number): boolean {
  let k = at;
  while (k < buf.length && (buf[k] === 0x20 || buf[k] === 0x0a || buf[k] === 0x0d || buf[k] === 0x09)) k++;
  return buf[k] === 0x3a;
}

/**
 * One pass over the bytes: nesting depth, numbers that would change, lone surrogate escapes, and
 * the member count. Strings are jumped over with indexOf (their content is most of an LLM body).
 * Stops at the first reason found; garbage is not judged here (JSON.parse does that).
 *
 * Resumable: run() goes on from where the previous call stopped, a slice of bytes at a time (a
 * long string too), so a large body is scanned in several turns of the event loop
 * (parseJsonBodyInTurns). With `pieces` it also notes where the root object's members and the
 * elements of its array members begin and end (commas at depth 1 and 2), and where each string
 * value of at least `longString` bytes is: what lets a large body be parsed in pieces.
 */
class Scanner {
  private i = 0;
  private depth = 0;
  private members = 0;
  private readonly anyEscapeU: boolean;
  result: Scan | null = null;
  /** Position of each comma between the root object's members. */
  readonly rootCommas: number[] = [];
  /** Arrays that are the value of a root member: where they open and close, and their commas. */
  readonly arrays: Array<{ open: number; close: number; commas: number[] }> = [];
  /** Position of the brace that closes the root (-1: not yet). */
  rootClose = -1;
  /** The opening and closing quote of each long string value, in order: [open, close, open, close, ...]. */
  readonly longStrings: number[] = [];
  private array: { open: number; close: number; commas: number[] } | null = null;
  private rootIsObject = false;
  /** Inside a string (resumed by run()): where its content starts (-1: not in one), and where to go on from. */
  private strFrom = -1;
  private strSearch = -1;

  constructor(
    private readonly buf: Buffer,
    private readonly pieces = false,
    private readonly longString = Infinity,
  ) {
    this.anyEscapeU = buf.indexOf(BACKSLASH_U) !== -1;
  }

  /**
   * Goes on with the string whose content starts at strFrom: the index after its closing quote,
   * or STR_YIELD (past `stop`: call again), STR_LONE (a lone surrogate), STR_UNTERMINATED. Without
   * any `\u` in the body the closing quote is found with indexOf; with some, one pass over the
   * content reads every escape (an indexOf per escape costs more when every character is one).
   */
  private inString(stop: number): number {
    const buf = this.buf;
    const from = this.strFrom;
    let end = this.strSearch;
    if (!this.anyEscapeU) {
      end = buf.indexOf(0x22, end);
      while (end !== -1 && !realEscape(buf, end, from)) {
        if (end > stop) {
          this.strSearch = end + 1;
          return STR_YIELD;
        }
        end = buf.indexOf(0x22, end + 1);
      }
      if (end === -1) return STR_UNTERMINATED;
    } else {
      const len = buf.length;
      while (end < len) {
        const c = buf[end] as number;
        if (c === 0x22) break;
        if (end > stop) {
          this.strSearch = end;
          return STR_YIELD;
        }
        if (c !== 0x5c) end++;
        else if (buf[end + 1] !== 0x75) end += 2;
        else {
          const v = hex4(buf, end + 2);
          if (v >= 0xd800 && v <= 0xdbff) {
            const low = buf[end + 6] === 0x5c && buf[end + 7] === 0x75 ? hex4(buf, end + 8) : -1;
            if (low < 0xdc00 || low > 0xdfff) return STR_LONE;
            end += 12;
          } else if (v >= 0xdc00 && v <= 0xdfff) return STR_LONE;
          else end += v === -1 ? 2 : 6;
        }
      }
      if (end >= len) return STR_UNTERMINATED;
    }
    this.strFrom = -1;
    if (this.pieces && end - from >= this.longString && !colonFollows(buf, end + 1)) this.longStrings.push(from - 1, end);
    return end + 1;
  }

  /** Scans up to about `bytes` more bytes; returns the verdict once the end is reached, else null. */
  run(bytes: number): Scan | null {
    if (this.result !== null) return this.result;
    const buf = this.buf;
    const len = buf.length;
    const at = this.strFrom === -1 ? this.i : this.strSearch;
    const stop = Math.min(len, at + bytes);
    let i = this.i;
    let depth = this.depth;
    let members = this.members;
    const done = (reason: RawReason | null): Scan => {
      this.result = { reason, members };
      return this.result;
    };
    if (this.strFrom !== -1) {
      const r = this.inString(stop);
      if (r === STR_YIELD) return null;
      if (r < 0) return done(r === STR_LONE ? 'lone_surrogate' : null);
      i = r;
    }
    while (i < stop) {
      const c = buf[i] as number;
      if (c === 0x22) {
        this.strFrom = i + 1;
        this.strSearch = i + 1;
        const r = this.inString(stop);
        if (r === STR_YIELD) {
          this.depth = depth;
          this.members = members;
          return null;
        }
        if (r < 0) return done(r === STR_LONE ? 'lone_surrogate' : null);
        i = r;
      } else if (c === 0x7b || c === 0x5b) {
        if (++depth > MAX_JSON_DEPTH) return done('depth');
        if (this.pieces) {
          if (depth === 1) this.rootIsObject = c === 0x7b;
          else if (depth === 2 && c === 0x5b && this.rootIsObject) this.array = { open: i, close: -1, commas: [] };
        }
        i++;
      } else if (c === 0x7d || c === 0x5d) {
        if (this.pieces) {
          if (depth === 2 && this.array !== null) {
            this.array.close = i;
            this.arrays.push(this.array);
            this.array = null;
          } else if (depth === 1 && this.rootClose === -1) this.rootClose = i;
        }
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
        if ((exp || j - i > 15) && !numberRoundTrips(buf.toString('latin1', i, j))) return done('number');
        i = j;
      } else {
        if (c === 0x2c && this.pieces) {
          if (depth === 1 && this.rootIsObject) this.rootCommas.push(i);
          else if (depth === 2 && this.array !== null) this.array.commas.push(i);
        }
        i++;
      }
    }
    this.i = i;
    this.depth = depth;
    this.members = members;
    return i >= len ? done(null) : null;
  }
}

function scan(buf: Buffer): Scan {
  return new Scanner(buf).run(Infinity) as Scan;
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

/** Bytes scanned, or decoded and parsed, in one turn (about a millisecond of work on a small core). */
export const TURN_BYTES = 128 * 1024;
/**
 * Bodies larger than this are parsed by parseJsonBodyInTurns in several turns of the event loop;
 * smaller ones in one (a turn's worth: at 64 KiB the yields cost the exchange more than they spare
 * the others, docs/benchmarks.md).
 */
export const IN_TURNS_MIN_BYTES = TURN_BYTES;


function isWhitespace(buf: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = buf[k] as number;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}

/** The colon after the member name that starts at `from` (after whitespace), or -1. */
function colonAfterKey(buf: Buffer, from: number, to: number): number {
  let k = from;
  while (k < to && buf[k] !== 0x22) k++;
  if (k >= to || !isWhitespace(buf, from, k)) return -1;
  let end = buf.indexOf(0x22, k + 1);
  while (end !== -1 && !realEscape(buf, end, k + 1)) end = buf.indexOf(0x22, end + 1);
  if (end === -1 || end >= to) return -1;
  let c = end + 1;
  while (c < to && buf[c] !== 0x3a) c++;
  return c < to && isWhitespace(buf, end + 1, c) ? c : -1;
}

/** A run of bytes that JSON.parse takes whole, wrapped: a run of the root's members, or of an array member's elements. */
type Piece = { kind: 'members'; from: number; to: number } | { kind: 'elements'; key: string; from: number; to: number; first: boolean };

/**
 * The long string values the scanner found (`at`: [open quote, close quote, ...], in order), which
 * are decoded apart from the pieces they are in: what a piece costs is its bytes without them.
 */
class LongStrings {
  /** Bytes of the long strings before the k-th one. */
  private readonly before: number[] = [0];

  constructor(readonly at: number[]) {
    for (let k = 0; k < at.length; k += 2) this.before.push((this.before[this.before.length - 1] as number) + (at[k + 1] as number) - (at[k] as number) + 1);
  }

  get count(): number {
    return this.at.length / 2;
  }

  /** The index of the first long string that opens at or after `pos`. */
  firstFrom(pos: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.at[2 * mid] as number) < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The bytes from `from` to `to` (outside any string) without the long strings among them. */
  weight(from: number, to: number): number {
    return to - from - ((this.before[this.firstFrom(to)] as number) - (this.before[this.firstFrom(from)] as number));
  }
}

/**
 * The pieces of a root object, from the scanner's commas: runs of members up to `turn` bytes, and
 * the elements of a larger array member in runs up to `turn` bytes (long strings not counted).
 * Null when the text is not shaped as expected (then it is parsed whole, and JSON.parse judges it).
 */
function planPieces(buf: Buffer, sc: Scanner, turn: number, long: LongStrings): Piece[] | null {
  let open = 0;
  while (open < buf.length && buf[open] !== 0x7b) open++;
  if (open >= buf.length || !isWhitespace(buf, 0, open) || sc.rootClose === -1 || !isWhitespace(buf, sc.rootClose + 1, buf.length)) return null;
  const bounds = [open, ...sc.rootCommas, sc.rootClose];
  const arrays = new Map(sc.arrays.filter((a) => long.weight(a.open, a.close) > turn).map((a) => [a.open, a]));
  const pieces: Piece[] = [];
  let runFrom = -1;
  let runTo = -1;
  const endRun = () => {
    if (runFrom !== -1) pieces.push({ kind: 'members', from: runFrom, to: runTo });
    runFrom = -1;
  };
  if (buf[sc.rootClose] !== 0x7d) return null;
  for (let m = 0; m + 1 < bounds.length; m++) {
    const from = (bounds[m] as number) + 1;
    const to = bounds[m + 1] as number;
    // An empty member (`{"a":1,}`, `,,`) is not JSON: JSON.parse of the whole says so.
    if (isWhitespace(buf, from, to)) return null;
    const colon = colonAfterKey(buf, from, to);
    if (colon === -1) return null;
    let at = colon + 1;
    while (at < to && (buf[at] === 0x20 || buf[at] === 0x0a || buf[at] === 0x0d || buf[at] === 0x09)) at++;
    const arr = arrays.get(at);
    if (arr === undefined) {
      if (runFrom !== -1 && long.weight(runFrom, to) > turn) endRun();
      if (runFrom === -1) runFrom = from;
      runTo = to;
      continue;
    }
    endRun();
    let key: unknown;
    try {
      key = JSON.parse(buf.toString('utf8', from, colon));
    } catch {
      return null;
    }
    if (typeof key !== 'string' || buf[arr.close] !== 0x5d || !isWhitespace(buf, arr.close + 1, to)) return null;
    const eb = [arr.open, ...arr.commas, arr.close];
    let eFrom = -1;
    let first = true;
    for (let e = 0; e + 1 < eb.length; e++) {
      const f = (eb[e] as number) + 1;
      const t = eb[e + 1] as number;
      if (isWhitespace(buf, f, t)) return null;
      if (eFrom === -1) eFrom = f;
      if (long.weight(eFrom, t) > turn || e + 2 === eb.length) {
        pieces.push({ kind: 'elements', key, from: eFrom, to: t, first });
        first = false;
        eFrom = -1;
      }
    }
  }
  endRun();
  return pieces;
}

/**
 * Where the content of a long string (`from` to `to`, between its quotes) may be cut after about
 * `bytes`: at a character's first byte, never inside an escape, so that every piece is a valid
 * string's content exactly when the whole is, and the pieces' values put end to end are the
 * whole's value (a surrogate pair cut between its two escapes is put back together).
 */
function stringCut(buf: Buffer, from: number, to: number, bytes: number): number {
  let b = from + bytes;
  if (b >= to) return to;
  while (b > from + 1 && ((buf[b] as number) & 0xc0) === 0x80) b--;
  // Not inside \uXXXX...
  for (let s = b - 5; s <= b - 2; s++) {
    if (s >= from && buf[s] === 0x5c && buf[s + 1] === 0x75 && realEscape(buf, s, from)) {
      b = s;
      break;
    }
  }
  // ...nor between a backslash and the character it escapes.
  let n = 0;
  for (let k = b - 1; k >= from && buf[k] === 0x5c; k--) n++;
  if (n % 2 === 1) b--;
  return b > from ? b : to;
}

/**
 * True when the bytes hold no backslash and no control character: JSON reads such bytes in a
 * string as they are, so their UTF-8 text is the value (the body is valid UTF-8, and a quote
 * inside would need a backslash). A run that is not plain goes to JSON.parse, which decodes its
 * escapes and refuses its control characters.
 */
function plainBytes(buf: Buffer, from: number, to: number): boolean {
  const run = buf.subarray(from, to);
  // One memchr per byte value is ~5× faster than a loop over the bytes in JavaScript.
  if (run.indexOf(0x5c) !== -1) return false;
  for (let c = 0; c < 0x20; c++) if (run.indexOf(c) !== -1) return false;
  return true;
}

/**
 * The longest string content decoded in one turn when it is all ASCII and plain: a copy of its
 * bytes (~0.9 ms per MiB here, allocation included), against decoding it a run at a time and
 * joining the runs (~1.9 ms, and twice the memory).
 */
const WHOLE_ASCII_MAX = 1024 * 1024;

/**
 * The value of a long string (its content from `from` to `to`), a run of about `turn` bytes per
 * turn: a plain run is its UTF-8 text, any other is decoded by JSON.parse. An ASCII string of at
 * most WHOLE_ASCII_MAX bytes is not decoded run by run while its runs are plain: its plain prefix
 * is copied into one string, at the end or at the first run that is not plain. The parts are
 * joined once, flat: a rope of them would be copied flat by the first reader that needs it.
 */
async function longStringValue(buf: Buffer, from: number, to: number, turn: number): Promise<string> {
  const parts: string[] = [];
  // While set, the plain ASCII prefix from `from` is not decoded yet.
  let asciiPrefix = to - from <= WHOLE_ASCII_MAX && isAscii(buf.subarray(from, to));
  let at = from;
  do {
    await nextTurn();
    const cut = stringCut(buf, at, to, turn);
    if (plainBytes(buf, at, cut)) {
      if (!asciiPrefix) parts.push(buf.toString('utf8', at, cut));
    } else {
      if (asciiPrefix) {
        asciiPrefix = false;
        if (at > from) parts.push(buf.toString('latin1', from, at));
        await nextTurn();
      }
      parts.push(JSON.parse(`"${buf.toString('utf8', at, cut)}"`) as string);
    }
    at = cut;
  } while (at < to);
  if (asciiPrefix) {
    await nextTurn();
    return buf.toString('latin1', from, to);
  }
  return parts.length === 1 ? (parts[0] as string) : parts.join('');
}

/** What a long string is replaced with in a piece's text: a string no body holds (a secret of this process), then its index. */
const PLACEHOLDER_NONCE = randomBytes(12).toString('hex');
const PLACEHOLDER = `\\u0000${PLACEHOLDER_NONCE}:`;
const PLACEHOLDER_VALUE = `\u0000${PLACEHOLDER_NONCE}:`;

/** The text of a piece, its long strings replaced by placeholders. */
function pieceText(buf: Buffer, from: number, to: number, long: LongStrings): { text: string; holes: number } {
  let k = long.firstFrom(from);
  if (k >= long.count || (long.at[2 * k] as number) >= to) return { text: buf.toString('utf8', from, to), holes: 0 };
  let text = '';
  let at = from;
  let holes = 0;
  for (; k < long.count && (long.at[2 * k] as number) < to; k++) {
    text += `${buf.toString('utf8', at, long.at[2 * k] as number)}"${PLACEHOLDER}${k}"`;
    at = (long.at[2 * k + 1] as number) + 1;
    holes++;
  }
  return { text: text + buf.toString('utf8', at, to), holes };
}

/** Puts the decoded long strings where their placeholders are in a piece's value. */
function fillHoles(value: unknown, strings: string[]): void {
  const stack: unknown[] = [value];
  const fill = (v: unknown): unknown => (typeof v === 'string' && v.startsWith(PLACEHOLDER_VALUE) ? strings[Number(v.slice(PLACEHOLDER_VALUE.length))] : v);
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (typeof x === 'string') v[i] = fill(x);
        else if (x !== null && typeof x === 'object') stack.push(x);
      }
    } else {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        const x = o[k];
        // An own member (even one named __proto__, made by JSON.parse): assignment sets it.
        if (typeof x === 'string') o[k] = fill(x);
        else if (x !== null && typeof x === 'object') stack.push(x);
      }
    }
  }
}

/**
 * parseJsonBody for a large body without a long pause of every other exchange: the checks run a
 * slice at a time, and a root object is decoded and parsed a piece at a time, each in its own
 * turn of the event loop: long string values (a prompt's document) a slice of their content at a
 * time, then runs of the root's members and of the elements of an array member such as
 * `messages`, with placeholders where the long strings were, which are then put back. The result
 * is what JSON.parse builds from the whole (same members, same order, the last of duplicates,
 * the same strings). Anything not shaped as expected is parsed whole. Smaller bodies:
 * parseJsonBody, in this turn. `sizes` (tests): the smallest body parsed in turns, the bytes of
 * one turn, and the smallest string decoded apart (default: a quarter of a turn).
 */
export async function parseJsonBodyInTurns(buf: Buffer | null, contentType: string | undefined, sizes: { min: number; turn: number; longString?: number } = { min: IN_TURNS_MIN_BYTES, turn: TURN_BYTES }): Promise<unknown> {
  if (buf === null || buf.length < sizes.min) return parseJsonBody(buf, contentType);
  const ct = contentType?.toLowerCase() ?? '';
  if (!ct.includes('json') && !looksLikeJson(buf)) return undefined;
  if (!isUtf8(buf)) return undefined;
  const sc = new Scanner(buf, true, sizes.longString ?? sizes.turn / 4);
  let s: Scan | null;
  while ((s = sc.run(sizes.turn)) === null) await nextTurn();
  if (s.reason === 'depth') return undefined;
  const long = new LongStrings(sc.longStrings);
  // A body holding the placeholders' secret is parsed whole (it never is: the secret is not shown).
  const pieces = buf.indexOf(PLACEHOLDER_NONCE) === -1 ? planPieces(buf, sc, sizes.turn, long) : null;
  let parsed: unknown;
  try {
    if (pieces === null) parsed = JSON.parse(buf.toString('utf8'));
    else {
      const strings: string[] = [];
      for (let k = 0; k < long.count; k++) strings.push(await longStringValue(buf, (long.at[2 * k] as number) + 1, long.at[2 * k + 1] as number, sizes.turn));
      const root: Record<string, unknown> = {};
      for (const p of pieces) {
        await nextTurn();
        if (p.kind === 'members') {
          const { text, holes } = pieceText(buf, p.from, p.to, long);
          const part = JSON.parse(`{${text}}`) as Record<string, unknown>;
          if (holes > 0) fillHoles(part, strings);
          // CreateDataProperty, as JSON.parse does: a member named __proto__ is a member, not the prototype.
          for (const k of Object.keys(part)) Object.defineProperty(root, k, { value: part[k], writable: true, enumerable: true, configurable: true });
        } else {
          const { text, holes } = pieceText(buf, p.from, p.to, long);
          const part = JSON.parse(`[${text}]`) as unknown[];
          if (holes > 0) fillHoles(part, strings);
          const arr = p.first ? [] : (root[p.key] as unknown[]);
          for (const x of part) arr.push(x);
          if (p.first) Object.defineProperty(root, p.key, { value: arr, writable: true, enumerable: true, configurable: true });
        }
      }
      parsed = root;
    }
  } catch {
    return undefined;
  }
  await nextTurn();
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
