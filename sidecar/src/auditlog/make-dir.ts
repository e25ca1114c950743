import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p` that keeps the reason a level could not be made. Node's recursive mkdir stats the
 * path after a failed level and reports that stat's ENOENT instead of the mkdir's own EROFS or
 * EACCES, so a log directory on a read-only root filesystem (the log volume not mounted where
 * the config points) would read as "no such file" rather than "read-only". On ENOENT this makes
 * the levels one at a time and throws the first real error.
 */
export async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const levels: string[] = [];
  for (let d = path.resolve(dir); d !== path.dirname(d); d = path.dirname(d)) levels.unshift(d);
  for (const level of levels) {
    try {
      await mkdir(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
