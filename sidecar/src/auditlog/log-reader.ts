// Read-only access to a chain directory for `llmaudit prove` and `llmaudit checkpoint`: finds one
// entry, and rebuilds the Merkle tree's right edge (hash tiles on disk + the entries after them)
// so proofs are served without rehashing the log. Takes no lock: it may run beside a live writer
// and then proves against the newest checkpoint, whose entries are all on disk.
import { stat } from 'node:fs/promises';
import { checkLine, isLineProblem } from './entry.ts';
import { listSegments, type SegmentFile } from './layout.ts';
import { readFirstLine, readLines, type SegmentLine } from './line-reader.ts';
import { logError } from './log-errors.ts';
import { leafHash } from './merkle.ts';
import { TileStore } from './tiles.ts';
import { readLatestCheckpoint, type StoredCheckpoint } from './checkpoint-store.ts';
import { buildInclusionBundle } from './proof-bundle.ts';
import type { Entry, InclusionProofBundle } from './types.ts';
import path from 'node:path';

/** First seq of each segment (null when it has no complete first line). */
export async function segmentStartsOf(segments: SegmentFile[]): Promise<Array<number | null>> {
  const out: Array<number | null> = [];
  for (const seg of segments) {
    const first = await readFirstLine(seg.path);
    const c = first === null ? null : checkLine(first);
    out.push(c === null || isLineProblem(c) ? null : c.entry.seq);
  }
  return out;
}

/**
 * The top-level seq of a line in the writer's form, read without parsing the line: its last
 * `"seq":` member (canonical key order puts the top-level one after both bodies, and a quote
 * inside a string is always escaped). Null when there is none. Only a hint: callers confirm it.
 */
export function seqHint(text: string): number | null {
  const at = text.lastIndexOf('"seq":');
  if (at === -1) return null;
  const m = /^\d{1,16}/.exec(text.slice(at + 6, at + 23));
  return m === null ? null : Number(m[0]);
}

/** The first complete line that starts at or after `offset`. */
async function lineFrom(file: string, offset: number): Promise<SegmentLine | null> {
  for await (const l of readLines(file, { start: offset - 1, chunkBytes: 64 * 1024 })) {
    if (l.lineNo === 1) continue; // the rest of the line `offset - 1` falls in
    return l.terminated ? l : null;
  }
  return null;
}

/** Below this many bytes between the bounds, the segment is read line by line. */
const BISECT_STOP = 256 * 1024;

/**
 * Where to start reading for `seq` in one segment: seqs grow line by line, so the segment is
 * bisected by byte offset, one line read per step, instead of read from its start (a 64 MiB
 * segment would otherwise be read and parsed up to the entry for every proof).
 */
async function startNear(file: string, seq: number): Promise<number> {
  let lo = 0;
  let hi = (await stat(file)).size;
  while (hi - lo > BISECT_STOP) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const l = await lineFrom(file, mid);
    const s = l === null ? null : seqHint(l.text);
    if (l === null) hi = mid;
    else if (s === null) return lo;
    else if (s <= seq) lo = l.offset;
    else hi = mid;
  }
  return lo;
}

async function scanFor(file: string, start: number, seq: number, hinted: boolean): Promise<Entry | null> {
  for await (const l of readLines(file, { start })) {
    if (!l.terminated) break;
    const hint = hinted ? seqHint(l.text) : null;
    if (hint !== null && hint < seq) continue;
    if (hint !== null && hint > seq) break;
    const e = JSON.parse(l.text) as Entry;
    if (e.seq === seq) return e;
    if (e.seq > seq) break;
  }
  return null;
}

/** The entry with `seq`, read from the segment that holds it. */
export async function findEntry(dir: string, knownStarts: Array<number | null>, seq: number): Promise<Entry> {
  const segments = await listSegments(dir);
  // The starts a live writer knows include segments a prune deleted since (retention/prune.ts):
  // then they no longer line up with the files, and are read again from the files.
  const aligned = segments.length === knownStarts.length || (segments.length === knownStarts.length - 1 && knownStarts.at(-1) === null);
  const segmentStarts = aligned ? knownStarts : await segmentStartsOf(segments);
  let idx = -1;
  segmentStarts.forEach((s, i) => {
    if (s !== null && s <= seq) idx = i;
  });
  if (idx >= 0) {
    const seg = segments[idx];
    if (seg !== undefined) {
      // Bisected and skimmed by the seq hint; should a line not be in the writer's form, the
      // segment is read again from its start, every line parsed.
      const found = (await scanFor(seg.path, await startNear(seg.path, seq), seq, true)) ?? (await scanFor(seg.path, 0, seq, false));
      if (found !== null) return found;
    }
  }
  throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `entry seq ${seq}`);
}

export interface LogReader {
  readonly dir: string;
  readonly segments: SegmentFile[];
  readonly segmentStarts: Array<number | null>;
  readonly latestCheckpoint: StoredCheckpoint | null;
  /** Leaves known to the tree (tiles + entries read after them). */
  readonly size: number;
  entry(seq: number): Promise<Entry>;
  /** Proof of `seq` against the newest checkpoint. */
  prove(seq: number): Promise<InclusionProofBundle>;
}

export async function openLogReader(dir: string): Promise<LogReader> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw logError('LLMAUDIT_E_VERIFY_FILE', `${dir}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  }
  if (!isDir) throw logError('LLMAUDIT_E_VERIFY_FILE', `${dir} is not a directory`);
  const segments = await listSegments(dir);
  const segmentStarts = await segmentStartsOf(segments);
  const latestCheckpoint = await readLatestCheckpoint(dir);
  // Read-only: a reader (prove, the admin server's proofs) runs beside a live writer and must never
  // delete the temp files or tiles the writer is in the middle of writing.
  const tiles = await TileStore.open(dir, { readOnly: true });
  // Rebuild the edge only up to the newest checkpoint: that is all a proof is made against.
  const need = latestCheckpoint?.size ?? 0;
  if (tiles.size < need) {
    let idx = 0;
    segmentStarts.forEach((s, i) => {
      if (s !== null && s <= tiles.size) idx = i;
    });
    let first = true;
    outer: for (const seg of segments.slice(idx)) {
      // The entries already in the tiles are neither read nor rehashed: the first segment is
      // bisected to near the first one that is not, and lines before it skipped by their seq hint.
      const start = first ? await startNear(seg.path, tiles.size) : 0;
      first = false;
      for await (const l of readLines(seg.path, { start })) {
        if (tiles.size >= need || !l.terminated) break outer;
        const hint = seqHint(l.text);
        if (hint !== null && hint < tiles.size) continue;
        const c = checkLine(l.text);
        if (isLineProblem(c)) throw logError('LLMAUDIT_E_LOG_PARSE', `${seg.name} line ${l.lineNo}: ${c.message}`);
        if (c.entry.seq < tiles.size) continue;
        if (c.entry.seq !== tiles.size) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `${seg.name} line ${l.lineNo}: seq ${c.entry.seq}, expected ${tiles.size}`);
        tiles.append(leafHash(c.computedHash));
      }
    }
    if (tiles.size < need) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `the log has ${tiles.size} entries but ${path.basename(latestCheckpoint?.path ?? '')} covers ${need}`);
  }
  return {
    dir,
    segments,
    segmentStarts,
    latestCheckpoint,
    size: tiles.size,
    entry: (seq) => findEntry(dir, segmentStarts, seq),
    prove: async (seq) => {
      if (latestCheckpoint === null) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', 'the log has no checkpoint yet');
      if (!Number.isSafeInteger(seq) || seq < 0 || seq >= latestCheckpoint.size) {
        throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `seq ${seq} is not covered by the newest checkpoint (size ${latestCheckpoint.size})`);
      }
      const entry = await findEntry(dir, segmentStarts, seq);
      return buildInclusionBundle({ entry, note: latestCheckpoint.note, tiles });
    },
  };
}
