// `llmaudit verify-proof FILE --key VKEY`: checks a proof from `llmaudit prove` (JSON bundle or
// C2SP tlog-proof text) offline, with nothing but the log's verifier key. Exit 0 valid; 3 the entry
// is not the one the log committed to; 4 the file is malformed or truncated; 5 bad signature.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parseProof, verifyProofBundle } from '../../auditlog/proof-bundle.ts';
import { logError } from '../../auditlog/log-errors.ts';
import { commonError } from '../../errors.ts';
import { readVerifierKey } from '../key-input.ts';
import { collect } from './common.ts';
import type { CliContext } from '../cli-context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('verify-proof')
    .description('verify a proof file from `llmaudit prove` offline, with only the verifier key')
    .argument('<file>', 'proof file: JSON bundle or C2SP tlog-proof text ("-" for stdin)')
    .option('--key <vkey>', 'verifier key file or text; repeatable', collect, [])
    .option('--json', 'print { ok, index, treeSize, origin, entryHash } as JSON')
    .action(async (file: string, opts: { key: string[]; json?: boolean }) => {
      if (opts.key.length === 0) throw commonError('LLMAUDIT_E_USAGE', 'verify-proof needs --key VKEY');
      const keys = opts.key.map((k) => readVerifierKey(k, ctx.io.cwd));
      let text: string;
      try {
        text = file === '-' ? await readStdin() : await readFile(path.resolve(ctx.io.cwd, file), 'utf8');
      } catch (err) {
        throw logError('LLMAUDIT_E_VERIFY_FILE', `${file}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
      }
      const v = verifyProofBundle(parseProof(text), keys);
      if (opts.json === true) ctx.io.stdout(`${JSON.stringify({ ok: true, index: v.index, treeSize: v.treeSize, origin: v.origin, entryHash: v.entryHash })}\n`);
      else ctx.io.stdout(`valid: entry seq ${v.index} (hash ${v.entryHash}) is in the log ${v.origin} at tree size ${v.treeSize}, signed by the given key\n`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
