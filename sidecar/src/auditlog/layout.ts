// File names inside a chain directory (docs/audit-log-format.md "Segments"):
//   seg-000001.jsonl ...          entries, one JSON object per line, numbered from 1 without gaps
//                                 (a pruned log, retention/prune.ts, starts at a later number)
//   checkpoints/000000001234      the signed checkpoint at tree size 1234 (one file per size)
//   checkpoint                    a copy of the newest checkpoint (C2SP tlog-tiles location)
//   tile/...                      C2SP tlog-tiles hash tiles (derived data, rebuilt on demand)
//   LOCK                          the writer lock (lock.ts)
import { readdir } from 'node:fs/promises';
import path from 'node:path';

export const SEGMENT_RE = /^seg-(\d{6,})\.jsonl$/;
export const CHECKPOINT_DIR = 'checkpoints';
export const LATEST_CHECKPOINT = 'checkpoint';
export const TILE_DIR = 'tile';
export const LOCK_FILE = 'LOCK';

export function segmentName(n: number): string {
  return `seg-${String(n).padStart(6, '0')}.jsonl`;
}

export function checkpointName(size: number): string {
  return String(size).padStart(12, '0');
}

export interface SegmentFile {
  number: number;
  name: string;
  path: string;
}

/** Segment files sorted by number. Files that do not match the naming are ignored. */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const out: SegmentFile[] = [];
  for (const name of await readdir(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m?.[1] !== undefined) out.push({ number: Number(m[1]), name, path: path.join(dir, name) });
  }
  return out.sort((a, b) => a.number - b.number);
}

export interface CheckpointFile {
  size: number;
  name: string;
  path: string;
}

/** Checkpoint history files sorted by tree size; missing directory = none. */
export async function listCheckpoints(dir: string): Promise<CheckpointFile[]> {
  let names: string[];
  try {
    names = await readdir(path.join(dir, CHECKPOINT_DIR));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
  const out: CheckpointFile[] = [];
  for (const name of names) {
    if (/^\d+$/.test(name)) out.push({ size: Number(name), name, path: path.join(dir, CHECKPOINT_DIR, name) });
  }
  return out.sort((a, b) => a.size - b.size);
}
