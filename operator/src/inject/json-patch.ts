/**
 * A JSON Patch (RFC 6902) that turns one JSON value into another, for the AdmissionReview
 * response (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response).
 *
 * Small and exact rather than minimal: objects are diffed key by key; an array that only grew at
 * its front and/or back gets `add` operations (so existing containers are never rewritten and a
 * concurrent webhook's change to them survives); any other array change of the same length is
 * diffed element by element; anything else is replaced whole. Pointers escape `~` and `/`
 * (RFC 6901 §3).
 */

export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** JSON has no undefined: a key whose value is undefined is absent. */
const present = (o: Obj, k: string): boolean => Object.hasOwn(o, k) && o[k] !== undefined;

export function diffJson(from: unknown, to: unknown, path = ''): JsonPatchOp[] {
  if (deepEqual(from, to)) return [];
  if (isObj(from) && isObj(to)) {
    const ops: JsonPatchOp[] = [];
    for (const k of Object.keys(from)) if (present(from, k) && !present(to, k)) ops.push({ op: 'remove', path: `${path}/${escapePointer(k)}` });
    for (const k of Object.keys(to)) {
      if (!present(to, k)) continue;
      const p = `${path}/${escapePointer(k)}`;
      if (!present(from, k)) ops.push({ op: 'add', path: p, value: structuredClone(to[k]) });
      else ops.push(...diffJson(from[k], to[k], p));
    }
    return ops;
  }
  if (Array.isArray(from) && Array.isArray(to)) {
    const grown = arrayGrowth(from, to);
    if (grown !== null) {
      const ops: JsonPatchOp[] = [];
      grown.front.forEach((v, i) => ops.push({ op: 'add', path: `${path}/${i}`, value: structuredClone(v) }));
      grown.back.forEach((v) => ops.push({ op: 'add', path: `${path}/-`, value: structuredClone(v) }));
      return ops;
    }
    if (from.length === to.length) return from.flatMap((v, i) => diffJson(v, to[i], `${path}/${i}`));
  }
  return [{ op: 'replace', path, value: structuredClone(to) }];
}

/** When `to` = front + from + back, returns front and back; else null. */
function arrayGrowth(from: unknown[], to: unknown[]): { front: unknown[]; back: unknown[] } | null {
  if (to.length <= from.length) return null;
  for (let start = 0; start + from.length <= to.length; start++) {
    if (from.every((v, i) => deepEqual(v, to[start + i]))) return { front: to.slice(0, start), back: to.slice(start + from.length) };
  }
  return null;
}
