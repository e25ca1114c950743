// `llmaudit verify DIR --key VKEY... [--since CHECKPOINT_FILE] [--from-seq SEQ] [--strict-media] [--json]`: verifies
// a whole log and exits with the format's status: 0 intact, 1 file error, 2 chain broken, 3 entry
// (or media) tampered, 4 parse error, 5 signature invalid or wrong key, 6 inconsistent with the
// --since checkpoint. DIR is a chain directory, or any directory above chains (a log volume:
// `<root>/<namespace>/<pod>/...`): then every chain under it is verified, one line each plus a
// summary, and the exit status is the most severe of theirs (auditlog/tree-verify.ts). A pruned log
// (retention mode delete-segments) verifies from its cut: `intact from seq N (pruned before: ...)`.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { verifyLog, type VerifyReport } from '../../auditlog/verifier.ts';
import { EXIT_MEANING, findChainDirs, isChainDir, verifyTree, type TreeChainReport, type TreeSummary } from '../../auditlog/tree-verify.ts';
import { logError } from '../../auditlog/log-errors.ts';
import { commonError } from '../../errors.ts';
import type { NoteVerifier } from '../../auditlog/signed-note.ts';
import { readVerifierKey } from '../key-input.ts';
import { createProgress } from '../progress.ts';
import { collect } from './common.ts';
import { checkWitnessed } from '../../witness/witness-check.ts';
import { looksLikePack } from '../../audit-tools/pack-reader.ts';
import { verifyPackCli } from './verify-pack.ts';
import type { CliContext } from '../cli-context.ts';

interface VerifyOpts {
  key: string[];
  since?: string;
  fromSeq?: string;
  witnessKey: string[];
  json?: boolean;
  allSignatures?: boolean;
  strictMedia?: boolean;
  progress?: boolean;
}

/** True when DIR is an existing directory without segments of its own: verify the chains under it. */
async function isTreeRoot(dir: string): Promise<boolean> {
  const st = await stat(dir).catch(() => null);
  if (st?.isDirectory() !== true) return false; // verifyLog reports it (file error)
  return !(await isChainDir(dir).catch(() => true));
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description('verify every entry, link, signature, segment, checkpoint and media file of a log, or of every log under a directory')
    .argument('<dir>', 'chain directory (seg-NNNNNN.jsonl, checkpoints/, tile/, media/), or a directory above chain directories (all are verified), or an audit pack from `llmaudit export` (.tar.gz)')
    .option('--key <vkey>', 'verifier key file or text (name+hexid+base64); repeat for rotated keys or chains signed by different keys', collect, [])
    .option('--since <checkpoint>', 'a signed checkpoint file kept earlier: the log must still contain it (else exit 6); one chain directory only')
    .option('--from-seq <seq>', 'start at this seq (a huge log): earlier entries are not read; the tree there comes from the hash tiles and is trusted as far as the signed checkpoints prove it; one chain directory only')
    .option('--witness-key <vkey>', 'a witness verifier key (type 0x04): the log must carry its cosignatures, and --since, if given, too (else exit 5); reports when the newest checkpoint was witnessed; one chain directory only', collect, [])
    .option('--all-signatures', 'also check the signature of every entry a checkpoint covers (those are authenticated by the signed Merkle root already; slower)')
    .option('--strict-media', 'a media file an entry references that is missing fails the log (exit 2) instead of a warning')
    .option('--json', 'print the full report as JSON on stdout')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(async (dir: string, opts: VerifyOpts) => {
      if (opts.key.length === 0) throw commonError('LLMAUDIT_E_USAGE', 'verify needs --key VKEY');
      const keys = opts.key.map((k) => readVerifierKey(k, ctx.io.cwd));
      const root = path.resolve(ctx.io.cwd, dir);
      // An audit pack from `llmaudit export` (a gzip file): verified inside, see commands/verify-pack.ts.
      const fromSeq = opts.fromSeq === undefined ? undefined : Number(opts.fromSeq);
      if (fromSeq !== undefined && (!/^\d{1,15}$/.test(opts.fromSeq ?? '') || !Number.isSafeInteger(fromSeq))) throw commonError('LLMAUDIT_E_USAGE', `--from-seq ${opts.fromSeq ?? ''} is not a seq (a non-negative integer)`);
      if (await looksLikePack(root)) {
        if (opts.since !== undefined || fromSeq !== undefined) throw commonError('LLMAUDIT_E_USAGE', '--since and --from-seq apply to a chain directory, not to a pack');
        await verifyPackCli(ctx, root, keys, opts.witnessKey.map((k) => readVerifierKey(k, ctx.io.cwd)), opts);
        return;
      }
      if (await isTreeRoot(root)) {
        if (opts.since !== undefined) throw commonError('LLMAUDIT_E_USAGE', `--since applies to one chain: ${dir} holds no segments itself; give the chain directory the checkpoint belongs to`);
        if (fromSeq !== undefined) throw commonError('LLMAUDIT_E_USAGE', `--from-seq applies to one chain: ${dir} holds no segments itself`);
        if (opts.witnessKey.length > 0) throw commonError('LLMAUDIT_E_USAGE', `--witness-key applies to one chain: ${dir} holds no segments itself`);
        await verifyAll(ctx, root, keys, opts);
        return;
      }
      let since: string | undefined;
      if (opts.since !== undefined) {
        try {
          since = await readFile(path.resolve(ctx.io.cwd, opts.since), 'utf8');
        } catch (err) {
          throw logError('LLMAUDIT_E_VERIFY_FILE', `--since ${opts.since}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
        }
      }
      const progress = createProgress(ctx.io, opts.json !== true && opts.progress !== false);
      const report = await verifyLog(root, {
        keys,
        ...(since === undefined ? {} : { since }),
        ...(fromSeq === undefined ? {} : { fromSeq }),
        entrySignatures: opts.allSignatures === true ? 'all' : 'uncovered',
        strictMedia: opts.strictMedia === true,
        onProgress: (p) => progress.update(p.bytes, p.totalBytes, p.phase === 'media' ? 'media files' : `${p.entries} entries`),
      });
      progress.done();
      ctx.exitCode = report.exit;
      // Witness cosignatures: checked once the log itself verified (its checkpoints match its tree).
      const witnessKeys = opts.witnessKey.map((k) => readVerifierKey(k, ctx.io.cwd));
      const witnessed = witnessKeys.length > 0 && report.exit === 0 ? await checkWitnessed(root, witnessKeys, since) : null;
      if (witnessed !== null && !witnessed.ok) {
        ctx.exitCode = witnessed.exit;
        if (opts.json === true) ctx.io.stdout(`${JSON.stringify({ ...report, ok: false, exit: witnessed.exit, failure: { exit: witnessed.exit, code: witnessed.code, message: witnessed.message } })}\n`);
        else ctx.io.stderr(`llmaudit: ${witnessed.code}: ${witnessed.message}\n`);
        return;
      }
      if (opts.json === true) {
        ctx.io.stdout(`${JSON.stringify(witnessed === null ? report : { ...report, witnessed: witnessed.newest })}\n`);
        return;
      }
      for (const w of report.warnings) ctx.io.stderr(`llmaudit: warning: ${w}\n`);
      if (report.failure !== null) {
        ctx.io.stderr(`llmaudit: ${report.failure.code}: ${report.failure.message}\n`);
        return;
      }
      const cp = report.latestCheckpoint === null ? 'no checkpoint yet' : `newest checkpoint: size ${report.latestCheckpoint.size}, root ${report.latestCheckpoint.rootHash}`;
      const sinceText = report.since === null ? '' : `; consistent with the given checkpoint at size ${report.since.size}`;
      const w = witnessed?.ok === true && witnessed.newest !== null ? `; newest witnessed checkpoint: size ${witnessed.newest.size}, cosigned by ${witnessed.newest.cosignature.name} at ${new Date(witnessed.newest.cosignature.timestamp * 1000).toISOString().replace(/\.000Z$/, 'Z')}` : '';
      ctx.io.stdout(`${intactText(report)}: ${report.from === 0 ? `${report.entries} entries` : `${report.entries - report.from} entries (seq ${report.from} to ${report.entries - 1})`} in ${report.segments} segments (${report.bytes} bytes), origin ${report.origin ?? '-'}; ${report.checkpointsChecked} checkpoint checks; ${cp}${sinceText}${w}${mediaText(report)}${erasedText(report)}\n`);
    });
}

/** `intact`, or `intact from seq 512 (pruned before: record at seq 731)` for a log verified from a later seq. */
function intactText(r: VerifyReport): string {
  if (r.from === 0) return 'intact';
  const why = r.pruned === null || r.pruned.recordSeq === null || r.pruned.firstSeq !== r.from ? 'entries before it not read: --from-seq' : `pruned before: record at seq ${r.pruned.recordSeq}`;
  return `intact from seq ${r.from} (${why})`;
}

/** `; 3 parts erased (by erasure records at seq 40, 52)` when content was erased. */
function erasedText(r: VerifyReport): string {
  if (r.erased.parts === 0) return '';
  return `; ${plural(r.erased.parts, 'part', 'parts')} erased (by erasure records at seq ${r.erased.records.join(', ')})`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function mediaText(r: VerifyReport): string {
  const { files, bytes, missing } = r.media;
  if (files === 0 && missing === 0) return '';
  return `; ${plural(files, 'media file', 'media files')} (${bytes} bytes) match their entries${missing === 0 ? '' : `, ${missing} missing`}`;
}

/** `3 tampered (LLMAUDIT_E_ENTRY_TAMPERED): seg-000001.jsonl line 3 seq 2: ...` or `intact (0)`. */
function resultText(r: TreeChainReport): string {
  if (r.failure === null) {
    const notes = [r.media.missing > 0 ? `${plural(r.media.missing, 'media file', 'media files')} missing` : '', r.warnings.length > 0 ? plural(r.warnings.length, 'warning', 'warnings') : ''].filter((x) => x !== '');
    return `intact (0)${notes.length === 0 ? '' : `, ${notes.join(', ')}`}`;
  }
  return `${EXIT_MEANING[r.exit]} (${r.exit} ${r.failure.code}): ${r.failure.message}`;
}

function chainLine(r: TreeChainReport, width: number): string {
  const cp = r.latestCheckpoint === null ? 'no checkpoint' : `checkpoint ${r.latestCheckpoint.size} @ ${r.latestCheckpoint.writtenAt.replace(/\.\d{3}Z$/, 'Z')}`;
  const entries = `${plural(r.entries - r.from, 'entry', 'entries')}${r.from === 0 ? '' : ` from seq ${r.from}`}${r.failure === null ? '' : ' verified'}`;
  return `${r.path.padEnd(width)}  ${r.origin ?? '-'}  ${entries}  ${cp}  ${resultText(r)}`;
}

function summaryLine(s: TreeSummary): string {
  const failed = Object.entries(s.byExit)
    .filter(([e]) => e !== '0')
    .map(([e, n]) => `${n} ${EXIT_MEANING[Number(e) as keyof typeof EXIT_MEANING]}`);
  const warn = s.warnings === 0 ? '' : `, ${plural(s.warnings, 'warning', 'warnings')}`;
  return `${plural(s.chains, 'chain', 'chains')}: ${s.intact} intact, ${s.failed} failed${failed.length === 0 ? '' : ` (${failed.join(', ')})`}${warn}; ${plural(s.entries, 'entry', 'entries')} verified; exit ${s.exit} (${EXIT_MEANING[s.exit]})`;
}

async function verifyAll(ctx: CliContext, root: string, keys: NoteVerifier[], opts: VerifyOpts): Promise<void> {
  const json = opts.json === true;
  const scan = await findChainDirs(root);
  if (scan.chains.length === 0 && scan.unreadable.length === 0) {
    throw logError('LLMAUDIT_E_VERIFY_NO_CHAIN', root);
  }
  const progress = createProgress(ctx.io, !json && opts.progress !== false);
  const width = Math.max(...scan.chains.map((c) => c.path.length), ...scan.unreadable.map((u) => u.path.length));
  const report = await verifyTree(root, scan, {
    keys,
    entrySignatures: opts.allSignatures === true ? 'all' : 'uncovered',
    strictMedia: opts.strictMedia === true,
    onProgress: (p) => progress.update(p.bytes, p.totalBytes, `chain ${p.chain}/${p.chains} ${p.path}`),
    onChain: (r) => {
      if (json) return;
      progress.done();
      ctx.io.stdout(`${chainLine(r, width)}\n`);
      for (const w of r.warnings) ctx.io.stderr(`llmaudit: warning: ${r.path}: ${w}\n`);
    },
  });
  progress.done();
  ctx.exitCode = report.summary.exit;
  if (json) {
    ctx.io.stdout(`${JSON.stringify(report)}\n`);
    return;
  }
  ctx.io.stdout(`${summaryLine(report.summary)}\n`);
  if (report.summary.exit !== 0) {
    const worst = report.chains.find((c) => c.exit === report.summary.exit) as TreeChainReport;
    ctx.io.stderr(`llmaudit: ${worst.failure?.code ?? ''}: ${report.summary.failed} of ${report.summary.chains} chains failed verification; the most severe: ${worst.path}\n`);
  }
}
