// Which entries an export, report or tail takes: a time range, an origin, a conversation, a seq
// range. Pure functions of an entry, so the same selection gives the same pack on every machine.
import { commonError } from '../errors.ts';
import type { Entry } from '../auditlog/types.ts';

export interface Selection {
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  origin?: string;
  conversation?: string;
  /** Inclusive seq range. */
  seq?: { from: number; to: number };
}

export interface SelectionInput {
  since?: string;
  until?: string;
  origin?: string;
  conversation?: string;
  seq?: string;
}

function time(flag: string, text: string): number {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw commonError('LLMAUDIT_E_USAGE', `${flag} ${text} is not a time (RFC 3339, e.g. 2026-03-01T12:00:00Z, or a date 2026-03-01)`);
  return ms;
}

/** Parses the command-line options (LLMAUDIT_E_USAGE on a malformed value). */
export function parseSelection(o: SelectionInput): Selection {
  const sel: Selection = {};
  if (o.since !== undefined) sel.since = time('--since', o.since);
  if (o.until !== undefined) sel.until = time('--until', o.until);
  if (sel.since !== undefined && sel.until !== undefined && sel.until <= sel.since) throw commonError('LLMAUDIT_E_USAGE', '--until must be after --since');
  if (o.origin !== undefined) sel.origin = o.origin;
  if (o.conversation !== undefined) sel.conversation = o.conversation;
  if (o.seq !== undefined) {
    const m = /^(0|[1-9]\d*)(?:-(0|[1-9]\d*))?$/.exec(o.seq);
    if (m === null) throw commonError('LLMAUDIT_E_USAGE', `--seq ${o.seq} is not N or A-B (non-negative integers)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw commonError('LLMAUDIT_E_USAGE', `--seq ${o.seq}: the range ends before it starts`);
    sel.seq = { from, to };
  }
  return sel;
}

/** True when the selection narrows entries within a chain (not only whole chains by origin). */
export function selectsWithinChain(sel: Selection): boolean {
  return sel.since !== undefined || sel.until !== undefined || sel.conversation !== undefined || sel.seq !== undefined;
}

export function matchesOrigin(sel: Selection, origin: string | null): boolean {
  return sel.origin === undefined || origin === sel.origin;
}

export function matchesEntry(sel: Selection, e: Entry): boolean {
  if (!matchesOrigin(sel, e.origin)) return false;
  if (sel.seq !== undefined && (e.seq < sel.seq.from || e.seq > sel.seq.to)) return false;
  if (sel.since !== undefined || sel.until !== undefined) {
    const t = Date.parse(e.ts);
    if (sel.since !== undefined && !(t >= sel.since)) return false;
    if (sel.until !== undefined && !(t < sel.until)) return false;
  }
  if (sel.conversation !== undefined && e.trace?.conversationId !== sel.conversation) return false;
  return true;
}

/** The selection as the manifest records it (times as RFC 3339). */
export function describeSelection(sel: Selection): Record<string, unknown> {
  return {
    ...(sel.since === undefined ? {} : { since: new Date(sel.since).toISOString() }),
    ...(sel.until === undefined ? {} : { until: new Date(sel.until).toISOString() }),
    ...(sel.origin === undefined ? {} : { origin: sel.origin }),
    ...(sel.conversation === undefined ? {} : { conversation: sel.conversation }),
    ...(sel.seq === undefined ? {} : { seq: [sel.seq.from, sel.seq.to] }),
  };
}

/** Contiguous seq ranges of a sorted list: [0,1,2,5] → [[0,2],[5,5]]. */
export function seqRanges(seqs: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const s of seqs) {
    const last = out[out.length - 1];
    if (last !== undefined && s === last[1] + 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}
