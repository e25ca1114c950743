// `llmaudit tail SOURCE [-f] [-n N] [--json] [--filter ...]`: the one-line-per-exchange feed of a
// chain or of every chain under a root (audit-tools/tail-follower.ts). Colour only when stdout is
// a terminal and NO_COLOR is unset. `-f` runs until SIGINT or SIGTERM.
import path from 'node:path';
import type { Command } from 'commander';
import { tailLog } from '../../audit-tools/tail-follower.ts';
import { feedLine } from '../../audit-tools/feed-line.ts';
import { matchesFilter, parseFilter } from '../../audit-tools/feed-filter.ts';
import { isChainDir } from '../../auditlog/tree-verify.ts';
import { commonError } from '../../errors.ts';
import type { CliContext } from '../cli-context.ts';

interface TailOpts {
  follow?: boolean;
  lines: string;
  json?: boolean;
  filter?: string;
  color?: boolean;
}

const EXAMPLES = `
Examples:
  llmaudit tail /var/log/llmaudit/prod/agent-7f9c_3b1e          # the last 10 exchanges of one chain
  llmaudit tail -f /var/log/llmaudit                             # follow every chain of the volume
  llmaudit tail -f /var/log/llmaudit --filter 'class=TOOL_CALL,model=gpt-4o*'
  llmaudit tail -f /var/log/llmaudit --filter 'status>=400' --json | jq .response.error

Filter fields: model, class (span or request type), status, endpoint, api, method, path, origin,
conversation, trace, streamed, error; operators =, != (value may end in *), >, >=, <, <= (status).
`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('tail')
    .description('print one line per exchange; -f follows new entries across segments and chains')
    .argument('<source>', 'chain directory, or a directory above chains (a log volume)')
    .option('-f, --follow', 'keep printing new entries as they are written (until Ctrl-C)')
    .option('-n, --lines <n>', 'how many of the newest entries to print first', '10')
    .option('--json', 'print each entry as the log holds it (one JSON line; its origin names the chain)')
    .option('--filter <conditions>', "comma-separated conditions, all must hold (quote them in a shell): 'model=..,class=TOOL_CALL,status>=400'")
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText('after', EXAMPLES)
    .action(async (source: string, opts: TailOpts) => {
      if (!/^\d+$/.test(opts.lines)) throw commonError('LLMAUDIT_E_USAGE', `--lines ${opts.lines} is not a non-negative integer`);
      const conditions = parseFilter(opts.filter);
      const root = path.resolve(ctx.io.cwd, source);
      const many = !(await isChainDir(root).catch(() => true));
      const colour = opts.color !== false && opts.json !== true && ctx.io.stdoutIsTTY === true && ctx.io.env.NO_COLOR === undefined;
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      if (opts.follow === true) {
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      }
      try {
        await tailLog({
          root,
          last: Number(opts.lines),
          follow: opts.follow === true,
          accept: (e) => matchesFilter(conditions, e),
          signal: stop.signal,
          onEntry: (chain, e, line) => ctx.io.stdout(`${opts.json === true ? line : feedLine(e, { colour, ...(many ? { chain } : {}) })}\n`),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
