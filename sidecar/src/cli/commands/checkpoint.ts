// `llmaudit checkpoint DIR`: prints the newest signed checkpoint of a log (the C2SP signed note).
import type { Command } from 'commander';
import { readLatestCheckpoint } from '../../auditlog/checkpoint-store.ts';
import { parseCheckpointBody } from '../../auditlog/checkpoint.ts';
import { logError } from '../../auditlog/log-errors.ts';
import { assertDir } from './common.ts';
import type { CliContext } from '../cli-context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('checkpoint')
    .description('print the newest signed checkpoint of a log')
    .argument('<dir>', 'chain directory')
    .option('--json', 'print { origin, size, rootHash, note } as JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const abs = await assertDir(ctx, dir);
      const cp = await readLatestCheckpoint(abs);
      if (cp === null) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `${dir} has no checkpoint yet`);
      if (opts.json === true) {
        const body = parseCheckpointBody(cp.note.slice(0, cp.note.indexOf('\n\n') + 1));
        ctx.io.stdout(`${JSON.stringify({ origin: body.origin, size: body.size, rootHash: body.rootHash.toString('base64'), note: cp.note })}\n`);
      } else {
        ctx.io.stdout(cp.note.endsWith('\n') ? cp.note : `${cp.note}\n`);
      }
    });
}
