// Retention (docs/erasure.md "Retention"): sealed segments past `maxAgeDays` (their newest entry is
// older), and the oldest sealed segments while the chain directory holds more than
// `maxTotalBytes`, are past retention. In `mode: erase-content` (the default) their content is
// erased with reason `retention` (erasure/erase.ts): entries, digests, chain and Merkle tree stay,
// so every checkpoint and inclusion proof stays valid. In `mode: delete-segments` the leading run
// of them is deleted whole after a signed prune record (retention/prune.ts); the hash tiles and
// checkpoints stay, so proofs of kept entries stay valid. The open segment is never touched. A
// sweep runs at start and every hour, rewriting at most `bytesPerSecond` (default 8 MB/s) so it
// never starves the proxy's disk.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { listSegments, type SegmentFile } from '../auditlog/layout.ts';
import { readLines } from '../auditlog/line-reader.ts';
import { eraseEntries, type EraseResult } from '../erasure/erase.ts';
import { pruneSegments, type PruneResult } from './prune.ts';
import type { AuditLog } from '../auditlog/log-writer.ts';

export type RetentionMode = 'erase-content' | 'delete-segments';

export interface RetentionPolicy {
  maxAgeDays?: number;
  maxTotalBytes?: number;
  /** Default 'erase-content'. */
  mode?: RetentionMode;
}

export const RETENTION_REASON = 'retention';
export const RETENTION_BY = 'llmaudit retention';
const DAY_MS = 86_400_000;

export interface RetentionMetrics {
  erasedEntries: Counter;
  bytesFreed: Counter;
  segmentsDeleted: Counter;
  prunedEntries: Counter;
}

export function createRetentionMetrics(registry: Registry): RetentionMetrics {
  return {
    erasedEntries: new Counter({ name: 'llmaudit_retention_erased_entries_total', help: 'Entries whose content the retention sweep erased.', registers: [registry] }),
    bytesFreed: new Counter({ name: 'llmaudit_retention_bytes_freed_total', help: 'Segment and media bytes the retention sweep freed.', registers: [registry] }),
    segmentsDeleted: new Counter({ name: 'llmaudit_retention_segments_deleted_total', help: 'Sealed segments the retention sweep deleted (mode delete-segments).', registers: [registry] }),
    prunedEntries: new Counter({ name: 'llmaudit_retention_pruned_entries_total', help: 'Entries in the segments the retention sweep deleted (mode delete-segments).', registers: [registry] }),
  };
}

/** ms timestamp of the newest entry of a segment (its last line), or null when it has none. */
async function newestEntryAt(seg: SegmentFile): Promise<number | null> {
  let last: string | null = null;
  for await (const l of readLines(seg.path)) if (l.terminated) last = l.text;
  if (last === null) return null;
  const ts = (JSON.parse(last) as { ts?: unknown }).ts;
  return typeof ts === 'string' ? Date.parse(ts) : null;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) total += await dirBytes(p);
    else if (d.isFile()) total += (await stat(p)).size;
  }
  return total;
}

/** Sealed segments (all but the one the writer appends to) the policy puts past retention. */
export async function segmentsPastRetention(log: AuditLog, policy: RetentionPolicy, now: number): Promise<Set<number>> {
  const open = log.stats().segment;
  const sealed = (await listSegments(log.dir)).filter((s) => s.number < open);
  const out = new Set<number>();
  if (policy.maxAgeDays !== undefined) {
    const cutoff = now - policy.maxAgeDays * DAY_MS;
    for (const s of sealed) {
      const at = await newestEntryAt(s);
      if (at !== null && at < cutoff) out.add(s.number);
    }
  }
  if (policy.maxTotalBytes !== undefined) {
    let excess = (await dirBytes(log.dir)) - policy.maxTotalBytes;
    for (const s of sealed) {
      if (excess <= 0) break;
      out.add(s.number);
      excess -= (await stat(s.path)).size;
    }
  }
  return out;
}

/** One sweep: erases the content of the entries of every segment past retention. */
export async function sweepRetention(log: AuditLog, policy: RetentionPolicy, opts: { now?: () => number; bytesPerSecond?: number; onStep?: Parameters<typeof eraseEntries>[1]['onStep'] } = {}): Promise<EraseResult & { segments: number }> {
  const now = opts.now ?? Date.now;
  const past = await segmentsPastRetention(log, policy, now());
  if (past.size === 0) return { recordSeq: null, entries: 0, parts: 0, mediaDeleted: 0, bytesFreed: 0, segments: 0 };
  const r = await eraseEntries(log, {
    select: () => true,
    segmentFilter: (s) => past.has(s.number),
    reason: RETENTION_REASON,
    v1: 'skip',
    by: RETENTION_BY,
    now,
    bytesPerSecond: opts.bytesPerSecond ?? 8_000_000,
    ...(opts.onStep === undefined ? {} : { onStep: opts.onStep }),
  });
  return { ...r, segments: past.size };
}

/** One sweep in mode delete-segments: deletes the leading run of sealed segments past retention, after a prune record. */
export async function pruneRetention(log: AuditLog, policy: RetentionPolicy, opts: { now?: () => number; onStep?: Parameters<typeof pruneSegments>[1]['onStep'] } = {}): Promise<PruneResult> {
  const now = opts.now ?? Date.now;
  const past = await segmentsPastRetention(log, policy, now());
  return pruneSegments(log, { segments: past, reason: RETENTION_REASON, by: RETENTION_BY, now, ...(opts.onStep === undefined ? {} : { onStep: opts.onStep }) });
}

export interface RetentionLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Runs a sweep now and every `intervalMs` (default one hour); `stop()` ends the schedule and waits for a running sweep. */
export function startRetention(log: AuditLog, policy: RetentionPolicy, deps: { metrics: RetentionMetrics; logger: RetentionLogger; intervalMs?: number }): { stop: () => Promise<void>; idle: () => Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = (): void => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        if (policy.mode === 'delete-segments') {
          const p = await pruneRetention(log, policy);
          if (p.segmentsDeleted === 0) return;
          deps.metrics.segmentsDeleted.inc(p.segmentsDeleted);
          deps.metrics.prunedEntries.inc(p.entriesDeleted);
          deps.metrics.bytesFreed.inc(p.bytesFreed);
          deps.logger.info({ event: 'RetentionPruned', segments: p.segmentsDeleted, entries: p.entriesDeleted, mediaDeleted: p.mediaDeleted, bytesFreed: p.bytesFreed, firstKept: p.firstKept, recordSeq: p.recordSeq }, `retention: deleted ${p.segmentsDeleted} sealed segments (${p.entriesDeleted} entries, ${p.bytesFreed} bytes); the log starts at seq ${p.firstKept ?? '-'} (prune record at seq ${p.recordSeq ?? '-'})`);
          return;
        }
        const r = await sweepRetention(log, policy);
        if (r.entries === 0) return;
        deps.metrics.erasedEntries.inc(r.entries);
        deps.metrics.bytesFreed.inc(r.bytesFreed);
        deps.logger.info({ event: 'RetentionErased', entries: r.entries, parts: r.parts, segments: r.segments, mediaDeleted: r.mediaDeleted, bytesFreed: r.bytesFreed, recordSeq: r.recordSeq }, `retention: erased the content of ${r.entries} entries in ${r.segments} sealed segments (erasure record at seq ${r.recordSeq ?? '-'})`);
      } catch (err) {
        deps.logger.error({ code: (err as { code?: string }).code, reason: (err as Error).message }, 'retention sweep failed; retried at the next sweep');
      }
    });
  };
  sweep();
  const timer = setInterval(sweep, deps.intervalMs ?? 3_600_000);
  timer.unref();
  return {
    idle: () => running,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
