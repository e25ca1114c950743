// Finding chains and reading their entries for the auditor's tools. A source is one chain
// directory or any directory above chains (a log volume), as for `llmaudit verify`.
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { findChainDirs, isChainDir } from '../auditlog/tree-verify.ts';
import { listSegments } from '../auditlog/layout.ts';
import { readLines } from '../auditlog/line-reader.ts';
import { logError } from '../auditlog/log-errors.ts';
import type { Entry } from '../auditlog/types.ts';

export interface ChainRef {
  /** Absolute directory. */
  dir: string;
  /** Relative to the source root, `/`-separated; the directory's own name for a single chain. */
  path: string;
}

/** The chains in `source`: itself when it holds segments, else every chain under it. */
export async function chainsIn(source: string): Promise<ChainRef[]> {
  let st;
  try {
    st = await stat(source);
  } catch (err) {
    throw logError('LLMAUDIT_E_VERIFY_FILE', `${source}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  }
  if (!st.isDirectory()) throw logError('LLMAUDIT_E_VERIFY_FILE', `${source} is not a directory`);
  if (await isChainDir(source)) return [{ dir: source, path: path.basename(source) }];
  const scan = await findChainDirs(source);
  if (scan.chains.length === 0) throw logError('LLMAUDIT_E_VERIFY_NO_CHAIN', source);
  return scan.chains.map((c) => ({ dir: c.dir, path: c.path }));
}

export interface EntryLine {
  entry: Entry;
  /** The line as on disk, without its newline. */
  text: string;
  segment: string;
}

/**
 * Every complete entry of a chain, in seq order. A torn last line (a writer mid-write) is skipped;
 * a line that is not JSON is LLMAUDIT_E_LOG_PARSE (verify tells where the log is damaged).
 */
export async function* readChainEntries(dir: string): AsyncGenerator<EntryLine> {
  for (const seg of await listSegments(dir)) {
    for await (const l of readLines(seg.path)) {
      if (!l.terminated) break;
      if (l.text === '') continue;
      let entry: Entry;
      try {
        entry = JSON.parse(l.text) as Entry;
      } catch (err) {
        throw logError('LLMAUDIT_E_LOG_PARSE', `${seg.name} line ${l.lineNo}: not JSON`, { cause: err });
      }
      yield { entry, text: l.text, segment: seg.name };
    }
  }
}
