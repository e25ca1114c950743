// Follows the chains under a root (`llmaudit tail -f`): prints the last entries, then every new
// complete line as it is appended, moving on to the next segment when the writer rolls over and
// picking up chains that appear later (a new pod on the volume). Woken by fs.watch events (inotify
// on Linux); a slow rescan is the fallback for file systems that deliver no events (NFS, some
// FUSE mounts) and for events coalesced away. Never reads a line the writer has not finished.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { listSegments } from '../auditlog/layout.ts';
import { readLines } from '../auditlog/line-reader.ts';
import { findChainDirs, isChainDir } from '../auditlog/tree-verify.ts';
import { logError } from '../auditlog/log-errors.ts';
import type { Entry } from '../auditlog/types.ts';
import path from 'node:path';

export interface TailOptions {
  root: string;
  /** Entries to show before following (the newest, across chains, by time). */
  last: number;
  follow: boolean;
  accept: (e: Entry) => boolean;
  onEntry: (chainPath: string, e: Entry, line: string) => void;
  /** Called once the backlog is printed and, when following, watching has started. */
  onReady?: () => void;
  signal?: AbortSignal;
  /** Rescan period without events (the fallback). */
  rescanMs?: number;
}

interface Cursor {
  dir: string;
  path: string;
  segment: number;
  offset: number;
}

async function chainList(root: string): Promise<Array<{ dir: string; path: string }>> {
  if (await isChainDir(root)) return [{ dir: root, path: path.basename(root) }];
  return (await findChainDirs(root)).chains.map((c) => ({ dir: c.dir, path: c.path }));
}

/** Reads the complete lines after the cursor, across segment rollovers; advances the cursor. */
async function drain(cur: Cursor, emit: (e: Entry, line: string) => void): Promise<void> {
  for (const seg of await listSegments(cur.dir)) {
    if (seg.number < cur.segment) continue;
    if (seg.number > cur.segment) {
      cur.segment = seg.number;
      cur.offset = 0;
    }
    for await (const l of readLines(seg.path, { start: cur.offset })) {
      if (!l.terminated) break;
      cur.offset = l.offset + l.bytes;
      if (l.text === '') continue;
      let e: Entry;
      try {
        e = JSON.parse(l.text) as Entry;
      } catch (err) {
        throw logError('LLMAUDIT_E_LOG_PARSE', `${cur.path}/${seg.name} line ${l.lineNo}: not JSON`, { cause: err });
      }
      emit(e, l.text);
    }
  }
}

export async function tailLog(o: TailOptions): Promise<void> {
  const st = await stat(o.root).catch((err: unknown) => {
    throw logError('LLMAUDIT_E_VERIFY_FILE', `${o.root}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  });
  if (!st.isDirectory()) throw logError('LLMAUDIT_E_VERIFY_FILE', `${o.root} is not a directory`);
  const cursors = new Map<string, Cursor>();
  const initial = await chainList(o.root);
  if (initial.length === 0 && !o.follow) throw logError('LLMAUDIT_E_VERIFY_NO_CHAIN', o.root);

  // Backlog: the newest `last` accepted entries over all chains, oldest first.
  const backlog: Array<{ chain: string; e: Entry; line: string }> = [];
  for (const c of initial) {
    const cur: Cursor = { dir: c.dir, path: c.path, segment: 0, offset: 0 };
    cursors.set(c.dir, cur);
    await drain(cur, (e, line) => {
      if (!o.accept(e) || o.last === 0) return;
      backlog.push({ chain: c.path, e, line });
      if (backlog.length > o.last * 2 + 1024) backlog.splice(0, backlog.length - o.last);
    });
  }
  backlog.sort((a, b) => (a.e.ts < b.e.ts ? -1 : a.e.ts > b.e.ts ? 1 : 0));
  for (const b of backlog.slice(Math.max(0, backlog.length - o.last))) o.onEntry(b.chain, b.e, b.line);
  if (!o.follow) {
    o.onReady?.();
    return;
  }

  let wake: () => void = () => undefined;
  let dirty = true;
  const poke = (): void => {
    dirty = true;
    wake();
  };
  const watchers: FSWatcher[] = [];
  try {
    // One recursive watch covers new chains, new segments and appends (Node ≥ 20 on Linux).
    watchers.push(watch(o.root, { recursive: true, persistent: true }, poke));
  } catch {
    watchers.push(watch(o.root, { persistent: true }, poke));
    for (const c of cursors.values()) watchers.push(watch(c.dir, { persistent: true }, poke));
  }
  for (const w of watchers) w.on('error', poke);
  const timer = setInterval(poke, o.rescanMs ?? 2000);
  const aborted = new Promise<void>((resolve) => {
    if (o.signal?.aborted === true) resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  o.onReady?.();
  try {
    while (o.signal?.aborted !== true) {
      if (!dirty) {
        await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
        continue;
      }
      dirty = false;
      for (const c of await chainList(o.root)) {
        if (!cursors.has(c.dir)) {
          cursors.set(c.dir, { dir: c.dir, path: c.path, segment: 0, offset: 0 });
          if (watchers.length > 1) watchers.push(watch(c.dir, { persistent: true }, poke));
        }
      }
      for (const cur of [...cursors.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
        await drain(cur, (e, line) => {
          if (o.accept(e)) o.onEntry(cur.path, e, line);
        });
      }
    }
  } finally {
    clearInterval(timer);
    for (const w of watchers) w.close();
  }
}
