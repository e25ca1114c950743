// Checkpoint files of a chain directory (docs/audit-log-format.md "Segments"): every checkpoint the
// writer signs is kept as checkpoints/<size, 12 digits> and never deleted (a prune, retention/prune.ts,
// deletes sealed segments, never checkpoints); `checkpoint` holds a copy of the newest one, where C2SP
// tlog-tiles clients look for it.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CHECKPOINT_DIR, LATEST_CHECKPOINT, checkpointName, listCheckpoints } from './layout.ts';
import { writeFileAtomic, type LogFs } from './log-fs.ts';

export async function storeCheckpoint(fs: LogFs, dir: string, size: number, note: string): Promise<void> {
  const file = path.join(dir, CHECKPOINT_DIR, checkpointName(size));
  // Ed25519 is deterministic, so a second checkpoint at the same size is the same text; keep the
  // first (it may already carry witness cosignatures).
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (!exists) await writeFileAtomic(fs, file, note);
  await writeFileAtomic(fs, path.join(dir, LATEST_CHECKPOINT), note);
}

export interface StoredCheckpoint {
  size: number;
  note: string;
  path: string;
}

/** The checkpoint with the largest tree size, or null when none was written yet. */
export async function readLatestCheckpoint(dir: string): Promise<StoredCheckpoint | null> {
  const all = await listCheckpoints(dir);
  const last = all.at(-1);
  if (last === undefined) return null;
  return { size: last.size, note: await readFile(last.path, 'utf8'), path: last.path };
}

/** The checkpoint signed at exactly `size` (kept forever under checkpoints/), or null when none was. */
export async function readCheckpointAt(dir: string, size: number): Promise<string | null> {
  try {
    return await readFile(path.join(dir, CHECKPOINT_DIR, checkpointName(size)), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
