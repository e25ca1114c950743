// Verifying every chain under a directory (docs/audit-log-format.md "Verifying a tree of logs"):
// a volume holds one chain directory per pod, `<root>/<namespace>/<pod>/seg-NNNNNN.jsonl ...`.
// findChainDirs() walks the tree (any depth) for directories holding segments; verifyTree()
// verifies each with verifyLog() and folds the results into one exit status, the most severe.
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { CHECKPOINT_DIR, SEGMENT_RE, TILE_DIR, listSegments } from './layout.ts';
import { VERIFY_EXIT_CODES, emptyReport, verifyLog, type VerifyExit, type VerifyOptions, type VerifyReport } from './verifier.ts';

/** A chain directory's own subdirectories: never searched for further chains. */
const CHAIN_SUBDIRS = new Set([CHECKPOINT_DIR, TILE_DIR, 'media']);

/**
 * Exit statuses from most to least severe. A tree exits with the first of these any chain has:
 * evidence changed (3) before evidence gone (2), before a fork against a kept checkpoint (6),
 * before a wrong key or replaced signature (5), a malformed file (4), an unreadable one (1).
 * Not the numeric maximum, which would let a wrong key (5) on one chain hide tampering (3) on another.
 */
export const EXIT_SEVERITY: readonly VerifyExit[] = [3, 2, 6, 5, 4, 1, 0];

export const EXIT_MEANING: Readonly<Record<VerifyExit, string>> = {
  0: 'intact',
  1: 'file error',
  2: 'chain broken',
  3: 'tampered',
  4: 'parse error',
  5: 'signature invalid or wrong key',
  6: 'inconsistent with the given checkpoint',
};

/** The most severe of the statuses by EXIT_SEVERITY (0 for none). */
export function worstExit(exits: Iterable<VerifyExit>): VerifyExit {
  let worst: VerifyExit = 0;
  for (const e of exits) if (EXIT_SEVERITY.indexOf(e) < EXIT_SEVERITY.indexOf(worst)) worst = e;
  return worst;
}

export interface FoundChain {
  /** Absolute path, as reached from the root (not resolved through symlinks). */
  dir: string;
  /** Path relative to the root, `/`-separated. */
  path: string;
  /** Total size of its segment files (for progress). */
  bytes: number;
}

export interface TreeScan {
  chains: FoundChain[];
  /** Directories that could not be listed: chains under them are not found. */
  unreadable: Array<{ dir: string; path: string; code: string }>;
}

/** True when `dir` holds at least one `seg-NNNNNN.jsonl`. */
export async function isChainDir(dir: string): Promise<boolean> {
  const names = await readdir(dir);
  return names.some((n) => SEGMENT_RE.test(n));
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Every chain directory under `root`, sorted by path. A chain directory is one holding
 * `seg-NNNNNN.jsonl`; its `media/`, `tile/` and `checkpoints/` are not searched (a namespace named
 * `media` elsewhere is). Symlinks are followed only to directories inside the root, and each real
 * directory is visited once (no loops, no chain counted twice).
 */
export async function findChainDirs(root: string): Promise<TreeScan> {
  const realRoot = await realpath(root);
  const scan: TreeScan = { chains: [], unreadable: [] };
  const seen = new Set<string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    let entries;
    try {
      const real = await realpath(dir);
      if (!isInside(realRoot, real) || seen.has(real)) return;
      seen.add(real);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      scan.unreadable.push({ dir, path: rel, code: (err as { code?: string }).code ?? String(err) });
      return;
    }
    const chain = entries.some((d) => SEGMENT_RE.test(d.name) && (d.isFile() || d.isSymbolicLink()));
    if (chain) {
      let bytes = 0;
      for (const s of await listSegments(dir)) bytes += await stat(s.path).then((st) => st.size, () => 0);
      scan.chains.push({ dir, path: rel, bytes });
    }
    for (const d of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (chain && CHAIN_SUBDIRS.has(d.name)) continue;
      const sub = path.join(dir, d.name);
      if (d.isSymbolicLink()) {
        const target = await stat(sub).catch(() => null);
        if (target === null || !target.isDirectory()) continue;
      } else if (!d.isDirectory()) continue;
      await walk(sub, rel === '' ? d.name : `${rel}/${d.name}`);
    }
  };
  await walk(root, '');
  scan.chains.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return scan;
}

export interface TreeChainReport extends VerifyReport {
  /** The chain directory relative to the root. */
  path: string;
}

export interface TreeSummary {
  chains: number;
  intact: number;
  failed: number;
  /** Chains per exit status, e.g. `{"0": 2, "3": 1}`; only statuses that occur. */
  byExit: Partial<Record<`${VerifyExit}`, number>>;
  entries: number;
  warnings: number;
  /** The most severe exit status of all chains (EXIT_SEVERITY). */
  exit: VerifyExit;
}

export interface TreeReport {
  root: string;
  chains: TreeChainReport[];
  summary: TreeSummary;
}

export interface TreeVerifyOptions extends Omit<VerifyOptions, 'since' | 'onProgress'> {
  /** Bytes of segments verified so far across all chains. */
  onProgress?: (p: { bytes: number; totalBytes: number; chain: number; chains: number; path: string }) => void;
  /** Called after each chain, in path order. */
  onChain?: (r: TreeChainReport) => void;
}

function unreadableReport(u: TreeScan['unreadable'][number]): TreeChainReport {
  return {
    path: u.path,
    ...emptyReport(u.dir),
    failure: { exit: 1, code: VERIFY_EXIT_CODES[1], message: `${u.path === '' ? '.' : u.path}: ${u.code}: the directory cannot be listed; chains under it are not verified` },
  };
}

export function summarize(chains: readonly TreeChainReport[]): TreeSummary {
  const byExit: TreeSummary['byExit'] = {};
  for (const c of chains) byExit[`${c.exit}`] = (byExit[`${c.exit}`] ?? 0) + 1;
  const intact = chains.filter((c) => c.exit === 0).length;
  return {
    chains: chains.length,
    intact,
    failed: chains.length - intact,
    byExit,
    entries: chains.reduce((n, c) => n + c.entries, 0),
    warnings: chains.reduce((n, c) => n + c.warnings.length, 0),
    exit: worstExit(chains.map((c) => c.exit)),
  };
}

/**
 * Verifies every chain found under `root`, in path order, one after another (verification is
 * CPU-bound). The
 * caller checks first that `root` is not itself a chain directory (then verifyLog() applies) and
 * handles a scan with nothing in it.
 */
export async function verifyTree(root: string, scan: TreeScan, options: TreeVerifyOptions): Promise<TreeReport> {
  const { onProgress, onChain, ...verifyOptions } = options;
  const totalBytes = scan.chains.reduce((n, c) => n + c.bytes, 0);
  const tasks: Array<{ path: string; chain?: FoundChain; unreadable?: TreeScan['unreadable'][number] }> = [...scan.chains.map((c) => ({ path: c.path, chain: c })), ...scan.unreadable.map((u) => ({ path: u.path, unreadable: u }))];
  tasks.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: TreeChainReport[] = [];
  let before = 0;
  let n = 0;
  for (const t of tasks) {
    let r: TreeChainReport;
    if (t.chain === undefined) r = unreadableReport(t.unreadable as TreeScan['unreadable'][number]);
    else {
      const c = t.chain;
      const chain = ++n;
      const report = await verifyLog(c.dir, {
        ...verifyOptions,
        ...(onProgress === undefined ? {} : { onProgress: (p) => p.phase === 'entries' && onProgress({ bytes: before + p.bytes, totalBytes, chain, chains: scan.chains.length, path: c.path }) }),
      });
      before += c.bytes;
      r = { path: c.path, ...report };
    }
    out.push(r);
    onChain?.(r);
  }
  return { root, chains: out, summary: summarize(out) };
}
