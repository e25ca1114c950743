// Read-only access to a chain directory for `llmaudit prove` and `llmaudit checkpoint`: finds one
// entry, and rebuilds the Merkle tree's right edge (hash tiles on disk + the entries after them)
// so proofs are served without rehashing the log. Takes no lock: it may run beside a live writer
// and then proves against the newest checkpoint, whose entries are all on disk.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { checkLine, isLineProblem } from './entry.ts';
import { listSegments, type SegmentFile } from './layout.ts';
import { readFirstLine, readLines, type SegmentLine } from './line-reader.ts';
import { logError } from './log-errors.ts';
import { inclusionProof, leafHash, rootFromReader } from './merkle.ts';
import { parseCheckpointBody } from './checkpoint.ts';
import { TileReader, TilesIncomplete } from './tile-reader.ts';
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
function seqHint(text: string): number | null {
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

async function scanFor(file: string, start: number, seq: number, hinted: boolean, chunkBytes?: number): Promise<Entry | null> {
  for await (const l of readLines(file, { start, ...(chunkBytes === undefined ? {} : { chunkBytes }) })) {
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
export async function findEntry(dir: string, segmentStarts: Array<number | null>, seq: number): Promise<Entry> {
  let idx = -1;
  segmentStarts.forEach((s, i) => {
    if (s !== null && s <= seq) idx = i;
  });
  if (idx >= 0) {
    const segments = await listSegments(dir);
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
  readonly latestCheckpoint: StoredCheckpoint | null;
  entry(seq: number): Promise<Entry>;
  /** Proof of `seq` against the newest checkpoint. */
  prove(seq: number): Promise<InclusionProofBundle>;
}

/** Bytes read per step of a bisection; below this many bytes between the bounds, lines are skimmed. */
const STEP_BYTES = 16 * 1024;

/** The first complete line that starts at or after `from` (or at 0), read through an open file. */
async function lineAt(fh: FileHandle, from: number): Promise<{ offset: number; text: string } | null> {
  const buf = Buffer.allocUnsafe(STEP_BYTES);
  let pos = from === 0 ? 0 : from - 1;
  let lineStart = from === 0 ? 0 : -1;
  const parts: Buffer[] = [];
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, STEP_BYTES, pos);
    if (bytesRead === 0) return null;
    const chunk = buf.subarray(0, bytesRead);
    let i = 0;
    if (lineStart === -1) {
      const nl = chunk.indexOf(10);
      if (nl === -1) {
        pos += bytesRead;
        continue;
      }
      lineStart = pos + nl + 1;
      i = nl + 1;
    }
    const end = chunk.indexOf(10, i);
    if (end !== -1) {
      parts.push(chunk.subarray(i, end));
      return { offset: lineStart, text: Buffer.concat(parts).toString('utf8') };
    }
    parts.push(Buffer.from(chunk.subarray(i)));
    pos += bytesRead;
  }
}

/**
 * The entry with `seq` found by bisection alone: segments by the seq of their first line, then
 * the segment by byte offset through one open file, then a few lines skimmed by their seq hint;
 * only the match is parsed. Null when a line on the way is not in the writer's form (the caller
 * then reads the segment from its start).
 */
async function bisectEntry(segments: SegmentFile[], seq: number): Promise<Entry | null> {
  let lo = 0;
  let hi = segments.length - 1;
  let idx = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const first = await readFirstLine((segments[mid] as SegmentFile).path);
    // The newest segment may have no complete line yet (a torn write): nothing to find there.
    const s = first === null ? (mid === segments.length - 1 ? Infinity : null) : seqHint(first);
    if (s === null) return null;
    if (s <= seq) {
      idx = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const seg = segments[idx];
  if (seg === undefined) return null;
  const fh = await open(seg.path, 'r');
  let from = 0;
  try {
    let end = (await fh.stat()).size;
    while (end - from > STEP_BYTES) {
      const mid = from + Math.floor((end - from) / 2);
      const l = await lineAt(fh, mid);
      const s = l === null ? null : seqHint(l.text);
      if (l === null) end = mid;
      else if (s === null) return null;
      else if (s <= seq) from = l.offset;
      else end = mid;
    }
  } finally {
    await fh.close();
  }
  return scanFor(seg.path, from, seq, true, STEP_BYTES * 4);
}

/** The entry with `seq`: bisected, or should a line not be in the writer's form, read line by line. */
async function lookUp(dir: string, segments: SegmentFile[], seq: number): Promise<Entry> {
  return (await bisectEntry(segments, seq)) ?? findEntry(dir, await segmentStartsOf(segments), seq);
}

/**
 * The tree's right edge rebuilt as before partial tiles: the tiles' full-tile prefix, then the
 * entries after it re-read from the segments and rehashed up to the newest checkpoint. Only for
 * a log whose tiles lack hashes a proof needs (tiles written without partial tiles).
 */
async function rebuildFromSegments(dir: string, segments: SegmentFile[], need: number, checkpointPath: string): Promise<TileStore> {
  const segmentStarts = await segmentStartsOf(segments);
  // Read-only: a reader (prove, the admin server's proofs) runs beside a live writer and must never
  // delete the temp files or tiles the writer is in the middle of writing.
  const tiles = await TileStore.open(dir, { readOnly: true });
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
    if (tiles.size < need) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `the log has ${tiles.size} entries but ${path.basename(checkpointPath)} covers ${need}`);
  }
  return tiles;
}

/**
 * The inclusion proof from the tiles alone (TileReader), checked against the checkpoint's root
 * computed from the same tiles; null when the tiles lack a hash or disagree with the root.
 */
async function proofFromTiles(dir: string, cp: { size: number; rootHash: Buffer }, seq: number): Promise<Buffer[] | null> {
  const tree = new TileReader(dir, cp.size);
  try {
    const [proof, root] = await Promise.all([inclusionProof(seq, cp.size, tree.hashAt), rootFromReader(cp.size, tree.hashAt)]);
    return root.equals(cp.rootHash) ? proof : null;
  } catch (err) {
    if (err instanceof TilesIncomplete) return null;
    throw err;
  }
}

/**
 * Opens a chain directory for reading: lists the segments and reads the newest checkpoint, nothing
 * more. A proof reads the tiles along its path and the one entry; only a log whose tiles lack the
 * right edge (written before partial tiles) has it rebuilt from the segments, once per reader.
 */
export async function openLogReader(dir: string): Promise<LogReader> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw logError('LLMAUDIT_E_VERIFY_FILE', `${dir}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  }
  if (!isDir) throw logError('LLMAUDIT_E_VERIFY_FILE', `${dir} is not a directory`);
  const segments = await listSegments(dir);
  const latestCheckpoint = await readLatestCheckpoint(dir);
  let rebuilt: Promise<TileStore> | undefined;
  return {
    dir,
    segments,
    latestCheckpoint,
    entry: (seq) => lookUp(dir, segments, seq),
    prove: async (seq) => {
      if (latestCheckpoint === null) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', 'the log has no checkpoint yet');
      if (!Number.isSafeInteger(seq) || seq < 0 || seq >= latestCheckpoint.size) {
        throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `seq ${seq} is not covered by the newest checkpoint (size ${latestCheckpoint.size})`);
      }
      const note = latestCheckpoint.note;
      const end = note.indexOf('\n\n');
      const cp = parseCheckpointBody(end === -1 ? note : note.slice(0, end + 1));
      const [entry, fast] = await Promise.all([lookUp(dir, segments, seq), proofFromTiles(dir, cp, seq)]);
      if (fast !== null) return buildInclusionBundle({ entry, note, tree: { inclusionProof: () => Promise.resolve(fast) } });
      rebuilt ??= rebuildFromSegments(dir, segments, latestCheckpoint.size, latestCheckpoint.path);
      return buildInclusionBundle({ entry, note, tree: await rebuilt });
    },
  };
}
