/**
 * The degraded form of an entry the log refused to build (LLMAUDIT_E_LOG_PAYLOAD_INVALID: a value
 * RFC 8785 cannot carry, such as a lone UTF-16 surrogate in an adapter's reconstruction of a
 * stream, a non-finite number, nesting past the canonicalizer's bound). Every value that cannot be
 * written is replaced — a string by its well-formed form (U+FFFD for each lone surrogate), anything
 * else by null — and listed by JSON pointer in `degraded.pointers`; digests and sizes stay, so the
 * bytes that were sent can still be proven (docs/audit-log-format.md "Degraded entries").
 * Iterative: no payload, however deep, can overflow the stack here.
 */
import type { EntryPayload } from './types.ts';

/** Nesting kept in a degraded entry; deeper values become null (the canonicalizer allows 1000). */
const MAX_DEPTH = 300;
/** Pointers listed in `degraded.pointers`; `degraded.more` counts the rest. */
const MAX_POINTERS = 32;
const MAX_REASON = 500;

export interface Degraded {
  code: 'LLMAUDIT_E_ENTRY_DEGRADED';
  /** Why the entry could not be written as built (the log's message, made well-formed). */
  reason: string;
  pointers: string[];
  more?: number;
}

// String.prototype.isWellFormed / toWellFormed (ES2024, in Node 20): not yet in the ES2023 lib typings.
type Es2024String = string & { isWellFormed(): boolean; toWellFormed(): string };
const isWellFormed = (s: string): boolean => (s as Es2024String).isWellFormed();
const toWellFormed = (s: string): string => (s as Es2024String).toWellFormed();

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

interface Task {
  v: unknown;
  ptr: string;
  depth: number;
  set: (x: unknown) => void;
}

function setMember(obj: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty: a member named "__proto__" stays a member instead of setting the prototype.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A copy of `root` holding only values the log can write; `noted` receives the pointers changed. */
function sanitize(root: unknown, noted: { pointers: string[]; more: number }): unknown {
  const note = (ptr: string): void => {
    if (noted.pointers.length < MAX_POINTERS) noted.pointers.push(ptr);
    else noted.more++;
  };
  let result: unknown = null;
  const stack: Task[] = [{ v: root, ptr: '', depth: 0, set: (x) => (result = x) }];
  while (stack.length > 0) {
    const t = stack.pop() as Task;
    const v = t.v;
    switch (typeof v) {
      case 'string':
        if (isWellFormed(v)) t.set(v);
        else {
          note(t.ptr);
          t.set(toWellFormed(v));
        }
        continue;
      case 'number':
        if (Number.isFinite(v)) t.set(v);
        else {
          note(t.ptr);
          t.set(null);
        }
        continue;
      case 'boolean':
        t.set(v);
        continue;
      case 'object':
        break;
      default:
        note(t.ptr);
        t.set(null);
        continue;
    }
    if (v === null) {
      t.set(null);
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (t.depth >= MAX_DEPTH || (!Array.isArray(v) && proto !== Object.prototype && proto !== null)) {
      note(t.ptr);
      t.set(null);
      continue;
    }
    if (Array.isArray(v)) {
      const arr: unknown[] = new Array<unknown>(v.length).fill(null);
      t.set(arr);
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], ptr: `${t.ptr}/${i}`, depth: t.depth + 1, set: (x) => (arr[i] = x) });
      continue;
    }
    const obj: Record<string, unknown> = {};
    t.set(obj);
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i] as string;
      let name = k;
      if (!isWellFormed(k)) {
        name = toWellFormed(k);
        note(`${t.ptr}/${escapePointer(name)}`);
      }
      stack.push({ v: (v as Record<string, unknown>)[k], ptr: `${t.ptr}/${escapePointer(name)}`, depth: t.depth + 1, set: (x) => setMember(obj, name, x) });
    }
  }
  return result;
}

/**
 * `reason`: the refusal's message. `dropBodies`: the last resort, when even the sanitized entry
 * was refused: both bodies become null (their digests stay).
 */
export function degradePayload(payload: EntryPayload, reason: string, dropBodies = false): EntryPayload {
  const noted = { pointers: [] as string[], more: 0 };
  const out = sanitize(payload, noted) as EntryPayload;
  if (dropBodies) {
    for (const side of ['request', 'response'] as const) {
      if (out[side].body !== null) noted.pointers.push(`/${side}/body`);
      out[side].body = null;
    }
  }
  const r = toWellFormed(reason);
  const degraded: Degraded = { code: 'LLMAUDIT_E_ENTRY_DEGRADED', reason: r.length > MAX_REASON ? `${r.slice(0, MAX_REASON)}...` : r, pointers: noted.pointers };
  if (noted.more > 0) degraded.more = noted.more;
  out['degraded'] = degraded;
  return out;
}
