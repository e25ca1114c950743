// What every CLI command gets: where to write, whether stderr is a terminal, and how to finish.
// Commands never call process.exit; they set `exitCode` (verify uses the format's exit table) or
// throw an LlmauditError, which main.ts prints as one line `llmaudit: CODE: message`.
import type { Command } from 'commander';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** stderr is a terminal: progress bars are drawn only then. */
  stderrIsTTY: boolean;
  /** stdout is a terminal: `tail` colours its lines only then. */
  stdoutIsTTY?: boolean;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export interface CliContext {
  io: CliIo;
  /** Exit status to use when the command returns normally. */
  exitCode: number;
}

/** Each command file exports one of these; main.ts lists them (COMMANDS in program.ts). */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stderrIsTTY: process.stderr.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}
