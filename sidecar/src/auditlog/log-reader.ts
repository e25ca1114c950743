// Read-only access to a chain directory for `llmaudit prove`: finds one entry by bisection, and
// reads its inclusion proof from the hash tiles on its path (full and partial tiles, hashing only
// under the proof's nodes), so a proof costs the same at 1,000 or 1,000,000 entries. Takes no
// lock: it may run beside a live writer and then proves against the newest checkpoint, whose
// entries and tiles are all on disk.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { checkLine, isLineProblem } from './entry.ts';
import { listSegments, type SegmentFile } from './layout.ts';
import { readFirstLine, readLines, type SegmentLine } from './line-reader.ts';
import { logError } from './log-errors.ts';
import { inclusionProof, leafHash, rootFromReader } from './merkle.ts';
import { parseCheckpointBody } from './checkpoint.ts';
import { TileReader, type LeafSource } from './tile-reader.ts';
import { readLatestCheckpoint, type StoredCheckpoint } from './checkpoint-store.ts';
import { buildInclusionBundle } from './proof-bundle.ts';
import type { Entry, InclusionProofBundle } from './types.ts';

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

/** The last complete line of a file of `size` bytes (its start and seq hint), if it is shorter than a read. */
async function lastLine(fh: FileHandle, size: number): Promise<{ offset: number; seq: number } | null> {
  const start = Math.max(0, size - STEP_BYTES);
  const buf = Buffer.allocUnsafe(size - start);
  const { bytesRead } = await fh.read(buf, 0, buf.length, start);
  const chunk = buf.subarray(0, bytesRead);
  const endNl = chunk.lastIndexOf(10);
  if (endNl === -1) return null;
  const prevNl = endNl === 0 ? -1 : chunk.lastIndexOf(10, endNl - 1);
  if (prevNl === -1 && start > 0) return null;
  const seq = seqHint(chunk.toString('utf8', prevNl + 1, endNl));
  return seq === null ? null : { offset: start + prevNl + 1, seq };
}

/** The seq hint of a segment's first line; Infinity for a newest segment with no complete line yet. */
async function firstSeq(segments: SegmentFile[], i: number): Promise<number | null> {
  const first = await readFirstLine((segments[i] as SegmentFile).path);
  // The newest segment may have no complete line yet (a torn write): nothing to find there.
  return first === null ? (i === segments.length - 1 ? Infinity : null) : seqHint(first);
}

/**
 * The entry with `seq` found by search alone: the segment by the seq of its first line, then the
 * segment by byte offset through one open file, then a few lines skimmed by their seq hint; only
 * the match is parsed. Both searches interpolate first (segments are of one size and lines of
 * similar length, so a guess from the seqs lands near the entry) and bisect where that fails.
 * `total`, the entries in the log if known, guides the first guess. Null when a line on the way
 * is not in the writer's form (the caller then reads the segment from its start).
 */
async function bisectEntry(segments: SegmentFile[], seq: number, total?: number): Promise<Entry | null> {
  let lo = 0;
  let hi = segments.length - 1;
  let idx = -1;
  let loSeq = -1;
  if (total !== undefined && total > seq && segments.length > 1) {
    // Guess the segment and check it and the next one at once.
    const g = Math.min(segments.length - 1, Math.floor((seq / total) * segments.length));
    const [sg, sn] = await Promise.all([firstSeq(segments, g), g + 1 < segments.length ? firstSeq(segments, g + 1) : Promise.resolve(Infinity)]);
    if (sg === null || sn === null) return null;
    if (sg <= seq) {
      idx = g;
      loSeq = sg;
      lo = g + 1;
      if (sn > seq) hi = g;
      else {
        idx = g + 1;
        loSeq = sn;
        lo = g + 2;
      }
    } else hi = g - 1;
  }
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = await firstSeq(segments, mid);
    if (s === null) return null;
    if (s <= seq) {
      idx = mid;
      loSeq = s;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const seg = segments[idx];
  if (seg === undefined) return null;
  const fh = await open(seg.path, 'r');
  // Invariant: the line with `seq` starts in [from, end); loSeq/hiSeq are seqs near both bounds.
  let from = 0;
  try {
    let end = (await fh.stat()).size;
    const last = await lastLine(fh, end);
    let hiSeq: number | null = null;
    if (last !== null) {
      if (last.seq <= seq) from = last.offset;
      else {
        end = last.offset;
        hiSeq = last.seq;
      }
    }
    /** Narrows the bounds by the first line starting at or after `probe`; false if it is not in the writer's form. */
    const narrow = (l: { offset: number; text: string } | null, probe: number): boolean => {
      if (l === null || l.offset >= end) {
        end = Math.min(end, probe);
        return true;
      }
      const s = seqHint(l.text);
      if (s === null) return false;
      if (s <= seq) {
        if (l.offset > from) {
          from = l.offset;
          loSeq = s;
        }
      } else if (probe < end) {
        end = probe;
        hiSeq = s;
      }
      return true;
    };
    for (let step = 0; end - from > STEP_BYTES; step++) {
      if (step < 3 && hiSeq !== null && loSeq >= 0 && hiSeq > loSeq) {
        // Interpolated: two probes a step apart around where the seq should be, read at once.
        const center = from + Math.floor(((seq - loSeq) / (hiSeq - loSeq)) * (end - from));
        const a = Math.max(from + 1, center - STEP_BYTES / 2);
        const b = Math.min(end - 1, center + STEP_BYTES / 2);
        const [la, lb] = await Promise.all([lineAt(fh, a), lineAt(fh, b)]);
        if (!narrow(la, a) || !narrow(lb, b)) return null;
      } else {
        const mid = from + Math.floor((end - from) / 2);
        if (!narrow(await lineAt(fh, mid), mid)) return null;
      }
    }
  } finally {
    await fh.close();
  }
  return scanFor(seg.path, from, seq, true, STEP_BYTES * 4);
}

/** The entry with `seq`: bisected, or should a line not be in the writer's form, read line by line. */
async function lookUp(dir: string, segments: SegmentFile[], seq: number, total?: number): Promise<Entry> {
  return (await bisectEntry(segments, seq, total)) ?? findEntry(dir, await segmentStartsOf(segments), seq);
}

/**
 * Leaf hashes [from, from + count) read from the segments: the entries are bisected to, parsed,
 * and rehashed (a tree whose tiles lack them: written before partial tiles, or distrusted).
 */
function leavesFromSegments(segments: SegmentFile[], segmentStarts: () => Promise<Array<number | null>>): LeafSource {
  return async (from, count) => {
    const starts = await segmentStarts();
    let idx = 0;
    starts.forEach((s, i) => {
      if (s !== null && s <= from) idx = i;
    });
    const out: Buffer[] = [];
    let first = true;
    for (const seg of segments.slice(idx)) {
      // Bisected to near the first entry asked for; lines before it skipped by their seq hint.
      const start = first ? await startNear(seg.path, from) : 0;
      first = false;
      for await (const l of readLines(seg.path, { start })) {
        if (out.length === count || !l.terminated) break;
        const hint = seqHint(l.text);
        if (hint !== null && hint < from) continue;
        const c = checkLine(l.text);
        if (isLineProblem(c)) throw logError('LLMAUDIT_E_LOG_PARSE', `${seg.name} line ${l.lineNo}: ${c.message}`);
        if (c.entry.seq < from) continue;
        if (c.entry.seq !== from + out.length) throw logError('LLMAUDIT_E_CHAIN_BROKEN', `${seg.name} line ${l.lineNo}: seq ${c.entry.seq}, expected ${from + out.length}`);
        out.push(leafHash(c.computedHash));
      }
      if (out.length === count) return Buffer.concat(out);
    }
    throw logError('LLMAUDIT_E_CHAIN_BROKEN', `the log has no entry ${from + out.length}, but its newest checkpoint covers ${from + count}`);
  };
}

/**
 * The inclusion proof from the tiles (TileReader), checked against the checkpoint's root computed
 * from the same hashes; null when they disagree.
 */
async function proofFromTiles(tree: TileReader, rootHash: Buffer, seq: number): Promise<Buffer[] | null> {
  const [proof, root] = await Promise.all([inclusionProof(seq, tree.size, tree.hashAt), rootFromReader(tree.size, tree.hashAt)]);
  return root.equals(rootHash) ? proof : null;
}

/**
 * Opens a chain directory for reading: lists the segments and reads the newest checkpoint, nothing
 * more. A proof reads the tiles along its path and the one entry; a log whose tiles lack the right
 * edge (written before partial tiles) has the missing leaf hashes read from the segments.
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
  let starts: Promise<Array<number | null>> | undefined;
  const leaves = leavesFromSegments(segments, () => (starts ??= segmentStartsOf(segments)));
  return {
    dir,
    segments,
    latestCheckpoint,
    entry: (seq) => lookUp(dir, segments, seq, latestCheckpoint?.size),
    prove: async (seq) => {
      if (latestCheckpoint === null) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', 'the log has no checkpoint yet');
      if (!Number.isSafeInteger(seq) || seq < 0 || seq >= latestCheckpoint.size) {
        throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `seq ${seq} is not covered by the newest checkpoint (size ${latestCheckpoint.size})`);
      }
      const note = latestCheckpoint.note;
      const end = note.indexOf('\n\n');
      const cp = parseCheckpointBody(end === -1 ? note : note.slice(0, end + 1));
      const [entry, fromTiles] = await Promise.all([lookUp(dir, segments, seq, cp.size), proofFromTiles(new TileReader(dir, cp.size, { leaves }), cp.rootHash, seq)]);
      // Tiles that disagree with the signed root: a partial tile left past the log's end by a
      // crash, or damaged. The proof is then made without partial tiles, the edge from the entries.
      const proof = fromTiles ?? (await inclusionProof(seq, cp.size, new TileReader(dir, cp.size, { leaves, partials: false }).hashAt));
      return buildInclusionBundle({ entry, note, tree: { inclusionProof: () => Promise.resolve(proof) } });
    },
  };
}
