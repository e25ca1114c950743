// `llmaudit verify DIR --key VKEY [--since CHECKPOINT_FILE] [--json]`: verifies a whole log and
// exits with the format's status: 0 intact, 1 file error, 2 chain broken, 3 entry tampered,
// 4 parse error, 5 signature invalid or wrong key, 6 inconsistent with the --since checkpoint.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { verifyLog } from '../../auditlog/verifier.ts';
import { logError } from '../../auditlog/log-errors.ts';
import { commonError } from '../../errors.ts';
import { readVerifierKey } from '../key-input.ts';
import { createProgress } from '../progress.ts';
import { collect } from './common.ts';
import type { CliContext } from '../cli-context.ts';

interface VerifyOpts {
  key: string[];
  since?: string;
  json?: boolean;
  allSignatures?: boolean;
  progress?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description('verify every entry, link, signature, segment and checkpoint of a log')
    .argument('<dir>', 'chain directory (seg-NNNNNN.jsonl, checkpoints/, tile/)')
    .option('--key <vkey>', 'verifier key file or text (name+hexid+base64); repeat for a rotated key', collect, [])
    .option('--since <checkpoint>', 'a signed checkpoint file kept earlier: the log must still contain it (else exit 6)')
    .option('--all-signatures', 'also check the signature of every entry a checkpoint covers (those are authenticated by the signed Merkle root already; slower)')
    .option('--json', 'print the full report as JSON on stdout')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(async (dir: string, opts: VerifyOpts) => {
      if (opts.key.length === 0) throw commonError('LLMAUDIT_E_USAGE', 'verify needs --key VKEY');
      const keys = opts.key.map((k) => readVerifierKey(k, ctx.io.cwd));
      let since: string | undefined;
      if (opts.since !== undefined) {
        try {
          since = await readFile(path.resolve(ctx.io.cwd, opts.since), 'utf8');
        } catch (err) {
          throw logError('LLMAUDIT_E_VERIFY_FILE', `--since ${opts.since}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
        }
      }
      const progress = createProgress(ctx.io, opts.json !== true && opts.progress !== false);
      const report = await verifyLog(path.resolve(ctx.io.cwd, dir), {
        keys,
        ...(since === undefined ? {} : { since }),
        entrySignatures: opts.allSignatures === true ? 'all' : 'uncovered',
        onProgress: (p) => progress.update(p.bytes, p.totalBytes, `${p.entries} entries`),
      });
      progress.done();
      ctx.exitCode = report.exit;
      if (opts.json === true) {
        ctx.io.stdout(`${JSON.stringify(report)}\n`);
        return;
      }
      for (const w of report.warnings) ctx.io.stderr(`llmaudit: warning: ${w}\n`);
      if (report.failure !== null) {
        ctx.io.stderr(`llmaudit: ${report.failure.code}: ${report.failure.message}\n`);
        return;
      }
      const cp = report.latestCheckpoint === null ? 'no checkpoint yet' : `newest checkpoint: size ${report.latestCheckpoint.size}, root ${report.latestCheckpoint.rootHash}`;
      const sinceText = report.since === null ? '' : `; consistent with the given checkpoint at size ${report.since.size}`;
      ctx.io.stdout(`intact: ${report.entries} entries in ${report.segments} segments (${report.bytes} bytes), origin ${report.origin ?? '-'}; ${report.checkpointsChecked} checkpoint checks; ${cp}${sinceText}\n`);
    });
}
