// One line per exchange, the feed `llmaudit tail` prints (and `make demo` shows):
//   #3 12:00:01.234 POST /v1/chat/completions gpt-4o → 200 streamed 12 chunks USER_PROMPT→TOOL_CALL calls get_weather tokens 15/8 trace 53169ebf hash 0a1b2c3d4e5f…
// With several chains each line starts with the chain's path. Colour (ANSI SGR) only when asked.
// A log record that is no exchange (an erasure record) gets its own line: what was erased, why, by whom.
import type { Entry } from '../auditlog/types.ts';

export interface FeedStyle {
  colour: boolean;
  /** Prefix each line with the chain path (several chains under a root). */
  chain?: string;
}

const sgr = (on: boolean, code: string, s: string): string => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

/** A log record that is not an exchange: an erasure record (docs/erasure.md). */
interface ErasureRecordLine {
  kind?: unknown;
  erasure?: { reason?: unknown; by?: unknown; entries?: unknown };
}

function recordLine(e: Entry, c: boolean): string {
  const r = (e as unknown as ErasureRecordLine).erasure;
  const ranges = Array.isArray(r?.entries) ? (r.entries as Array<[number, number]>) : [];
  const count = ranges.reduce((n, [a, b]) => n + (b - a + 1), 0);
  const seqs = ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',');
  const kind = String((e as unknown as ErasureRecordLine).kind);
  const what = kind === 'erasure' ? `erasure record: content of ${count} entr${count === 1 ? 'y' : 'ies'} erased (seq ${seqs}), reason ${JSON.stringify(r?.reason ?? '')}, by ${JSON.stringify(r?.by ?? '')}` : `${kind} record`;
  return [`#${e.seq}`, sgr(c, '2', e.ts.slice(11, 23)), sgr(c, '35', what), sgr(c, '2', `hash ${e.hash.slice(0, 12)}…`)].join(' ');
}

export function feedLine(e: Entry, style: FeedStyle): string {
  const c = style.colour;
  if ((e as unknown as ErasureRecordLine).kind !== undefined) {
    const line = recordLine(e, c);
    return style.chain === undefined ? line : `${sgr(c, '36', style.chain)} ${line}`;
  }
  const status = e.response?.status ?? 0;
  const statusText = status === 0 ? 'no answer' : String(status);
  const paintedStatus = sgr(c, status >= 500 || status === 0 ? '31' : status >= 400 ? '33' : '32', statusText);
  const t = e.trace;
  const toolCalls = t?.toolCalls ?? [];
  const toolResults = t?.toolResults ?? [];
  const cls = t === undefined ? '-' : t.requestType === undefined || t.requestType === null ? t.spanType : `${t.requestType}→${t.spanType}`;
  const parts = [
    `#${e.seq}`,
    sgr(c, '2', e.ts.slice(11, 23)),
    `${e.request?.method ?? '?'} ${e.request?.path ?? '?'}`,
    e.model ?? '-',
    `→ ${paintedStatus}${e.response?.streamed === true ? ` streamed ${e.response.chunks} chunks` : ''}`,
    sgr(c, '1', cls),
  ];
  if (toolCalls.length > 0) parts.push(`calls ${toolCalls.map((x) => x.name).join(', ')}`);
  if (toolResults.length > 0) parts.push(`carries ${toolResults.length} tool result${toolResults.length === 1 ? '' : 's'}`);
  if (e.response?.error !== undefined) parts.push(sgr(c, '31', `error ${e.response.error.code}`));
  parts.push(`tokens ${e.usage?.inputTokens ?? '?'}/${e.usage?.outputTokens ?? '?'}`);
  parts.push(sgr(c, '2', `trace ${(t?.traceId ?? '').slice(0, 8)} hash ${e.hash.slice(0, 12)}…`));
  const line = parts.join(' ');
  return style.chain === undefined ? line : `${sgr(c, '36', style.chain)} ${line}`;
}
