// RFC 8785 JSON Canonicalization Scheme (JCS): the bytes every entry hash is computed over.
// Plain I-JSON (what every entry is) takes our own one-pass serializer (`fast` below, ADR 0009:
// about 2.5x faster than the library plus a separate validation pass, and canonical JSON is the
// largest CPU cost of an append). Anything else — toJSON (Date, Buffer), deep nesting, and every
// value that must be refused — takes the `canonicalize` package (by RFC 8785's authors; see
// docs/adr/0002-log-format-standards.md) behind a validation pass. The library follows
// JSON.stringify, so it silently drops
// `undefined` members, turns functions into nothing and throws untyped errors for NaN/Infinity and
// BigInt. A hash must never depend on such accidents: we first check that the value is I-JSON
// (RFC 8785 §3.1, RFC 7493) and raise LLMAUDIT_E_ENTRY_INVALID with the path of the first problem.
import canonicalizeModule from 'canonicalize';
import { cryptoError } from './crypto-errors.ts';

// canonicalize is CommonJS (`module.exports = serialize`) but its .d.ts declares an ES default
// export, which NodeNext types as `{ default }`; at run time the default import is the function.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

// A UTF-16 high surrogate not followed by a low one, or a low one not preceded by a high one.
// RFC 8785 §3.2.2.2 requires such strings to be rejected (I-JSON: strings are valid Unicode).
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// The path to the value being checked, kept as a stack and only joined into text for an error:
// building a path string per value would cost more than the check itself.
type Path = (string | number)[];

function fail(path: Path, what: string): never {
  const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  throw cryptoError('LLMAUDIT_E_ENTRY_INVALID', `$${where}: ${what}`);
}

function checkString(s: string, path: Path): void {
  if (ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s)) fail(path, 'string contains a lone UTF-16 surrogate');
}

// Nesting the validating path accepts: deeper values are refused (LLMAUDIT_E_ENTRY_INVALID)
// before the library's recursive serializer could run out of stack. Far above what the proxy
// stores (capture/stored-body.ts keeps JSON bodies to 256 levels, the entry adds 2).
export const MAX_DEPTH = 1000;

function check(value: unknown, path: Path, seen: Set<object>): void {
  if (path.length > MAX_DEPTH) fail(path.slice(0, 8), `nesting deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
      checkString(value, path);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `${String(value)} is not a JSON number`);
      return;
    case 'object':
      break;
    default:
      // undefined, bigint, function, symbol
      fail(path, `${typeof value} is not a JSON value`);
  }
  if (value === null) return;
  if (seen.has(value)) fail(path, 'circular reference');
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // Date, Buffer, ...: canonicalize serializes what toJSON returns, so that is what we check.
    check(toJSON.call(value), path, seen);
    return;
  }
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      check(value[i], path, seen);
      path.pop();
    }
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) fail(path, `${(value as object).constructor?.name ?? 'object'} is not a plain JSON object`);
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      path.push(key);
      checkString(key, path);
      check((value as Record<string, unknown>)[key], path, seen);
      path.pop();
    }
  }
  seen.delete(value);
}

// Nesting deeper than this leaves the fast path (so a cycle cannot recurse forever there); the
// validating path then reports the cycle, or serializes a legitimately deep value.
const FAST_MAX_DEPTH = 64;

// `"name":` of member names seen before (the member names of entries and bodies repeat), capped.
const memberTexts = new Map<string, string>();

/** `"name":` for a member name, or undefined for a name with a lone surrogate. */
function memberText(name: string): string | undefined {
  let t = memberTexts.get(name);
  if (t === undefined) {
    const s = JSON.stringify(name);
    if (s.length !== name.length + 2 && ANY_SURROGATE.test(name) && LONE_SURROGATE.test(name)) return undefined;
    t = `${s}:`;
    if (memberTexts.size < 4096) memberTexts.set(name, t);
  }
  return t;
}

// A character JSON.stringify escapes (quotation mark, reverse solidus, U+0000 to U+001F) or any
// surrogate, paired or not. A string without one is its own JSON text between quotes: searching
// for one is about twice as fast as JSON.stringify, long or short (docs/adr/0023).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ESCAPED_OR_SURROGATE = /["\\\u0000-\u001f\uD800-\uDFFF]/;

/** The RFC 8785 text of a string (JSON.stringify's, §3.2.2.2), or undefined if it holds a lone surrogate. */
export function canonicalStringText(value: string): string | undefined {
  if (!ESCAPED_OR_SURROGATE.test(value)) return `"${value}"`;
  const s = JSON.stringify(value);
  return s.length === value.length + 2 || !(ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value)) ? s : undefined;
}

/**
 * RFC 8785 serialization of plain I-JSON in one pass, or `undefined` if `value` holds anything
 * else (the caller then takes the validating path, which serializes or refuses it exactly as
 * before). Exact because each piece is what RFC 8785 prescribes:
 * - strings and member names: JSON.stringify of the string (§3.2.2.2 is ECMAScript's
 *   serialization; since ES2019 JSON.stringify escapes lone surrogates instead of emitting them,
 *   which is how we detect them: an output longer than the input plus its two quotes had
 *   something escaped, and only then is the string searched for a lone surrogate);
 * - numbers: JSON.stringify of a finite number is Number.prototype.toString, as §3.2.2.3 requires
 *   (and -0 becomes 0);
 * - members sorted by UTF-16 code units (§3.2.3): sortNames, the order of Array.prototype.sort's
 *   default comparison; the object is read in place, never copied;
 * - no whitespace (§3.2.1).
 */
function fast(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return canonicalStringText(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (depth > FAST_MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v = fast(value[i], depth + 1);
      if (v === undefined) return undefined;
      out += i === 0 ? v : `,${v}`;
    }
    return `${out}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
  const keys = Object.keys(value);
  sortNames(keys);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const name = memberText(k);
    const v = fast((value as Record<string, unknown>)[k], depth + 1);
    if (name === undefined || v === undefined) return undefined;
    out += i === 0 ? name + v : `,${name}${v}`;
  }
  return `${out}}`;
}

/**
 * The RFC 8785 text of plain I-JSON (plain objects, arrays, strings, finite numbers, booleans,
 * null; at most 64 levels), serialized in one pass without copying anything; undefined for
 * anything else, which canonicalJson then serializes or refuses. The writer's path for the
 * members of an entry: for the small objects an entry is made of it is about twice as fast as
 * canonicalJson's sorted copy and JSON.stringify (docs/adr/0023-writer-cpu-per-entry.md).
 */
export function canonicalJsonOfPlain(value: unknown): string | undefined {
  return fast(value, 0);
}

const BAIL = Symbol('bail');

/**
 * Sorts member names in place by UTF-16 code units (RFC 8785 §3.2.3), as Array.prototype.sort's
 * default comparison does: an insertion sort for the few members an object has (no allocation;
 * Array.prototype.sort allocates its work arrays on every call), the built-in sort past 16.
 */
export function sortNames(keys: string[]): void {
  const n = keys.length;
  if (n > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = k;
  }
}

/**
 * `value` itself if it is plain I-JSON whose objects' members are already in RFC 8785 order, else
 * a copy whose objects have their members inserted in that order (so JSON.stringify emits them so),
 * or BAIL for anything else: non-plain objects, toJSON, non-finite numbers, undefined, BigInt,
 * functions, symbols, deep nesting, a member named "__proto__", and member names starting with a
 * digit (V8 enumerates array-index names first in numeric order whatever the insertion order,
 * ECMA-262 OrdinaryOwnPropertyKeys, so insertion cannot put "10" before "9"). Strings are checked
 * later, on the output.
 */
function sortedForm(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : BAIL;
    case 'object':
      break;
    default:
      return BAIL;
  }
  if (value === null) return value;
  if (depth > FAST_MAX_DEPTH) return BAIL;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const f = sortedForm(v, depth + 1);
      if (f === BAIL) return BAIL;
      if (f !== v && copy === null) copy = value.slice(0, i);
      if (copy !== null) copy.push(f);
    }
    return copy ?? value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') return BAIL;
  const keys = Object.keys(value);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const c = k.charCodeAt(0);
    // "__proto__": assigning it on a copy would set the prototype, not a member.
    if ((c >= 0x30 && c <= 0x39) || k === '__proto__') return BAIL;
    if (i > 0 && (keys[i - 1] as string) > k) sorted = false;
  }
  if (!sorted) sortNames(keys);
  let copy: Record<string, unknown> | null = sorted ? null : {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = (value as Record<string, unknown>)[k];
    const f = sortedForm(v, depth + 1);
    if (f === BAIL) return BAIL;
    if (f !== v && copy === null) {
      copy = {};
      for (let j = 0; j < i; j++) copy[keys[j] as string] = (value as Record<string, unknown>)[keys[j] as string];
    }
    if (copy !== null) copy[k] = f;
  }
  return copy ?? value;
}

// JSON.stringify escapes a lone surrogate as \udXXX (ES2019 well-formed JSON.stringify) and never
// escapes a well-formed one, so an output without this pattern holds no lone surrogate (a match
// may also be an escaped backslash followed by the text "ud800": the validating path decides).
const ESCAPED_SURROGATE = /\\ud[89a-f]/;

/**
 * The RFC 8785 canonical JSON text of `value`. Throws LLMAUDIT_E_ENTRY_INVALID for anything that
 * is not I-JSON: NaN, ±Infinity, undefined (also as a member or array element), BigInt,
 * functions, symbols, lone surrogates, cycles, non-plain objects without toJSON (Map, Set, ...)
 * and nesting deeper than MAX_DEPTH (never a stack overflow).
 */
export function canonicalJson(value: unknown): string {
  const form = sortedForm(value, 0);
  if (form !== BAIL) {
    // Members in UTF-16 order, so JSON.stringify's output is the JCS text (ADR 0009).
    const text = JSON.stringify(form);
    if (!ESCAPED_SURROGATE.test(text)) return text;
  }
  const quick = fast(value, 0);
  if (quick !== undefined) return quick;
  check(value, [], new Set());
  const text = canonicalize(value);
  if (text === undefined) throw cryptoError('LLMAUDIT_E_ENTRY_INVALID', '$: not a JSON value');
  return text;
}
