// Where a report's entries come from: a chain directory, a log volume, or an audit pack. Each chain
// is verified first when keys are given (the log verifier for directories, the pack verifier for
// packs), so the report states what was checked, not only what the files say.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyLog } from '../auditlog/verifier.ts';
import type { NoteVerifier } from '../auditlog/signed-note.ts';
import type { Entry } from '../auditlog/types.ts';
import { chainsIn, readChainEntries } from './chains.ts';
import { looksLikePack, unpack } from './pack-reader.ts';
import { parseManifest } from './pack-manifest.ts';
import { verifyUnpacked } from './pack-verify.ts';
import type { ChainVerification } from './report-model.ts';

export interface ReportSource {
  label: string;
  chains: ChainVerification[];
  /** Entries of chain i, in seq order. */
  entries(i: number): AsyncGenerator<Entry>;
  close(): Promise<void>;
}

async function* fromLines(file: string): AsyncGenerator<Entry> {
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const l of text.split('\n')) if (l !== '') yield JSON.parse(l) as Entry;
}

async function* entriesOf(dir: string): AsyncGenerator<Entry> {
  for await (const l of readChainEntries(dir)) yield l.entry;
}

export async function openReportSource(source: string, keys: NoteVerifier[], witnessKeys: NoteVerifier[]): Promise<ReportSource> {
  if (await looksLikePack(source)) return openPack(source, keys, witnessKeys);
  const chains = await chainsIn(source);
  const out: ChainVerification[] = [];
  for (const c of chains) {
    let first: Entry | null = null;
    for await (const e of entriesOf(c.dir)) {
      first = e;
      break;
    }
    const base: ChainVerification = { path: c.path, origin: first?.origin ?? null, entries: 0, kind: 'log', status: 'not verified', exit: null, code: null, message: null, checkpoint: null, witnessed: [] };
    if (keys.length > 0) {
      const r = await verifyLog(c.dir, { keys });
      Object.assign(base, {
        entries: r.entries,
        status: r.failure === null ? 'intact' : 'failed',
        exit: r.exit,
        code: r.failure?.code ?? null,
        message: r.failure?.message ?? null,
        checkpoint: r.latestCheckpoint,
        origin: r.origin ?? base.origin,
      });
    }
    out.push(base);
  }
  return { label: path.basename(source), chains: out, entries: (i) => entriesOf((chains[i] as { dir: string }).dir), close: () => Promise.resolve() };
}

async function openPack(file: string, keys: NoteVerifier[], witnessKeys: NoteVerifier[]): Promise<ReportSource> {
  const unpacked = await unpack(file);
  try {
    const manifest = parseManifest(await readFile(path.join(unpacked.dir, 'manifest.json'), 'utf8'));
    const report = keys.length > 0 ? await verifyUnpacked(unpacked, file, { keys, witnessKeys }) : null;
    const chains: ChainVerification[] = manifest.chains.map((c) => {
      const r = report?.chains.find((x) => x.path === c.path && x.kind !== 'files');
      const files = report?.chains.find((x) => x.kind === 'files');
      const failure = r?.failure ?? files?.failure ?? null;
      return {
        path: c.path,
        origin: c.origin,
        entries: c.entries,
        kind: c.kind,
        status: report === null ? 'not verified' : failure === null ? 'intact' : 'failed',
        exit: report === null ? null : (failure?.exit ?? 0),
        code: failure?.code ?? null,
        message: failure?.message ?? null,
        checkpoint: c.checkpoint === null ? null : { size: c.checkpoint.size, rootHash: c.checkpoint.rootHash, writtenAt: null },
        witnessed: r?.witnessed ?? [],
      };
    });
    const dirOf = (i: number): string => path.join(unpacked.dir, 'chains', ...(manifest.chains[i]?.path ?? '').split('/'));
    return {
      label: path.basename(file),
      chains,
      entries: (i) => (manifest.chains[i]?.kind === 'partial' ? fromLines(path.join(dirOf(i), 'entries.jsonl')) : entriesOf(dirOf(i))),
      close: () => unpacked.close(),
    };
  } catch (err) {
    await unpacked.close();
    throw err;
  }
}
