// `llmaudit keygen --out DIR --name NAME`: a new Ed25519 signed-note key pair. NAME.key holds the
// signer key (PRIVATE+KEY+...) with mode 0600; NAME.vkey the verifier key auditors are given.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { generateSignerKey } from '../../auditlog/signed-note.ts';
import { commonError } from '../../errors.ts';
import type { CliContext } from '../cli-context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('keygen')
    .description('create an Ed25519 signing key (NAME.key, mode 0600) and its verifier key (NAME.vkey)')
    .requiredOption('--out <dir>', 'directory for the two key files (created if missing)')
    .requiredOption('--name <name>', 'key name, e.g. the log origin llmaudit.dev/ns/policy')
    .option('--json', 'print the file paths and the verifier key as JSON')
    .action((opts: { out: string; name: string; json?: boolean }) => {
      const { signerKey, verifierKey } = generateSignerKey(opts.name);
      // The key name may contain '/', the file name may not.
      const base = opts.name.replace(/[^A-Za-z0-9._-]+/g, '_');
      if (base === '' || base === '.' || base === '..') throw commonError('LLMAUDIT_E_USAGE', `--name ${JSON.stringify(opts.name)} gives no usable file name`);
      const dir = path.resolve(ctx.io.cwd, opts.out);
      const keyFile = path.join(dir, `${base}.key`);
      const vkeyFile = path.join(dir, `${base}.vkey`);
      try {
        mkdirSync(dir, { recursive: true });
        // 'wx': never overwrite a key (losing a signing key orphans every log it signed).
        writeFileSync(keyFile, `${signerKey}\n`, { mode: 0o600, flag: 'wx' });
        writeFileSync(vkeyFile, `${verifierKey}\n`, { mode: 0o644, flag: 'wx' });
      } catch (err) {
        throw commonError('LLMAUDIT_E_USAGE', `cannot write the key files in ${dir}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
      }
      if (opts.json === true) ctx.io.stdout(`${JSON.stringify({ signerKeyFile: keyFile, verifierKeyFile: vkeyFile, verifierKey })}\n`);
      else ctx.io.stdout(`signer key:   ${keyFile} (keep it secret)\nverifier key: ${vkeyFile}\n${verifierKey}\n`);
    });
}
