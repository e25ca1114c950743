import type { Readable, Writable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import { isLlmauditError } from '@llmaudit/sidecar/errors';
import { runCrd } from './cli/crd.ts';
import { runInject } from './cli/inject.ts';
import { RUN_DEFAULTS, RUN_FLAGS, envName, parseRunConfig, type RunConfig } from './config/run-config.ts';

export interface ProgramIo {
  argv: string[];
  stdin: Readable;
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable;
  hostname: string;
  /** Runs the operator until a shutdown signal; returns the exit code. */
  run: (config: RunConfig) => Promise<number>;
}

/**
 * `llmaudit-operator run | inject | crd`. Flags are declared without commander defaults so that
 * parseRunConfig can apply flag > LLMAUDIT_OPERATOR_* env > default in one place.
 */
export async function runProgram(io: ProgramIo): Promise<number> {
  // `inject` parses its own arguments (operator/src/cli/inject.ts); commander only lists it.
  if (io.argv[0] === 'inject') return runInject({ argv: io.argv.slice(1), stdin: io.stdin, stdout: io.stdout, stderr: io.stderr });
  const program = new Command('llmaudit-operator')
    .description('llmaudit control plane: AuditPolicy controllers, sidecar injection webhook')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  let code = 0;

  const run = program.command('run').description('controllers + webhook server + health server (the Deployment command)');
  for (const [key, flag] of Object.entries(RUN_FLAGS)) {
    const def = (RUN_DEFAULTS as Record<string, string | undefined>)[key];
    run.addOption(new Option(`--${flag} <value>`, `env ${envName(flag)}${def === undefined ? '' : `; default ${def}`}`));
  }
  run.action(async (opts: Record<string, string | undefined>) => {
    code = await io.run(parseRunConfig(opts, io.env, io.hostname));
  });

  program.command('inject').description('inject the sidecar into Deployments/StatefulSets/Pods of a YAML manifest, offline (inject --help)');

  program
    .command('crd')
    .description('print the generated AuditPolicy CRD YAML')
    .action(() => {
      code = runCrd(io.stdout);
    });

  try {
    await program.parseAsync(io.argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (isLlmauditError(err)) {
      io.stderr.write(`llmaudit-operator: ${err.code}: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
