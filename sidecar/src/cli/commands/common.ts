// Small helpers shared by the log commands.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { logError } from '../../auditlog/log-errors.ts';
import type { CliContext } from '../cli-context.ts';

/** Resolves DIR and checks that it is a directory (LLMAUDIT_E_VERIFY_FILE, exit 1, if not). */
export async function assertDir(ctx: CliContext, dir: string): Promise<string> {
  const abs = path.resolve(ctx.io.cwd, dir);
  let ok = false;
  try {
    ok = (await stat(abs)).isDirectory();
  } catch (err) {
    throw logError('LLMAUDIT_E_VERIFY_FILE', `${dir}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  }
  if (!ok) throw logError('LLMAUDIT_E_VERIFY_FILE', `${dir} is not a directory`);
  return abs;
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
