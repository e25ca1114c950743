// The numbers of `llmaudit report` (docs/auditing.md "Report"), computed once from the entries:
// verification per chain, totals, breakdowns by model / workload / endpoint / span type / policy
// decision, a timeline, the errors and the slowest exchanges, and one compact row per exchange for
// the explorer (strings interned in `dict` so 100k rows stay small). Bodies are embedded for the
// drill-down up to a per-body and a total budget; past them the row keeps its metadata only.
import type { Entry } from '../auditlog/types.ts';

export interface ChainVerification {
  path: string;
  origin: string | null;
  entries: number;
  kind: 'log' | 'full' | 'partial';
  /** `intact`, `failed`, or `not verified` (no key given). */
  status: 'intact' | 'failed' | 'not verified';
  exit: number | null;
  code: string | null;
  message: string | null;
  checkpoint: { size: number; rootHash: string; writtenAt: string | null } | null;
  witnessed: Array<{ name: string; timestamp: number }>;
}

export interface Breakdown {
  key: string;
  count: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  totalMs: number;
}

/** [chain, seq, tsMs, model, endpoint, api, spanType, status, durationMs, inTok, outTok, traceId, hash, conversation, error, request line, tool calls, decision] — strings as dict indices. */
export type Row = [number, number, number, number, number, number, number, number, number, number | null, number | null, number, number, number, number, number, number, number];

export interface ReportModel {
  title: string;
  generatedAt: string;
  toolVersion: string;
  source: string;
  chains: ChainVerification[];
  /** `records`: log records that are not exchanges (erasure records, docs/erasure.md). */
  totals: { exchanges: number; records: number; errors: number; inputTokens: number; outputTokens: number; costUsd: number | null; streamed: number; toolCalls: number; conversations: number; firstTs: string | null; lastTs: string | null };
  byModel: Breakdown[];
  byWorkload: Breakdown[];
  byEndpoint: Breakdown[];
  bySpanType: Breakdown[];
  byDecision: Breakdown[];
  timeline: { start: number; bucketMs: number; counts: number[]; errors: number[] };
  dict: string[];
  rows: Row[];
  /** Per row: the entry as JSON with long bodies cut, or null past the budget. */
  details: Array<string | null>;
  detailBudget: { perBodyBytes: number; totalBytes: number; omitted: number };
}

export interface ReportLimits {
  perBodyBytes: number;
  totalBytes: number;
}

export const DEFAULT_LIMITS: ReportLimits = { perBodyBytes: 8 * 1024, totalBytes: 64 * 1024 * 1024 };

const BUCKETS = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000];

export function isError(e: Entry): boolean {
  return (e.response?.status ?? 0) >= 400 || e.response?.status === 0 || e.response?.error !== undefined;
}

/** `<namespace>/<pod>` of an origin `llmaudit.dev/<namespace>/<pod>/<uid>`; the origin otherwise. */
export function workloadOf(origin: string): string {
  const parts = origin.split('/');
  return parts.length >= 4 ? `${parts[1]}/${parts[2]}` : origin;
}

function cutBody(v: unknown, max: number): unknown {
  if (v === null || v === undefined) return v;
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  if (Buffer.byteLength(text) <= max) return v;
  return `${text.slice(0, max)}… [${Buffer.byteLength(text)} bytes; cut for the report: the full body is in the log]`;
}

export class ReportBuilder {
  readonly #dict = new Map<string, number>();
  readonly #rows: Row[] = [];
  readonly #details: Array<string | null> = [];
  readonly #limits: ReportLimits;
  #detailBytes = 0;
  #omitted = 0;
  #streamed = 0;
  #records = 0;
  readonly #conversations = new Set<string>();

  constructor(limits: ReportLimits = DEFAULT_LIMITS) {
    this.#limits = limits;
  }

  #s(v: string | null | undefined): number {
    const k = v ?? '';
    let i = this.#dict.get(k);
    if (i === undefined) {
      i = this.#dict.size;
      this.#dict.set(k, i);
    }
    return i;
  }

  add(chain: number, e: Entry): void {
    if ((e as { kind?: unknown }).kind !== undefined) {
      this.#records++;
      return;
    }
    const err = e.response?.error?.code ?? (isError(e) ? `HTTP ${e.response?.status ?? 0}` : '');
    const calls = (e.trace?.toolCalls ?? []).map((c) => c.name).join(', ');
    if (e.trace?.conversationId != null) this.#conversations.add(e.trace.conversationId);
    if (e.response?.streamed === true) this.#streamed++;
    this.#rows.push([
      chain,
      e.seq,
      Date.parse(e.ts),
      this.#s(e.model ?? '(none)'),
      this.#s(e.endpoint),
      this.#s(e.api),
      this.#s(e.trace?.spanType ?? '-'),
      e.response?.status ?? 0,
      e.response?.durationMs ?? 0,
      e.usage?.inputTokens ?? null,
      e.usage?.outputTokens ?? null,
      this.#s(e.trace?.traceId ?? ''),
      this.#s(e.hash),
      this.#s(e.trace?.conversationId ?? ''),
      this.#s(err),
      this.#s(`${e.request?.method ?? '?'} ${e.request?.path ?? '?'}`),
      this.#s(calls),
      this.#s(e.policy?.decision ?? '-'),
    ]);
    if (this.#detailBytes >= this.#limits.totalBytes) {
      this.#details.push(null);
      this.#omitted++;
      return;
    }
    const cut = { ...e, request: { ...e.request, body: cutBody(e.request?.body, this.#limits.perBodyBytes) }, response: { ...e.response, body: cutBody(e.response?.body, this.#limits.perBodyBytes) } };
    const text = JSON.stringify(cut);
    this.#detailBytes += text.length;
    this.#details.push(text);
  }

  /** Cost per entry, when the log records one (usage.costUsd). */
  build(meta: { title: string; generatedAt: string; toolVersion: string; source: string; chains: ChainVerification[]; costs: Array<number | null> }): ReportModel {
    const dict = [...this.#dict.keys()];
    const rows = this.#rows;
    const chainOrigin = meta.chains.map((c) => c.origin ?? c.path);
    const groups = {
      byModel: new Map<string, Breakdown>(),
      byWorkload: new Map<string, Breakdown>(),
      byEndpoint: new Map<string, Breakdown>(),
      bySpanType: new Map<string, Breakdown>(),
      byDecision: new Map<string, Breakdown>(),
    };
    let errors = 0;
    let inTok = 0;
    let outTok = 0;
    let cost = 0;
    let anyCost = false;
    let toolCalls = 0;
    let first = Infinity;
    let last = -Infinity;
    const bump = (m: Map<string, Breakdown>, key: string, r: Row, isErr: boolean, c: number): void => {
      let b = m.get(key);
      if (b === undefined) m.set(key, (b = { key, count: 0, errors: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, totalMs: 0 }));
      b.count++;
      if (isErr) b.errors++;
      b.inputTokens += r[9] ?? 0;
      b.outputTokens += r[10] ?? 0;
      b.costUsd += c;
      b.totalMs += r[8];
    };
    rows.forEach((r, i) => {
      const isErr = dict[r[14]] !== '';
      const c = meta.costs[i] ?? 0;
      if (meta.costs[i] != null) anyCost = true;
      if (isErr) errors++;
      inTok += r[9] ?? 0;
      outTok += r[10] ?? 0;
      cost += c;
      if (dict[r[16]] !== '') toolCalls += (dict[r[16]] as string).split(', ').length;
      if (Number.isFinite(r[2])) {
        first = Math.min(first, r[2]);
        last = Math.max(last, r[2]);
      }
      bump(groups.byModel, dict[r[3]] as string, r, isErr, c);
      bump(groups.byWorkload, workloadOf(chainOrigin[r[0]] ?? ''), r, isErr, c);
      bump(groups.byEndpoint, dict[r[4]] as string, r, isErr, c);
      bump(groups.bySpanType, dict[r[6]] as string, r, isErr, c);
      bump(groups.byDecision, dict[r[17]] as string, r, isErr, c);
    });
    const span = Number.isFinite(first) ? last - first : 0;
    const bucketMs = BUCKETS.find((b) => span / b <= 60) ?? 30 * 86_400_000;
    const start = Number.isFinite(first) ? Math.floor(first / bucketMs) * bucketMs : 0;
    const n = Number.isFinite(first) ? Math.floor((last - start) / bucketMs) + 1 : 0;
    const counts = new Array<number>(n).fill(0);
    const errs = new Array<number>(n).fill(0);
    for (const r of rows) {
      if (!Number.isFinite(r[2])) continue;
      const b = Math.floor((r[2] - start) / bucketMs);
      counts[b] = (counts[b] ?? 0) + 1;
      if (dict[r[14]] !== '') errs[b] = (errs[b] ?? 0) + 1;
    }
    const sorted = (m: Map<string, Breakdown>): Breakdown[] => [...m.values()].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
    return {
      title: meta.title,
      generatedAt: meta.generatedAt,
      toolVersion: meta.toolVersion,
      source: meta.source,
      chains: meta.chains,
      totals: {
        exchanges: rows.length,
        records: this.#records,
        errors,
        inputTokens: inTok,
        outputTokens: outTok,
        costUsd: anyCost ? cost : null,
        streamed: this.#streamed,
        toolCalls,
        conversations: this.#conversations.size,
        firstTs: Number.isFinite(first) ? new Date(first).toISOString() : null,
        lastTs: Number.isFinite(last) ? new Date(last).toISOString() : null,
      },
      byModel: sorted(groups.byModel),
      byWorkload: sorted(groups.byWorkload),
      byEndpoint: sorted(groups.byEndpoint),
      bySpanType: sorted(groups.bySpanType),
      byDecision: sorted(groups.byDecision),
      timeline: { start, bucketMs, counts, errors: errs },
      dict,
      rows,
      details: this.#details,
      detailBudget: { perBodyBytes: this.#limits.perBodyBytes, totalBytes: this.#limits.totalBytes, omitted: this.#omitted },
    };
  }
}
