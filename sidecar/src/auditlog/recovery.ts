// Recovery on open (ADR 0004 "Recovery"): find where the chain ends, check its tail, cut a torn last
// line, rebuild the in-memory edge of the Merkle tree from the hash tiles plus the entries after
// them, and check the tree against the newest checkpoint. Anything worse than a torn last line is
// refused (LLMAUDIT_E_LOG_CORRUPT): continuing a damaged chain would bury the damage. Entry and
// checkpoint signatures are not checked here (see checkpointOfNote).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { checkLine, isLineProblem, type EntryVersion } from './entry.ts';
import { genesisPrevHash } from './hash.ts';
import { TILE_DIR, listSegments, type SegmentFile } from './layout.ts';
import { readFirstLine, readLines } from './line-reader.ts';
import { ioErrorToLogError, logError } from './log-errors.ts';
import { syncDir, type LogFs } from './log-fs.ts';
import { makeDir } from './make-dir.ts';
import { leafHash } from './merkle.ts';
import { TileStore } from './tiles.ts';
import { parseCheckpointBody } from './checkpoint.ts';
import { readLatestCheckpoint, type StoredCheckpoint } from './checkpoint-store.ts';

export interface RecoveredChain {
  segments: SegmentFile[];
  /** First seq of each segment in `segments` (null for an empty last segment). */
  segmentStarts: Array<number | null>;
  size: number;
  lastHash: string;
  lastSegmentBytes: number;
  /** ms since epoch of the last segment's first entry, or null when it is empty. */
  lastSegmentFirstAt: number | null;
  tiles: TileStore;
  latestCheckpoint: StoredCheckpoint | null;
  truncatedBytes: number;
  tilesRebuilt: boolean;
  /** The entry format of the chain (its first entry's `v`); null for an empty chain. */
  version: EntryVersion | null;
}

export interface RecoverOptions {
  dir: string;
  origin: string;
  fs: LogFs;

}

function corrupt(seg: SegmentFile, lineNo: number, what: string): Error {
  return logError('LLMAUDIT_E_LOG_CORRUPT', `${seg.name} line ${lineNo}: ${what}`, { details: { segment: seg.name, line: lineNo } });
}

export async function recoverChain(opts: RecoverOptions): Promise<RecoveredChain> {
  const { dir, origin } = opts;
  try {
    await makeDir(dir);
  } catch (err) {
    throw ioErrorToLogError(err, `creating ${dir}`);
  }
  const segments = await listSegments(dir);
  const segmentStarts: Array<number | null> = [];
  let version: EntryVersion | null = null;
  for (const [i, seg] of segments.entries()) {
    // A pruned log (retention/prune.ts) starts at a later segment; after the first, no gap.
    const want = i === 0 ? seg.number : (segments[0] as SegmentFile).number + i;
    if (seg.number !== want) throw logError('LLMAUDIT_E_LOG_CORRUPT', `segment ${seg.name} found where seg number ${want} was expected`);
    const first = await readFirstLine(seg.path);
    const parsed = first === null ? null : checkLine(first);
    if (parsed === null || isLineProblem(parsed)) {
      if (i !== segments.length - 1) throw corrupt(seg, 1, 'first line unreadable');
      segmentStarts.push(null);
    } else {
      segmentStarts.push(parsed.entry.seq);
      version ??= parsed.entry.v;
    }
  }
  const latestCheckpoint = await readLatestCheckpoint(dir);
  if (segments.length === 0 && latestCheckpoint !== null && latestCheckpoint.size > 0) {
    throw logError('LLMAUDIT_E_LOG_CORRUPT', `checkpoint at size ${latestCheckpoint.size} exists but no segment`);
  }

  let tiles = await TileStore.open(dir);
  let tilesRebuilt = false;
  for (let pass = 0; ; pass++) {
    const scan = await scanTail(opts, segments, segmentStarts, tiles);
    if (scan.size < tiles.size) {
      // Tiles past the end of the log (e.g. a power loss lost unsynced entries of batched mode
      // after their tiles were written): tiles are derived data, forget the part without entries.
      await tiles.truncateTo(scan.size);
    }
    // Partial tiles past the log's end (entries lost after they were written) must never be served.
    await tiles.prunePartials(scan.size);
    if (latestCheckpoint !== null) {
      const cp = checkpointOfNote(latestCheckpoint.note);
      if (cp.origin !== origin) throw logError('LLMAUDIT_E_LOG_ORIGIN_MISMATCH', `checkpoint origin ${cp.origin}, expected ${origin}`);
      if (cp.size > scan.size) {
        throw logError('LLMAUDIT_E_LOG_CORRUPT', `the log has ${scan.size} entries but checkpoint ${latestCheckpoint.path} covers ${cp.size}: entries were lost`);
      }
      const root = await tiles.root(cp.size);
      if (!root.equals(cp.rootHash)) {
        // Tiles are rebuilt from the entries, unless entries were pruned: then the tiles are all
        // that remains of the tree's left part, and damaged ones must not be thrown away.
        const pruned = segmentStarts[0] !== undefined && segmentStarts[0] !== null && segmentStarts[0] > 0;
        if (pass === 0 && !pruned) {
          tiles = await rebuildTiles(dir);
          tilesRebuilt = true;
          continue;
        }
        throw logError('LLMAUDIT_E_LOG_CORRUPT', `the tree at size ${cp.size} does not match checkpoint ${latestCheckpoint.path}`);
      }
    }
    if (scan.tornAt !== null) {
      const seg = segments.at(-1) as SegmentFile;
      try {
        const fh = await opts.fs.open(seg.path, 'r+');
        try {
          await fh.truncate(scan.tornAt);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      } catch (err) {
        throw ioErrorToLogError(err, `truncating the torn last line of ${seg.name}`);
      }
    }
    if (tilesRebuilt || scan.size > 0) await tiles.flush().catch(() => undefined);
    if (segments.length > 0) await syncDir(opts.fs, dir).catch(() => undefined);
    return {
      segments,
      segmentStarts,
      size: scan.size,
      lastHash: scan.lastHash,
      lastSegmentBytes: scan.lastSegmentBytes,
      lastSegmentFirstAt: scan.lastSegmentFirstAt,
      tiles,
      latestCheckpoint,
      truncatedBytes: scan.truncatedBytes,
      tilesRebuilt,
      version,
    };
  }
}

/**
 * The body of our own newest checkpoint. Its signature is not checked here: recovery checks the
 * structure (hashes, links, the tree against the checkpoint), authenticity is the verifier's job,
 * and a rotated signing key must not stop the writer from continuing its chain.
 */
function checkpointOfNote(note: string): { origin: string; size: number; rootHash: Buffer } {
  const end = note.indexOf('\n\n');
  return parseCheckpointBody(end === -1 ? note : note.slice(0, end + 1));
}

async function rebuildTiles(dir: string): Promise<TileStore> {
  await rm(path.join(dir, TILE_DIR), { recursive: true, force: true });
  return TileStore.open(dir);
}

interface TailScan {
  size: number;
  lastHash: string;
  lastSegmentBytes: number;
  lastSegmentFirstAt: number | null;
  tornAt: number | null;
  truncatedBytes: number;
}

/** Reads from the segment holding leaf `tiles.size` to the end, appending leaves to `tiles`. */
async function scanTail(opts: RecoverOptions, segments: SegmentFile[], starts: Array<number | null>, tiles: TileStore): Promise<TailScan> {
  const from = tiles.size;
  const genesis = genesisPrevHash(opts.origin);
  const result: TailScan = { size: 0, lastHash: genesis, lastSegmentBytes: 0, lastSegmentFirstAt: null, tornAt: null, truncatedBytes: 0 };
  if (segments.length === 0) return result;
  // Start in the last segment whose first seq <= from (so the entry before `from` is seen too).
  let startIdx = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = starts[i];
    if (s !== null && s !== undefined && s < Math.max(from, 1)) startIdx = i;
  }
  let expected: number | null = null;
  let prevHash: string | null = null;
  let lastSegBytes = 0;
  for (let i = startIdx; i < segments.length; i++) {
    const seg = segments[i] as SegmentFile;
    const isLast = i === segments.length - 1;
    lastSegBytes = 0;
    let firstAt: number | null = null;
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) {
        if (!isLast) throw corrupt(seg, l.lineNo, 'incomplete line inside a sealed segment');
        result.tornAt = l.offset;
        result.truncatedBytes = l.bytes;
        break;
      }
      const c = checkLine(l.text);
      if (isLineProblem(c)) throw corrupt(seg, l.lineNo, c.message);
      const e = c.entry;
      if (expected !== null && e.seq !== expected) throw corrupt(seg, l.lineNo, `seq ${e.seq}, expected ${expected}`);
      if (prevHash !== null && e.prevHash !== prevHash) throw corrupt(seg, l.lineNo, `seq ${e.seq}: prevHash does not link to the previous entry`);
      if (e.origin !== opts.origin) throw logError('LLMAUDIT_E_LOG_ORIGIN_MISMATCH', `${seg.name} line ${l.lineNo}: origin ${e.origin}, expected ${opts.origin}`);
      if (e.seq === 0 && e.prevHash !== genesis) throw corrupt(seg, l.lineNo, 'seq 0 does not start from the genesis hash of this origin');
      if (e.seq >= from) {
        if (c.computedHash.toString('hex') !== e.hash || c.partMismatch !== null) throw corrupt(seg, l.lineNo, `seq ${e.seq}: hash does not match the content`);
        if (e.seq !== tiles.size) throw corrupt(seg, l.lineNo, `seq ${e.seq} but the tree has ${tiles.size} leaves`);
        tiles.append(leafHash(c.computedHash));
      }
      expected = e.seq + 1;
      prevHash = e.hash;
      firstAt ??= Date.parse(e.ts);
      lastSegBytes = l.offset + l.bytes;
      result.size = e.seq + 1;
      result.lastHash = e.hash;
    }
    if (isLast) result.lastSegmentFirstAt = firstAt;
  }
  result.lastSegmentBytes = lastSegBytes;
  return result;
}
