// `llmaudit export SOURCE --out pack.tar.gz [--since T] [--until T] [--origin O] [--conversation C]
// [--seq A-B] [--key VKEY]... [--witness-key W]...`: one file for an auditor (docs/auditing.md).
// Without a selection the chains go in whole; with one, only the selected entries, each with its
// inclusion proof against a signed checkpoint (audit-tools/export-pack.ts).
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { exportPack, type PackKey } from '../../audit-tools/export-pack.ts';
import { parseSelection, type SelectionInput } from '../../audit-tools/selection.ts';
import { parseCosignatureVerifierKey } from '../../auditlog/cosignature.ts';
import { commonError } from '../../errors.ts';
import { readVerifierKey } from '../key-input.ts';
import { collect } from './common.ts';
import type { CliContext } from '../cli-context.ts';

interface ExportOpts extends SelectionInput {
  out?: string;
  key: string[];
  witnessKey: string[];
  json?: boolean;
}

function keyText(value: string, cwd: string): string {
  try {
    return readFileSync(path.resolve(cwd, value), 'utf8').trim();
  } catch {
    return value.trim();
  }
}

const EXAMPLES = `
Examples:
  # every chain of a log volume, whole, with the verifier key for the auditor
  llmaudit export /var/log/llmaudit --out audit-2026-03.tar.gz --key llmaudit.vkey
  # one conversation out of a long log: only its entries, each with its inclusion proof
  llmaudit export /var/log/llmaudit/prod/agent-7f9c_3b1e --conversation 0195f3c2-... --out conv.tar.gz --key llmaudit.vkey
  # a time range, and a seq range of one chain
  llmaudit export DIR --since 2026-03-01T00:00:00Z --until 2026-03-02T00:00:00Z --out day.tar.gz
  llmaudit export DIR --seq 1200-1299 --out slice.tar.gz
  # then, anywhere:
  llmaudit verify day.tar.gz --key llmaudit.vkey
`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write an audit pack (tar.gz): whole chains, or only selected entries with their Merkle inclusion proofs')
    .argument('<source>', 'chain directory, or a directory above chains (a log volume)')
    .requiredOption('--out <file>', 'the pack to write (.tar.gz)')
    .option('--since <time>', 'entries at or after this time (RFC 3339); makes a partial pack')
    .option('--until <time>', 'entries before this time (RFC 3339); makes a partial pack')
    .option('--origin <origin>', 'only the chain with this origin')
    .option('--conversation <id>', 'entries of this conversation (trace.conversationId); makes a partial pack')
    .option('--seq <A-B>', 'entries with seq A..B (inclusive) or N; makes a partial pack')
    .option('--key <vkey>', "the log's verifier key to ship in the pack (file or text); repeatable", collect, [])
    .option('--witness-key <vkey>', 'a witness verifier key to ship in the pack; repeatable', collect, [])
    .option('--json', 'print the manifest as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (source: string, opts: ExportOpts) => {
      const selection = parseSelection(opts);
      const keys: PackKey[] = [
        ...opts.key.map((k): PackKey => ({ text: readVerifierKey(k, ctx.io.cwd).verifierKey, name: readVerifierKey(k, ctx.io.cwd).name, kind: 'log' })),
        ...opts.witnessKey.map((k): PackKey => {
          const text = keyText(k, ctx.io.cwd);
          return { text, name: parseCosignatureVerifierKey(text).name, kind: 'witness' };
        }),
      ];
      if (opts.out === undefined) throw commonError('LLMAUDIT_E_USAGE', 'export needs --out FILE');
      const out = path.resolve(ctx.io.cwd, opts.out);
      try {
        const { manifest, bytes } = await exportPack({ source: path.resolve(ctx.io.cwd, source), out, selection, keys });
        if (opts.json === true) {
          ctx.io.stdout(`${JSON.stringify(manifest)}\n`);
          return;
        }
        for (const c of manifest.chains) {
          const seq = c.seqRanges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
          const extra = (c.notCovered ?? 0) > 0 ? `; ${c.notCovered} newer selected entries left out (no checkpoint covers them yet)` : '';
          ctx.io.stdout(`${c.path}  ${c.origin ?? '-'}  ${c.kind}  ${c.entries} entries${seq === '' ? '' : ` (seq ${seq})`}${c.checkpoint === null ? '' : `  checkpoint ${c.checkpoint.size}`}${extra}\n`);
        }
        const entries = manifest.chains.reduce((n, c) => n + c.entries, 0);
        ctx.io.stdout(`wrote ${opts.out}: ${manifest.partial ? 'partial pack' : 'pack'}, ${entries} entries, ${manifest.files.length + 1} files, ${bytes} bytes\n`);
      } catch (err) {
        await rm(out, { force: true });
        throw err;
      }
    });
}
