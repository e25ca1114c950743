// The `llmaudit` command line: builds the commander program from the COMMANDS list and runs it,
// turning every failure into one line `llmaudit: CODE: message` on stderr and a stable exit
// status (docs/errors.md); the stack trace only with --debug.
//
// Adding a command: create commands/<name>.ts exporting `register(program, ctx)` and list it in
// COMMANDS below. Commands write through ctx.io and set ctx.exitCode or throw an LlmauditError.
import { Command, CommanderError } from 'commander';
import { isLlmauditError, LlmauditError } from '../errors.ts';
import { register as keygen } from './commands/keygen.ts';
import { register as verify } from './commands/verify.ts';
import { register as prove } from './commands/prove.ts';
import { register as verifyProof } from './commands/verify-proof.ts';
import { register as checkpoint } from './commands/checkpoint.ts';
import { register as proxy } from './commands/proxy.ts';
import { register as exportPack } from './commands/export.ts';
import { register as tail } from './commands/tail.ts';
import { register as replay } from './commands/replay.ts';
import { register as report } from './commands/report.ts';
import { register as erase } from './commands/erase.ts';
import type { CliContext, CliIo, RegisterCommand } from './cli-context.ts';

export const COMMANDS: readonly RegisterCommand[] = [
  // proxy: the sidecar, in a pod and standalone (commands/proxy.ts → main.ts runProxy).
  proxy,
  keygen,
  verify,
  prove,
  verifyProof,
  checkpoint,
  exportPack,
  tail,
  replay,
  report,
  erase,
];

export function createProgram(ctx: CliContext, commands: readonly RegisterCommand[] = COMMANDS): Command {
  const program = new Command('llmaudit')
    .description('llmaudit: a flight recorder for LLM traffic. Verify, prove and sign audit logs.')
    .option('--debug', 'print stack traces of errors')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      // Commander's own error text is replaced by our one-line format in runCli.
      writeErr: (s) => {
        if (!s.startsWith('error:')) ctx.io.stderr(s);
      },
    });
  for (const register of commands) register(program, ctx);
  return program;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let out = err.stack ?? err.message;
  let cause = (err as { cause?: unknown }).cause;
  while (cause instanceof Error) {
    out += `\ncaused by: ${cause.stack ?? cause.message}`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return out;
}

/** Runs the CLI on argv (without node and script) and returns the exit status. */
export async function runCli(args: readonly string[], io: CliIo, commands: readonly RegisterCommand[] = COMMANDS): Promise<number> {
  const ctx: CliContext = { io, exitCode: 0 };
  const program = createProgram(ctx, commands);
  const debug = args.includes('--debug');
  try {
    await program.parseAsync([...args], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      const msg = err.message.replace(/^error:\s*/, '');
      io.stderr(`llmaudit: LLMAUDIT_E_USAGE: ${msg}\n`);
      return 1;
    }
    const e: LlmauditError = isLlmauditError(err) ? err : new LlmauditError('LLMAUDIT_E_INTERNAL', `internal error (a bug: please report it with --debug output): ${(err as Error)?.message ?? String(err)}`, { cause: err });
    io.stderr(`llmaudit: ${e.code}: ${e.message.split('\n')[0]}\n`);
    if (debug) io.stderr(`${describe(err)}\n`);
    return e.exitCode;
  }
}
