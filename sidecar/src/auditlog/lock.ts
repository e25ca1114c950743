// One writer per chain directory (ADR 0004 "Lock"). Node has no flock(2), and advisory locks are
// unreliable on network volumes anyway, so the lock is a file `LOCK` that appears atomically with
// its content (written to a temp file, then link(2)ed into place: link fails with EEXIST if the
// lock exists, and the lock is never seen empty). It records who holds it:
//   { pid, startTime, host, createdAt }
// A lock is stale when its holder is gone: same host and (no process with that pid, or a process
// with that pid that started at another time, i.e. the pid was reused). The start time comes from
// /proc/<pid>/stat field 22 (proc(5)); it matters in containers, where a restarted container's
// writer is often pid 1 again. A lock from another host is never taken over: we cannot see its
// processes, so the caller gets LLMAUDIT_E_LOG_LOCKED and an operator decides.
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { LOCK_FILE } from './layout.ts';
import { logError } from './log-errors.ts';

export interface LockInfo {
  pid: number;
  startTime: string | null;
  host: string;
  createdAt: string;
}

export interface HeldLock {
  readonly path: string;
  readonly info: LockInfo;
  release(): Promise<void>;
}

/** Start time of a process in clock ticks since boot, or null where /proc is not available. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) is in parentheses and may contain spaces and ')': split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // fields[0] is field 3 (state), so field 22 (starttime) is fields[19]
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string') return null;
    return { pid: v.pid, startTime: typeof v.startTime === 'string' ? v.startTime : null, host: v.host, createdAt: String(v.createdAt ?? '') };
  } catch {
    return null;
  }
}

/** Pure decision: may `holder` be replaced by a process on `host`? */
export function isStale(holder: LockInfo | null, host: string, alive: (pid: number) => boolean, startOf: (pid: number) => string | null): boolean {
  // Our writer never leaves an unparseable lock (it appears atomically), so one is debris.
  if (holder === null) return true;
  if (holder.host !== host) return false;
  if (!alive(holder.pid)) return true;
  const now = startOf(holder.pid);
  return holder.startTime !== null && now !== null && now !== holder.startTime;
}

export async function acquireLock(dir: string, options: { host?: string } = {}): Promise<HeldLock> {
  const host = options.host ?? hostname();
  const lockPath = path.join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, startTime: processStartTime(process.pid), host, createdAt: new Date().toISOString() };
  const mine = JSON.stringify(info) + '\n';
  const tmp = path.join(dir, `.LOCK.${process.pid}.${Math.random().toString(36).slice(2)}`);
  await writeFile(tmp, mine, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await link(tmp, lockPath);
        return {
          path: lockPath,
          info,
          release: async () => {
            const now = await readFile(lockPath, 'utf8').catch(() => null);
            if (now === mine) await unlink(lockPath).catch(() => undefined);
          },
        };
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST') throw err;
      }
      const text = await readFile(lockPath, 'utf8').catch(() => null);
      if (text === null) continue; // released meanwhile: try again
      const holder = parseLock(text);
      if (!isStale(holder, host, pidAlive, processStartTime)) {
        throw logError('LLMAUDIT_E_LOG_LOCKED', `${lockPath} is held by pid ${holder?.pid} on ${holder?.host} since ${holder?.createdAt}`, { details: { holder } });
      }
      // Take over: move the stale lock aside, and check that what we moved is the lock we judged
      // stale (another starter may have replaced it in between); if not, put it back.
      const aside = `${lockPath}.stale.${process.pid}.${attempt}`;
      try {
        await rename(lockPath, aside);
      } catch (_err) {
        continue;
      }
      const moved = await readFile(aside, 'utf8').catch(() => null);
      if (moved !== text) await link(aside, lockPath).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
    }
    throw logError('LLMAUDIT_E_LOG_LOCKED', `${lockPath}: could not acquire the lock (contended)`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
