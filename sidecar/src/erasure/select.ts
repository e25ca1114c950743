// Which entries an erasure request selects (docs/erasure.md "Selecting entries"): by seq, by the
// exchange's id, by conversation, or by a filter of `.path == JSON` comparisons joined by `and`
// (the subset of jq's syntax that selects entries by value; `!=` negates one comparison).
import { erasureError } from './errors.ts';

export interface EraseSelector {
  seqs?: readonly number[];
  id?: string;
  conversation?: string;
  match?: string;
}

type Step = string | number;
interface Comparison {
  path: Step[];
  op: '==' | '!=';
  value: unknown;
}

const COMPARISON = /^\s*(\.[^\s=!]*)\s*(==|!=)\s*(.+?)\s*$/;

function parsePath(text: string): Step[] {
  const steps: Step[] = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/gy;
  let i = 1;
  if (text === '.') return steps;
  re.lastIndex = 0;
  for (i = 0; i < text.length; ) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) throw erasureError('LLMAUDIT_E_ERASE_INVALID', `--match: cannot read the path ${JSON.stringify(text)} at ${JSON.stringify(text.slice(i))} (use .a.b, .a[0], .a["b-c"])`);
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push(JSON.parse(`"${m[3] ?? ''}"`) as string);
    i = re.lastIndex;
  }
  return steps;
}

/** Parses `.a.b == "x" and .c != 3`; every value is JSON. */
export function parseMatch(filter: string): Comparison[] {
  const out: Comparison[] = [];
  for (const clause of filter.split(/\s+and\s+/)) {
    const m = COMPARISON.exec(clause);
    if (m === null) throw erasureError('LLMAUDIT_E_ERASE_INVALID', `--match: ${JSON.stringify(clause)} is not ".path == JSON" or ".path != JSON"`);
    let value: unknown;
    try {
      value = JSON.parse(m[3] as string);
    } catch {
      throw erasureError('LLMAUDIT_E_ERASE_INVALID', `--match: the value ${m[3] as string} is not JSON (strings need double quotes)`);
    }
    out.push({ path: parsePath(m[1] as string), op: m[2] as '==' | '!=', value });
  }
  return out;
}

function at(v: unknown, path: Step[]): unknown {
  let cur = v;
  for (const s of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A predicate over parsed entries; refuses a selector naming nothing or more than one kind. */
export function compileSelector(sel: EraseSelector): (entry: Record<string, unknown>) => boolean {
  const given = [sel.seqs !== undefined, sel.id !== undefined, sel.conversation !== undefined, sel.match !== undefined].filter(Boolean).length;
  if (given !== 1) throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'select the entries with exactly one of --seq, --id, --conversation, --match');
  if (sel.seqs !== undefined) {
    if (sel.seqs.length === 0 || sel.seqs.some((s) => !Number.isSafeInteger(s) || s < 0)) throw erasureError('LLMAUDIT_E_ERASE_INVALID', '--seq takes non-negative integers, comma-separated');
    const set = new Set(sel.seqs);
    return (e) => set.has(e.seq as number);
  }
  if (sel.id !== undefined) {
    const id = sel.id;
    return (e) => e.id === id;
  }
  if (sel.conversation !== undefined) {
    const c = sel.conversation;
    return (e) => (e.trace as { conversationId?: unknown } | undefined)?.conversationId === c;
  }
  const cmp = parseMatch(sel.match as string);
  return (e) => cmp.every((c) => sameJson(at(e, c.path), c.value) === (c.op === '=='));
}
