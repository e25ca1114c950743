// Retention by deleting whole segments (docs/erasure.md "Retention", ADR 0022): the oldest sealed
// segments are removed, after a signed prune record appended to the chain states the cut — the
// first seq kept, the Merkle tree size and root there, the hash of the last deleted entry (the
// prevHash the first kept entry links to), and what was deleted and why. The verifier starts from
// that record (verifier.ts, docs/audit-log-format.md "Pruned logs").
//
// The hash tiles stay: a kept entry's inclusion proof and every consistency proof need the left
// part of the tree, and the verifier rebuilds the tree at the cut from them. So the cut never
// passes the last full tile on disk (a multiple of 256 entries), and the tiles of the deleted range
// are checked against the entries before anything is deleted. Checkpoints stay too (a few hundred
// bytes each): the verifier checks each one below the cut by a consistency proof from the tiles.
//
// Order, chosen so that a crash at any point leaves a log that verifies:
//   1. finish a prune a crash interrupted (its record is in the log; its cut is past the first
//      segment still present): sign a checkpoint (covering the record), delete the rest of its
//      segments, no new record;
//   2. append the signed prune record, flush (fdatasync) and seal (a checkpoint covers it);
//   3. delete the segments, oldest first, each unlink followed by a directory fsync (a crash leaves
//      a prefix deleted: the verifier accepts a first segment the record lists as deleted);
//   4. delete the media files only deleted entries referenced.
import { stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { checkLine, isLineProblem } from '../auditlog/entry.ts';
import { listSegments, type SegmentFile } from '../auditlog/layout.ts';
import { readLines } from '../auditlog/line-reader.ts';
import { nodeLogFs, syncDir } from '../auditlog/log-fs.ts';
import { mediaRefsOf } from '../auditlog/media-verify.ts';
import { MerkleAccumulator, leafHash } from '../auditlog/merkle.ts';
import { TileStore } from '../auditlog/tiles.ts';
import { serializedPerDir } from '../erasure/erase.ts';
import { erasureError } from '../erasure/errors.ts';
import type { AuditLog } from '../auditlog/log-writer.ts';
import type { EntryPayload } from '../auditlog/types.ts';

/** `kind` of a prune record. */
export const PRUNE_KIND = 'prune';

export interface PruneRecord {
  kind: 'prune';
  prune: {
    at: string;
    reason: string;
    by: string;
    /** The first seq kept; also the Merkle tree size at the cut. */
    firstKept: number;
    treeSize: number;
    /** Base64 Merkle root of the tree of the entries [0, firstKept) (as in a checkpoint). */
    rootHash: string;
    /** Hex hash of entry firstKept - 1: the prevHash of entry firstKept. */
    prevHash: string;
    /** What is deleted: segment numbers [first, last], entries [from, to], segment bytes, media files and bytes. */
    segments: [number, number];
    entries: [number, number];
    bytes: number;
    media: { files: number; bytes: number };
  };
}

export interface PruneOptions {
  /** Numbers of the sealed segments the policy puts past retention; only a leading run of them is deleted. */
  segments: ReadonlySet<number>;
  reason: string;
  by: string;
  now?: () => number;
  /** Called between the steps, and awaited (tests use it to kill the process, or append, at a given point). */
  onStep?: (step: 'finished' | 'recorded' | 'sealed' | 'deleted' | 'done', detail: string) => void | Promise<void>;
}

export interface PruneResult {
  /** Seq of the prune record, or null when nothing was pruned. */
  recordSeq: number | null;
  /** The first seq kept (null when nothing was pruned). */
  firstKept: number | null;
  segmentsDeleted: number;
  entriesDeleted: number;
  mediaDeleted: number;
  /** Segment and media bytes freed. */
  bytesFreed: number;
}

interface SegmentInfo {
  seg: SegmentFile;
  first: number | null;
  bytes: number;
}

/** The newest prune record in the log: its seq and the first seq it keeps. */
interface SeenPrune {
  seq: number;
  firstKept: number;
}

interface Scan {
  infos: SegmentInfo[];
  lastPrune: SeenPrune | null;
}

async function scanSegments(dir: string): Promise<Scan> {
  const infos: SegmentInfo[] = [];
  let lastPrune: SeenPrune | null = null;
  for (const seg of await listSegments(dir)) {
    let first: number | null = null;
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) break;
      // Only prune records are parsed here; their lines are small and say `"kind":"prune"`.
      if (first === null || l.text.includes('"kind":"prune"')) {
        const e = JSON.parse(l.text) as { seq: number; kind?: unknown; prune?: { firstKept?: unknown } };
        first ??= e.seq;
        if (e.kind === PRUNE_KIND && typeof e.prune?.firstKept === 'number') lastPrune = { seq: e.seq, firstKept: e.prune.firstKept };
      }
    }
    infos.push({ seg, first, bytes: (await stat(seg.path)).size });
  }
  return { infos, lastPrune };
}

/** Media paths referenced by the entries of `segs`. */
async function mediaOf(segs: SegmentInfo[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const { seg } of segs) {
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) break;
      if (!l.text.includes('"media":[{')) continue;
      const e = JSON.parse(l.text) as Record<string, unknown>;
      const refs = mediaRefsOf(e, e.seq as number);
      if (typeof refs !== 'string') for (const r of refs) out.add(r.path);
    }
  }
  return out;
}

async function deleteSegment(dir: string, s: SegmentInfo): Promise<number> {
  try {
    await unlink(s.seg.path);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return 0;
    throw err;
  }
  await syncDir(nodeLogFs, dir);
  return s.bytes;
}

async function deleteMedia(dir: string, paths: Iterable<string>): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const m of paths) {
    const file = path.join(dir, ...m.split('/'));
    try {
      const { size } = await stat(file);
      await unlink(file);
      files++;
      bytes += size;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }
  if (files > 0) await syncDir(nodeLogFs, path.join(dir, 'media'));
  return { files, bytes };
}

/**
 * Checks the entries of `doomed` (the segments to delete, from the first present one) against the
 * hash tiles and returns the tree's root at the cut and the hash of the last deleted entry. The
 * tiles are all that will remain of that part of the tree: a mismatch refuses the prune.
 */
async function checkTiles(tiles: TileStore, doomed: SegmentInfo[], cut: number): Promise<{ root: Buffer; lastHash: string; entries: number }> {
  const start = doomed[0]?.first ?? cut;
  const acc = await MerkleAccumulator.fromReader(start, tiles.hashAt);
  let lastHash = '';
  let entries = 0;
  for (const { seg } of doomed) {
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) throw erasureError('LLMAUDIT_E_PRUNE_INVALID', `${seg.name} line ${l.lineNo} is incomplete: only sealed segments are deleted`);
      const c = checkLine(l.text);
      if (isLineProblem(c)) throw erasureError('LLMAUDIT_E_PRUNE_INVALID', `${seg.name} line ${l.lineNo}: ${c.message}`);
      if (c.entry.seq !== acc.size) throw erasureError('LLMAUDIT_E_PRUNE_INVALID', `${seg.name} line ${l.lineNo}: seq ${c.entry.seq} where ${acc.size} was expected`);
      if (lastHash !== '' && c.entry.prevHash !== lastHash) throw erasureError('LLMAUDIT_E_PRUNE_INVALID', `${seg.name} line ${l.lineNo}: prevHash does not link to the previous entry`);
      acc.push(leafHash(c.computedHash));
      lastHash = c.entry.hash;
      entries++;
    }
  }
  if (acc.size !== cut) throw erasureError('LLMAUDIT_E_PRUNE_INVALID', `the segments to delete end at seq ${acc.size - 1}, the cut is ${cut}`);
  const root = acc.root();
  const fromTiles = await tiles.root(cut);
  if (!root.equals(fromTiles)) throw erasureError('LLMAUDIT_E_PRUNE_TILES', `the hash tiles' tree at size ${cut} differs from the entries: the tiles are damaged, and after a prune they are all that remains of that part of the tree`);
  return { root, lastHash, entries };
}

export function pruneSegments(log: AuditLog, opts: PruneOptions): Promise<PruneResult> {
  if (opts.reason.trim() === '' || opts.by.trim() === '') return Promise.reject(erasureError('LLMAUDIT_E_PRUNE_INVALID', 'a prune needs a reason and who requests it'));
  return serializedPerDir(log.dir, () => run(log, opts));
}

async function run(log: AuditLog, opts: PruneOptions): Promise<PruneResult> {
  const dir = log.dir;
  const now = opts.now ?? Date.now;
  const result: PruneResult = { recordSeq: null, firstKept: null, segmentsDeleted: 0, entriesDeleted: 0, mediaDeleted: 0, bytesFreed: 0 };
  await log.flush();
  const scanned = await scanSegments(dir);
  const lastPrune = scanned.lastPrune;
  let infos = scanned.infos;

  // 1. A prune a crash interrupted: its record is written, some of its segments are not deleted yet.
  if (lastPrune !== null && (infos[0]?.first ?? Infinity) < lastPrune.firstKept) {
    const cut = lastPrune.firstKept;
    const rest = infos.filter((s, i) => s.first !== null && ((infos[i + 1]?.first ?? Infinity) <= cut));
    const keptMedia = await mediaOf(infos.filter((s) => !rest.includes(s)));
    const doomedMedia = [...(await mediaOf(rest))].filter((m) => !keptMedia.has(m));
    // The record may not be covered by a checkpoint yet (a crash before the seal): one covers it
    // before anything is deleted, so it is authenticated even without an entry signature.
    if (rest.length > 0) await log.checkpoint();
    for (const s of rest) {
      result.bytesFreed += await deleteSegment(dir, s);
      result.segmentsDeleted++;
      result.entriesDeleted += (infos[infos.indexOf(s) + 1]?.first ?? cut) - (s.first as number);
    }
    const m = await deleteMedia(dir, doomedMedia);
    result.mediaDeleted += m.files;
    result.bytesFreed += m.bytes;
    await opts.onStep?.('finished', String(lastPrune.seq));
    ({ infos } = await scanSegments(dir));
  }

  // The leading run of sealed segments past retention, cut back to the last full tile on disk.
  const open = log.stats().segment;
  const tiles = await TileStore.open(dir, { readOnly: true });
  let n = 0;
  while (n < infos.length) {
    const s = infos[n] as SegmentInfo;
    const next = infos[n + 1];
    if (s.seg.number >= open || !opts.segments.has(s.seg.number) || s.first === null || next?.first === null || next === undefined) break;
    if ((next.first as number) > tiles.size) break;
    n++;
  }
  if (n === 0) {
    if (result.segmentsDeleted > 0) await opts.onStep?.('done', '0');
    return result;
  }
  const doomed = infos.slice(0, n);
  const kept = infos.slice(n);
  const cut = (kept[0] as SegmentInfo).first as number;
  const checked = await checkTiles(tiles, doomed, cut);
  const keptMedia = await mediaOf(kept);
  const doomedMedia = [...(await mediaOf(doomed))].filter((m) => !keptMedia.has(m));
  let mediaBytes = 0;
  for (const m of doomedMedia) mediaBytes += await stat(path.join(dir, ...m.split('/'))).then((s) => s.size, () => 0);
  const segBytes = doomed.reduce((t, s) => t + s.bytes, 0);

  // 2. The record, durable and covered by a checkpoint, before anything is deleted.
  const record: PruneRecord = {
    kind: PRUNE_KIND,
    prune: {
      at: new Date(now()).toISOString(),
      reason: opts.reason,
      by: opts.by,
      firstKept: cut,
      treeSize: cut,
      rootHash: checked.root.toString('base64'),
      prevHash: checked.lastHash,
      segments: [(doomed[0] as SegmentInfo).seg.number, (doomed.at(-1) as SegmentInfo).seg.number],
      entries: [(doomed[0] as SegmentInfo).first as number, cut - 1],
      bytes: segBytes,
      media: { files: doomedMedia.length, bytes: mediaBytes },
    },
  };
  const appended = await log.append(record as unknown as EntryPayload);
  result.recordSeq = appended.seq;
  result.firstKept = cut;
  await log.flush();
  await opts.onStep?.('recorded', String(appended.seq));
  await log.seal();
  await opts.onStep?.('sealed', String(log.stats().segment));

  // 3. Oldest first, so a crash leaves the log starting at a segment the record lists.
  for (const s of doomed) {
    result.bytesFreed += await deleteSegment(dir, s);
    result.segmentsDeleted++;
    await opts.onStep?.('deleted', s.seg.name);
  }
  result.entriesDeleted += checked.entries;

  // 4. Media nothing kept references, including entries appended since the scan (a file is stored
  // once however many exchanges carry it): the segments from the one open at the scan on are read again.
  const recent = (await listSegments(dir)).filter((s) => s.number >= open).map((seg) => ({ seg, first: null, bytes: 0 }));
  const since = await mediaOf(recent);
  const m = await deleteMedia(dir, doomedMedia.filter((x) => !since.has(x)));
  result.mediaDeleted += m.files;
  result.bytesFreed += m.bytes;
  await opts.onStep?.('done', String(result.segmentsDeleted));
  return result;
}
