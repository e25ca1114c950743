// Erasing the content of entries (docs/erasure.md). In format v2 an entry commits to each content
// part through a salted digest, so a part can be replaced by `{"erased": {at, reason, by}}` and its salt
// dropped while the entry hash, the chain, the Merkle tree and every checkpoint stay valid.
//
// Order, chosen so that a crash at any point leaves a log that verifies:
//   1. append a signed erasure record listing the entries (a record naming entries that are not
//      erased yet is harmless: running the erasure again finishes it);
//   2. flush and seal, so the record and every entry it names are in sealed segments;
//   3. delete the media files of the selected entries that no other entry keeping its content
//      references (before the rewrite, which removes the entries' lists of media);
//   4. rewrite each affected segment to a temp file, fsync it, rename it over the segment and
//      fsync the directory (the old or the new segment, never a torn one): every content part of
//      a selected entry (its bodies, their wire digests, its media list) becomes the marker.
import { open, readdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalJson } from '../auditlog/jcs.ts';
import { isErasedMarker, pointerParent, type ErasedMarker } from '../auditlog/entry.ts';
import { listSegments, type SegmentFile } from '../auditlog/layout.ts';
import { readLines } from '../auditlog/line-reader.ts';
import { nodeLogFs, syncDir, writeAll } from '../auditlog/log-fs.ts';
import { mediaRefsOf } from '../auditlog/media-verify.ts';
import { erasureError } from './errors.ts';
import type { AuditLog } from '../auditlog/log-writer.ts';
import type { EntryPayload } from '../auditlog/types.ts';

/** The suffix of a segment being rewritten; such files are never segments and are removed on the next erasure. */
export const REWRITE_SUFFIX = '.erase-tmp';

/** `kind` of an erasure record: an entry of the chain that lists what was erased and why. */
export const ERASURE_KIND = 'erasure';

export interface ErasureRecord {
  kind: 'erasure';
  erasure: {
    at: string;
    reason: string;
    by: string;
    /** Inclusive seq ranges [from, to] of the entries whose content parts are erased. */
    entries: Array<[number, number]>;
  };
}

export interface EraseOptions {
  /** Which entries: called with each parsed entry (exchange entries only; records are never erased). */
  select: (entry: Record<string, unknown>) => boolean;
  reason: string;
  by: string;
  now?: () => number;
  /** Consider only sealed segments older than this (retention); default all. */
  segmentFilter?: (seg: SegmentFile) => boolean;
  /** Rewrite at most this many bytes per second (retention's bounded I/O); default unbounded. */
  bytesPerSecond?: number;
  /** v1 entries (which cannot be erased) among the selected: refused (default) or left as they are (retention). */
  v1?: 'refuse' | 'skip';
  /** Called between the steps (tests use it to kill the process at a given point). */
  onStep?: (step: 'recorded' | 'sealed' | 'rewrote' | 'done', detail: string) => void;
}

export interface EraseResult {
  /** Seq of the erasure record, or null when nothing was left to erase. */
  recordSeq: number | null;
  entries: number;
  parts: number;
  mediaDeleted: number;
  /** Segment bytes and media bytes freed. */
  bytesFreed: number;
}

function toRanges(seqs: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const s of [...seqs].sort((a, b) => a - b)) {
    const last = out.at(-1);
    if (last !== undefined && s === last[1] + 1) last[1] = s;
    else if (last === undefined || s > last[1]) out.push([s, s]);
  }
  return out;
}

/** Content parts of a parsed entry that still hold their content (a salt). */
function livePointers(e: Record<string, unknown>): string[] {
  const parts = e.parts;
  if (parts === null || typeof parts !== 'object') return [];
  return Object.entries(parts as Record<string, { salt?: unknown }>)
    .filter(([, p]) => p !== null && typeof p === 'object' && p.salt !== undefined)
    .map(([k]) => k);
}

const locks = new Map<string, Promise<unknown>>();

/** One erasure or prune at a time per chain directory (a live API call and a retention sweep may overlap). */
export function serializedPerDir<T>(dir: string, run: () => Promise<T>): Promise<T> {
  const prev = locks.get(dir) ?? Promise.resolve();
  const next = prev.then(run, run);
  locks.set(
    dir,
    next.catch(() => undefined),
  );
  return next;
}

export function eraseEntries(log: AuditLog, opts: EraseOptions): Promise<EraseResult> {
  if (opts.reason.trim() === '') return Promise.reject(erasureError('LLMAUDIT_E_ERASE_INVALID', 'an erasure needs a reason'));
  if (opts.by.trim() === '') return Promise.reject(erasureError('LLMAUDIT_E_ERASE_INVALID', 'an erasure needs who requests it (by)'));
  return serializedPerDir(log.dir, () => run(log, opts));
}

interface Scan {
  /** Segment number → seqs to erase there. */
  bySegment: Map<number, Set<number>>;
  seqs: number[];
  /** Media path → referenced by an entry that keeps its content. */
  keptMedia: Set<string>;
  erasedMedia: Set<string>;
}

async function scan(dir: string, opts: EraseOptions, segments: SegmentFile[]): Promise<Scan> {
  const out: Scan = { bySegment: new Map(), seqs: [], keptMedia: new Set(), erasedMedia: new Set() };
  for (const seg of segments) {
    const eligible = opts.segmentFilter === undefined || opts.segmentFilter(seg);
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) break;
      const e = JSON.parse(l.text) as Record<string, unknown>;
      const live = livePointers(e);
      const hit = eligible && e.kind === undefined && opts.select(e);
      if (hit && e.v === 1 && opts.v1 !== 'skip') throw erasureError('LLMAUDIT_E_ERASE_UNSUPPORTED', `seq ${String(e.seq)} is a v1 entry`);
      const refs = mediaRefsOf(e, e.seq as number);
      if (hit && live.length > 0) {
        const seq = e.seq as number;
        out.seqs.push(seq);
        let set = out.bySegment.get(seg.number);
        if (set === undefined) out.bySegment.set(seg.number, (set = new Set()));
        set.add(seq);
        if (typeof refs !== 'string') for (const r of refs) out.erasedMedia.add(r.path);
      } else if (typeof refs !== 'string') {
        const media = (e.media ?? []) as Array<{ pointer?: unknown }>;
        const erased = Object.entries((e.parts ?? {}) as Record<string, { salt?: unknown }>).filter(([, p]) => p.salt === undefined).map(([k]) => `${k}/`);
        refs.forEach((r, i) => {
          const ptr = String(media[i]?.pointer ?? '');
          if (!erased.some((p) => ptr.startsWith(p))) out.keptMedia.add(r.path);
        });
      }
    }
  }
  return out;
}

async function run(log: AuditLog, opts: EraseOptions): Promise<EraseResult> {
  const dir = log.dir;
  const now = opts.now ?? Date.now;
  for (const f of await readdir(dir)) if (f.endsWith(REWRITE_SUFFIX)) await rm(path.join(dir, f), { force: true });
  await log.flush();
  const found = await scan(dir, opts, await listSegments(dir));
  const result: EraseResult = { recordSeq: null, entries: 0, parts: 0, mediaDeleted: 0, bytesFreed: 0 };
  if (found.seqs.length === 0) return result;
  const at = new Date(now()).toISOString();
  const record: ErasureRecord = { kind: ERASURE_KIND, erasure: { at, reason: opts.reason, by: opts.by, entries: toRanges(found.seqs) } };
  const appended = await log.append(record as unknown as EntryPayload);
  result.recordSeq = appended.seq;
  await log.flush();
  opts.onStep?.('recorded', String(appended.seq));
  await log.seal();
  opts.onStep?.('sealed', String(log.stats().segment));
  // Media first: once a segment is rewritten its entries no longer list their media (the list is a
  // part), so a crash after the rewrite would leave files nothing names. Deleted first, a crash
  // leaves entries that still hold content and name missing media; running the erasure again
  // selects them and finishes.
  for (const m of found.erasedMedia) {
    if (found.keptMedia.has(m)) continue;
    const file = path.join(dir, ...m.split('/'));
    try {
      const { size } = await stat(file);
      await unlink(file);
      result.mediaDeleted++;
      result.bytesFreed += size;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }
  if (result.mediaDeleted > 0) await syncDir(nodeLogFs, path.join(dir, 'media'));
  const marker: ErasedMarker = { erased: { at, reason: opts.reason, by: opts.by } };
  const open = log.stats().segment;
  for (const seg of await listSegments(dir)) {
    const targets = found.bySegment.get(seg.number);
    if (targets === undefined) continue;
    if (seg.number >= open) throw erasureError('LLMAUDIT_E_ERASE_INVALID', `${seg.name} is still open after the seal`);
    const r = await rewriteSegment(dir, seg, targets, marker, opts.bytesPerSecond);
    result.parts += r.parts;
    result.entries += r.entries;
    result.bytesFreed += r.bytesBefore - r.bytesAfter;
    opts.onStep?.('rewrote', seg.name);
  }
  opts.onStep?.('done', String(result.parts));
  return result;
}

/** The entry's line with its live parts replaced by `marker` and their salts dropped (hash and sig kept). */
export function eraseLine(text: string, marker: ErasedMarker): { line: string; parts: number } {
  const e = JSON.parse(text) as Record<string, unknown>;
  const parts = e.parts as Record<string, { digest: string; salt?: string }>;
  let n = 0;
  for (const pointer of livePointers(e)) {
    const where = pointerParent(e, pointer);
    if (where === null) continue;
    where.parent[where.key] = marker;
    delete (parts[pointer] as { salt?: string }).salt;
    n++;
  }
  const { hash, sig, ...rest } = e;
  const canonical = canonicalJson(rest);
  const tail = `,"hash":"${String(hash)}"${sig === undefined ? '' : `,"sig":"${String(sig)}"`}`;
  return { line: `${canonical.slice(0, -1)}${tail}}`, parts: n };
}

/**
 * Rewrites one sealed segment with the entries `targets` erased: streamed into `<segment>.erase-tmp`,
 * fsynced, renamed over the segment, directory fsynced.
 */
export async function rewriteSegment(dir: string, seg: SegmentFile, targets: ReadonlySet<number>, marker: ErasedMarker, bytesPerSecond?: number): Promise<{ parts: number; entries: number; bytesBefore: number; bytesAfter: number }> {
  const tmp = `${seg.path}${REWRITE_SUFFIX}`;
  const fh = await open(tmp, 'w', 0o644);
  let parts = 0;
  let entries = 0;
  let bytesBefore = 0;
  let bytesAfter = 0;
  const started = Date.now();
  try {
    let buf: string[] = [];
    let bufLen = 0;
    const flush = async (): Promise<void> => {
      if (buf.length === 0) return;
      const data = Buffer.from(buf.join(''), 'utf8');
      buf = [];
      bufLen = 0;
      await writeAll(fh, data);
      bytesAfter += data.length;
      if (bytesPerSecond !== undefined && bytesPerSecond > 0) {
        const due = started + ((bytesBefore + bytesAfter) / bytesPerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    };
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) throw erasureError('LLMAUDIT_E_ERASE_INVALID', `${seg.name} line ${l.lineNo} is incomplete: only sealed segments are rewritten`);
      bytesBefore += l.bytes;
      const seq = /"seq":(\d+)/.exec(l.text);
      let text = l.text;
      if (seq !== null && targets.has(Number(seq[1]))) {
        const e = JSON.parse(l.text) as Record<string, unknown>;
        if (targets.has(e.seq as number)) {
          const r = eraseLine(l.text, marker);
          if (r.parts > 0) {
            text = r.line;
            parts += r.parts;
            entries++;
          }
        }
      }
      buf.push(`${text}\n`);
      bufLen += text.length + 1;
      if (bufLen >= 1 << 20) await flush();
    }
    await flush();
    await fh.sync();
  } finally {
    await fh.close();
  }
  await nodeLogFs.rename(tmp, seg.path);
  await syncDir(nodeLogFs, dir);
  return { parts, entries, bytesBefore, bytesAfter };
}

/** True when a parsed part is an erased marker (re-exported for readers of this module). */
export const isErased = isErasedMarker;
