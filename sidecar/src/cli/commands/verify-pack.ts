// `llmaudit verify PACK.tar.gz --key VKEY [--witness-key W]`: verifies an audit pack from
// `llmaudit export` without unpacking by hand (audit-tools/pack-verify.ts); same exit statuses as
// verifying a directory. One line per chain, a summary; --json prints the report.
import { verifyPack, type PackChainResult } from '../../audit-tools/pack-verify.ts';
import { EXIT_MEANING } from '../../auditlog/tree-verify.ts';
import type { NoteVerifier } from '../../auditlog/signed-note.ts';
import { createProgress } from '../progress.ts';
import type { CliContext } from '../cli-context.ts';

export interface VerifyPackOpts {
  json?: boolean;
  strictMedia?: boolean;
  progress?: boolean;
}

function line(r: PackChainResult, width: number): string {
  const what = r.kind === 'files' ? 'manifest: every file listed with its SHA-256' : `${r.origin ?? '-'}  ${r.kind}  ${r.entries} ${r.entries === 1 ? 'entry' : 'entries'}${r.kind === 'partial' ? ' (inclusion proofs)' : ''}`;
  const witnessed = r.witnessed.length === 0 ? '' : `  witnessed by ${r.witnessed.map((w) => `${w.name} @ ${new Date(w.timestamp * 1000).toISOString().replace(/\.000Z$/, 'Z')}`).join(', ')}`;
  const res = r.failure === null ? 'intact (0)' : `${EXIT_MEANING[r.exit]} (${r.exit} ${r.failure.code}): ${r.failure.message}`;
  return `${r.path.padEnd(width)}  ${what}${witnessed}  ${res}`;
}

export async function verifyPackCli(ctx: CliContext, file: string, keys: NoteVerifier[], witnessKeys: NoteVerifier[], opts: VerifyPackOpts): Promise<void> {
  const json = opts.json === true;
  const progress = createProgress(ctx.io, !json && opts.progress !== false);
  const report = await verifyPack(file, {
    keys,
    witnessKeys,
    strictMedia: opts.strictMedia === true,
    onProgress: (done, total, label) => progress.update(done, total, label),
  });
  progress.done();
  ctx.exitCode = report.exit;
  if (json) {
    ctx.io.stdout(`${JSON.stringify(report)}\n`);
    return;
  }
  const width = Math.max(...report.chains.map((c) => c.path.length));
  for (const c of report.chains) {
    ctx.io.stdout(`${line(c, width)}\n`);
    for (const w of c.warnings) ctx.io.stderr(`llmaudit: warning: ${w}\n`);
  }
  const entries = report.chains.reduce((n, c) => n + c.entries, 0);
  const chains = report.chains.filter((c) => c.kind !== 'files');
  const kind = report.manifest?.partial === true ? 'partial pack' : 'pack';
  ctx.io.stdout(`${kind}: ${chains.length} ${chains.length === 1 ? 'chain' : 'chains'}, ${entries} entries verified, ${report.files} files; exit ${report.exit} (${EXIT_MEANING[report.exit]})\n`);
  const worst = report.chains.find((c) => c.exit === report.exit && c.failure !== null);
  if (worst?.failure != null) ctx.io.stderr(`llmaudit: ${worst.failure.code}: ${worst.failure.message}\n`);
}
