// `llmaudit replay SOURCE --seq N --upstream URL [--key-env VAR] [--origin O] [--dry-run] [--json]`:
// sends a recorded request again with deterministic sampling and compares the answers
// (audit-tools/replay.ts). Exit 0 identical, 1 different (or same tool calls with other text),
// 2 or more on errors (docs/errors.md). The credential is read from the environment variable
// named by --key-env, never from the log.
import path from 'node:path';
import type { Command } from 'commander';
import { chainsIn, readChainEntries } from '../../audit-tools/chains.ts';
import { compareAnswers, planReplay, recordedAnswer, sendReplay, type Answer, type ReplayPlan } from '../../audit-tools/replay.ts';
import { auditToolError } from '../../audit-tools/errors.ts';
import { logError } from '../../auditlog/log-errors.ts';
import { commonError } from '../../errors.ts';
import type { Entry } from '../../auditlog/types.ts';
import type { CliContext } from '../cli-context.ts';

interface ReplayOpts {
  seq: string;
  upstream?: string;
  keyEnv?: string;
  origin?: string;
  dryRun?: boolean;
  json?: boolean;
  timeout: string;
}

const EXAMPLES = `
Examples:
  # what would be sent (nothing is sent)
  llmaudit replay /var/log/llmaudit/prod/agent-7f9c_3b1e --seq 42 --upstream https://api.openai.com --dry-run
  # send it again and compare; the key comes from the environment only
  OPENAI_API_KEY=sk-... llmaudit replay DIR --seq 42 --upstream https://api.openai.com --key-env OPENAI_API_KEY
  ANTHROPIC_API_KEY=... llmaudit replay DIR --seq 7 --upstream https://api.anthropic.com --key-env ANTHROPIC_API_KEY --json

Exit status: 0 identical, 1 differs (same tool calls with other text, or different), 2+ error.
`;

async function findEntry(source: string, seq: number, origin: string | undefined): Promise<Entry> {
  const chains = await chainsIn(source);
  const found: Entry[] = [];
  for (const c of chains) {
    for await (const l of readChainEntries(c.dir)) {
      if (origin !== undefined && l.entry.origin !== origin) break;
      if (l.entry.seq === seq) {
        found.push(l.entry);
        break;
      }
    }
  }
  if (found.length === 0) throw logError('LLMAUDIT_E_LOG_NOT_FOUND', `entry seq ${seq}${origin === undefined ? '' : ` of ${origin}`}`);
  if (found.length > 1) throw commonError('LLMAUDIT_E_USAGE', `${found.length} chains under ${source} have an entry seq ${seq}: choose one with --origin (${found.map((e) => e.origin).join(', ')})`);
  return found[0] as Entry;
}

function answerText(a: Answer): string {
  const calls = a.toolCalls.length === 0 ? '' : `tool calls ${a.toolCalls.map((c) => `${c.name}(${c.arguments})`).join(', ')}; `;
  const text = a.text === null || a.text === '' ? '(no text)' : JSON.stringify(a.text.length > 400 ? `${a.text.slice(0, 400)}…` : a.text);
  return `${a.status} ${a.model ?? '-'}: ${calls}text ${text}`;
}

function redacted(plan: ReplayPlan): ReplayPlan {
  const headers = { ...plan.headers };
  if (headers.authorization !== undefined) headers.authorization = 'Bearer ***';
  if (headers['x-api-key'] !== undefined) headers['x-api-key'] = '***';
  return { ...plan, headers };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('replay')
    .description('send a recorded request again with deterministic sampling and compare the new answer with the recorded one')
    .argument('<source>', 'chain directory, or a directory above chains (then --origin picks the chain if the seq is ambiguous)')
    .requiredOption('--seq <n>', 'seq of the entry to replay')
    .option('--upstream <url>', "the provider's base URL, as the sidecar's endpoint upstream (e.g. https://api.openai.com)")
    .option('--key-env <var>', 'environment variable holding the API key (sent as Bearer, or x-api-key for Anthropic)')
    .option('--origin <origin>', 'the chain, when several under SOURCE have this seq')
    .option('--dry-run', 'print the request that would be sent (credentials masked) and send nothing')
    .option('--json', 'print the result as one JSON object')
    .option('--timeout <ms>', 'give up on the upstream after this long', '120000')
    .addHelpText('after', EXAMPLES)
    .action(async (source: string, opts: ReplayOpts) => {
      if (!/^(0|[1-9]\d*)$/.test(opts.seq)) throw commonError('LLMAUDIT_E_USAGE', `--seq ${opts.seq} is not a non-negative integer`);
      if (!/^[1-9]\d*$/.test(opts.timeout)) throw commonError('LLMAUDIT_E_USAGE', `--timeout ${opts.timeout} is not a positive integer`);
      if (opts.upstream === undefined) throw commonError('LLMAUDIT_E_USAGE', 'replay needs --upstream URL (the log records the endpoint name, not its URL)');
      if (!/^https?:\/\//.test(opts.upstream)) throw commonError('LLMAUDIT_E_USAGE', `--upstream ${opts.upstream} is not an http(s) URL`);
      let credential: string | undefined;
      if (opts.keyEnv !== undefined) {
        credential = ctx.io.env[opts.keyEnv];
        if (credential === undefined || credential === '') throw auditToolError('LLMAUDIT_E_REPLAY_CREDENTIALS', opts.keyEnv);
      }
      const entry = await findEntry(path.resolve(ctx.io.cwd, source), Number(opts.seq), opts.origin);
      const plan = planReplay(entry, { upstream: opts.upstream, ...(credential === undefined ? {} : { credential }) });
      if (opts.dryRun === true) {
        const shown = redacted(plan);
        if (opts.json === true) ctx.io.stdout(`${JSON.stringify(shown)}\n`);
        else ctx.io.stdout(`${shown.method} ${shown.url}\n${Object.entries(shown.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${JSON.stringify(shown.body, null, 2)}\n\ndeterministic: ${plan.changes.length === 0 ? 'nothing changed' : plan.changes.join(', ')}\n`);
        return;
      }
      const recorded = recordedAnswer(entry);
      const replayed = await sendReplay(plan, Number(opts.timeout));
      const verdict = compareAnswers(recorded, replayed);
      ctx.exitCode = verdict === 'identical' ? 0 : 1;
      if (opts.json === true) {
        ctx.io.stdout(`${JSON.stringify({ seq: entry.seq, origin: entry.origin, api: plan.api, url: plan.url, changes: plan.changes, verdict, recorded, replayed })}\n`);
        return;
      }
      const meaning = { identical: 'identical (same tool calls, same text)', 'same-tool-calls': 'same tool calls, different text', different: 'different' }[verdict];
      ctx.io.stdout(
        [
          `replay of seq ${entry.seq} (${plan.api}) to ${plan.method} ${plan.url}; deterministic: ${plan.changes.length === 0 ? 'nothing changed' : plan.changes.join(', ')}`,
          `recorded: ${answerText(recorded)}`,
          `replayed: ${answerText(replayed)}`,
          `verdict: ${meaning}`,
        ].join('\n') + '\n',
      );
    });
}
