// `llmaudit prove DIR --seq N [--json | --tlog-proof]`: one entry, its Merkle inclusion proof and
// the signed checkpoint it is proven against (the newest one), for `llmaudit verify-proof`.
import type { Command } from 'commander';
import { openLogReader } from '../../auditlog/log-reader.ts';
import { commonError } from '../../errors.ts';
import { assertDir } from './common.ts';
import type { CliContext } from '../cli-context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('prove')
    .description('print one entry with its inclusion proof against the newest signed checkpoint')
    .argument('<dir>', 'chain directory')
    .requiredOption('--seq <n>', 'seq of the entry')
    .option('--json', 'print the proof bundle as one JSON object (index, entry, entryHash, treeSize, rootHash, inclusionProof, checkpoint, tlogProof)')
    .option('--tlog-proof', 'print the proof as C2SP tlog-proof text (the entry in its extra line)')
    .action(async (dir: string, opts: { seq: string; json?: boolean; tlogProof?: boolean }) => {
      if (!/^(0|[1-9]\d*)$/.test(opts.seq)) throw commonError('LLMAUDIT_E_USAGE', `--seq ${opts.seq} is not a non-negative integer`);
      const reader = await openLogReader(await assertDir(ctx, dir));
      const b = await reader.prove(Number(opts.seq));
      if (opts.json === true) {
        ctx.io.stdout(`${JSON.stringify(b)}\n`);
      } else if (opts.tlogProof === true) {
        ctx.io.stdout(`${b.tlogProof ?? ''}`);
      } else {
        ctx.io.stdout(
          [
            `entry seq ${b.index}, hash ${b.entryHash}`,
            JSON.stringify(b.entry, null, 2),
            `inclusion proof in the tree of size ${b.treeSize}, root ${b.rootHash} (RFC 9162 order, leaf to root):`,
            ...b.inclusionProof.map((h) => `  ${h}`),
            'signed checkpoint:',
            b.checkpoint,
          ].join('\n') + (b.checkpoint.endsWith('\n') ? '' : '\n'),
        );
      }
    });
}
