// `--filter model=gpt-4o,class=TOOL_CALL,status>=400`: conditions on an entry, all of which must
// hold. Fields: model, class (the span type or the request type: TOOL_CALL, USER_PROMPT, ...),
// status, endpoint, api, method, path, origin, conversation, trace, streamed, error; operators
// = and != on every field, >, >=, <, <= on numbers (status). A value may end in `*` (prefix match).
import { commonError } from '../errors.ts';
import type { Entry } from '../auditlog/types.ts';

type Op = '=' | '!=' | '>' | '>=' | '<' | '<=';

export interface Condition {
  field: string;
  op: Op;
  value: string;
}

const FIELDS: Readonly<Record<string, (e: Entry) => Array<string | number | null | undefined>>> = {
  model: (e) => [e.model],
  class: (e) => [e.trace?.spanType, e.trace?.requestType],
  status: (e) => [e.response?.status],
  endpoint: (e) => [e.endpoint],
  api: (e) => [e.api],
  method: (e) => [e.request?.method],
  path: (e) => [e.request?.path],
  origin: (e) => [e.origin],
  conversation: (e) => [e.trace?.conversationId],
  trace: (e) => [e.trace?.traceId],
  streamed: (e) => [String(e.response?.streamed === true)],
  error: (e) => [e.response?.error?.code ?? null],
};
const NUMERIC = new Set(['status']);

export function parseFilter(text: string | undefined): Condition[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((part) => {
    const m = /^\s*([a-z]+)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$/.exec(part);
    if (m === null) throw commonError('LLMAUDIT_E_USAGE', `--filter: "${part}" is not FIELD=VALUE (operators =, !=, >, >=, <, <=)`);
    const [, field, op, value] = m as unknown as [string, string, Op, string];
    if (!(field in FIELDS)) throw commonError('LLMAUDIT_E_USAGE', `--filter: unknown field "${field}" (known: ${Object.keys(FIELDS).join(', ')})`);
    if (op !== '=' && op !== '!=' && (!NUMERIC.has(field) || !/^\d+$/.test(value))) throw commonError('LLMAUDIT_E_USAGE', `--filter: ${op} needs a numeric field and number (${part})`);
    return { field, op, value };
  });
}

function eq(actual: string | number | null | undefined, want: string): boolean {
  const a = actual === null || actual === undefined ? '' : String(actual);
  if (want.endsWith('*')) return a.startsWith(want.slice(0, -1));
  return a === want;
}

function holds(c: Condition, e: Entry): boolean {
  const values = (FIELDS[c.field] as (e: Entry) => Array<string | number | null | undefined>)(e);
  switch (c.op) {
    case '=':
      return values.some((v) => eq(v, c.value));
    case '!=':
      return !values.some((v) => eq(v, c.value));
    default: {
      const n = Number(values[0]);
      const w = Number(c.value);
      if (!Number.isFinite(n)) return false;
      return c.op === '>' ? n > w : c.op === '>=' ? n >= w : c.op === '<' ? n < w : n <= w;
    }
  }
}

export function matchesFilter(conditions: readonly Condition[], e: Entry): boolean {
  return conditions.every((c) => holds(c, e));
}
