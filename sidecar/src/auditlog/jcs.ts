// RFC 8785 JSON Canonicalization Scheme (JCS): the bytes every entry hash is computed over.
// The serialization itself is the `canonicalize` package (by RFC 8785's authors; see
// docs/adr/0002-log-format-standards.md). It follows JSON.stringify, so it silently drops
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

function check(value: unknown, path: Path, seen: Set<object>): void {
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

/**
 * The RFC 8785 canonical JSON text of `value`. Throws LLMAUDIT_E_ENTRY_INVALID for anything that
 * is not I-JSON: NaN, ±Infinity, undefined (also as a member or array element), BigInt,
 * functions, symbols, lone surrogates, cycles and non-plain objects without toJSON (Map, Set, ...).
 */
export function canonicalJson(value: unknown): string {
  check(value, [], new Set());
  const text = canonicalize(value);
  if (text === undefined) throw cryptoError('LLMAUDIT_E_ENTRY_INVALID', '$: not a JSON value');
  return text;
}
