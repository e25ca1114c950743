// `llmaudit erase DIR (--seq N[,M..] | --id X | --conversation C | --match FILTER) --reason TEXT
// --key SIGNER [--by NAME] [--json]`: erases the content of the selected entries of a stopped log
// and appends a signed erasure record (docs/erasure.md). A log with a live writer is erased through
// the sidecar's POST /v1/erase instead.
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { eraseOffline } from '../../erasure/offline.ts';
import { compileSelector, type EraseSelector } from '../../erasure/select.ts';
import { erasureError } from '../../erasure/errors.ts';
import { readSignerKey } from '../key-input.ts';
import { assertDir } from './common.ts';
import type { CliContext } from '../cli-context.ts';

interface Opts {
  seq?: string;
  id?: string;
  conversation?: string;
  match?: string;
  reason?: string;
  key?: string;
  by?: string;
  json?: boolean;
}

function whoami(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('erase')
    .description('erase the content of entries of a stopped log (format v2), keeping their digests, and append a signed erasure record')
    .argument('<dir>', 'chain directory')
    .option('--seq <list>', 'entries by seq, comma-separated')
    .option('--id <id>', 'the entry of one exchange (its x-llmaudit-id)')
    .option('--conversation <id>', 'every entry of a conversation (trace.conversationId)')
    .option('--match <filter>', 'entries matching `.path == JSON` comparisons joined by `and` (`!=` too)')
    .option('--reason <text>', 'why (recorded in the erasure record and each erased part)')
    .option('--key <signer>', "the log's signer key file or text (PRIVATE+KEY+...)")
    .option('--by <name>', 'who requests the erasure (default: the user name)')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, opts: Opts) => {
      const abs = await assertDir(ctx, dir);
      if (opts.reason === undefined) throw erasureError('LLMAUDIT_E_ERASE_INVALID', 'erase needs --reason');
      if (opts.key === undefined) throw erasureError('LLMAUDIT_E_ERASE_INVALID', "erase needs --key (the log's signer key)");
      const sel: EraseSelector = {};
      if (opts.seq !== undefined) sel.seqs = opts.seq.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : -1));
      if (opts.id !== undefined) sel.id = opts.id;
      if (opts.conversation !== undefined) sel.conversation = opts.conversation;
      if (opts.match !== undefined) sel.match = opts.match;
      const select = compileSelector(sel);
      const signer = readSignerKey(opts.key, ctx.io.cwd);
      const r = await eraseOffline(abs, signer, { select, reason: opts.reason, by: opts.by ?? whoami() });
      if (opts.json === true) ctx.io.stdout(`${JSON.stringify(r)}\n`);
      else if (r.recordSeq === null) ctx.io.stdout('nothing to erase: no selected entry holds content\n');
      else ctx.io.stdout(`erased ${r.parts} parts of ${r.entries} entries (erasure record at seq ${r.recordSeq}); ${r.mediaDeleted} media files deleted; ${r.bytesFreed} bytes freed\n`);
    });
}
