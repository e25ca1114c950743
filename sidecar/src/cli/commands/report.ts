// `llmaudit report SOURCE --out report.html [--csv entries.csv] [--pdf report.pdf] [--key VKEY]`:
// one self-contained HTML report of a chain, a log volume or an audit pack (audit-tools/report-*),
// optionally the exchanges as CSV and the report printed to PDF by the system's Chromium.
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import type { Command } from 'commander';
import { openReportSource } from '../../audit-tools/report-source.ts';
import { DEFAULT_LIMITS, ReportBuilder } from '../../audit-tools/report-model.ts';
import { renderReportHtml } from '../../audit-tools/report-html.ts';
import { reportCsv } from '../../audit-tools/report-csv.ts';
import { findChromium, printPdf } from '../../audit-tools/report-pdf.ts';
import { TOOL_VERSION } from '../../audit-tools/version.ts';
import { parseCosignatureVerifierKey } from '../../auditlog/cosignature.ts';
import { commonError } from '../../errors.ts';
import { readVerifierKey } from '../key-input.ts';
import { collect } from './common.ts';
import type { CliContext } from '../cli-context.ts';
import { readFileSync } from 'node:fs';

interface ReportOpts {
  out?: string;
  csv?: string;
  pdf?: string;
  key: string[];
  witnessKey: string[];
  title?: string;
  bodyBytes: string;
  maxBodies: string;
}

const EXAMPLES = `
Examples:
  llmaudit report /var/log/llmaudit --key llmaudit.vkey --out report.html
  llmaudit report audit-2026-03.tar.gz --key llmaudit.vkey --out report.html --csv exchanges.csv
  llmaudit report DIR --key llmaudit.vkey --out report.html --pdf report.pdf   # needs Chromium (apt-get install chromium)

Without --key the report says "not verified" for every chain. The HTML needs no network and opens
from a file; it shows up to 100 exchanges per explorer page and embeds bodies up to --body-bytes each.
`;

function witnessKeyText(value: string, cwd: string): string {
  try {
    return readFileSync(path.resolve(cwd, value), 'utf8').trim();
  } catch {
    return value.trim();
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description('write a self-contained HTML report (verification, charts, explorer); optionally CSV and PDF')
    .argument('<source>', 'chain directory, a directory above chains (a log volume), or an audit pack (.tar.gz)')
    .requiredOption('--out <file>', 'the HTML file to write')
    .option('--csv <file>', 'also write one row per exchange as CSV')
    .option('--pdf <file>', 'also print the report to PDF with the installed Chromium (LLMAUDIT_CHROMIUM, else /usr/bin/chromium)')
    .option('--key <vkey>', "the log's verifier key: chains are verified and the result shown; repeatable", collect, [])
    .option('--witness-key <vkey>', 'a witness verifier key (packs: cosignatures are checked); repeatable', collect, [])
    .option('--title <text>', 'the report title', 'llmaudit report')
    .option('--body-bytes <n>', 'embed each request and response body up to this many bytes', String(DEFAULT_LIMITS.perBodyBytes))
    .option('--max-bodies <bytes>', 'embed bodies up to this many bytes in total, then metadata only', String(DEFAULT_LIMITS.totalBytes))
    .addHelpText('after', EXAMPLES)
    .action(async (source: string, opts: ReportOpts) => {
      for (const [flag, v] of [['--body-bytes', opts.bodyBytes], ['--max-bodies', opts.maxBodies]] as const) {
        if (!/^\d+$/.test(v)) throw commonError('LLMAUDIT_E_USAGE', `${flag} ${v} is not a non-negative integer`);
      }
      if (opts.out === undefined) throw commonError('LLMAUDIT_E_USAGE', 'report needs --out FILE');
      const keys = opts.key.map((k) => readVerifierKey(k, ctx.io.cwd));
      const witnessKeys = opts.witnessKey.map((k) => parseCosignatureVerifierKey(witnessKeyText(k, ctx.io.cwd)));
      // Look for the browser first: a missing one is reported before any work is done.
      const chromium = opts.pdf === undefined ? null : await findChromium(ctx.io.env.LLMAUDIT_CHROMIUM);
      const src = await openReportSource(path.resolve(ctx.io.cwd, source), keys, witnessKeys);
      const builder = new ReportBuilder({ perBodyBytes: Number(opts.bodyBytes), totalBytes: Number(opts.maxBodies) });
      const costs: Array<number | null> = [];
      try {
        for (let i = 0; i < src.chains.length; i++) {
          let n = 0;
          for await (const e of src.entries(i)) {
            builder.add(i, e);
            costs.push(typeof e.usage?.costUsd === 'number' ? e.usage.costUsd : null);
            n++;
          }
          const c = src.chains[i];
          if (c !== undefined && c.status === 'not verified') c.entries = n;
        }
      } finally {
        await src.close();
      }
      const model = builder.build({ title: opts.title ?? 'llmaudit report', generatedAt: new Date().toISOString(), toolVersion: TOOL_VERSION, source: src.label, chains: src.chains, costs });
      const out = path.resolve(ctx.io.cwd, opts.out);
      await writeFile(out, renderReportHtml(model));
      ctx.io.stdout(`wrote ${opts.out}: ${model.totals.exchanges} exchanges of ${model.chains.length} chains (${model.chains.filter((c) => c.status === 'intact').length} verified intact)\n`);
      if (opts.csv !== undefined) {
        const w = createWriteStream(path.resolve(ctx.io.cwd, opts.csv));
        for (const line of reportCsv(model)) if (!w.write(line)) await once(w, 'drain');
        w.end();
        await once(w, 'close');
        ctx.io.stdout(`wrote ${opts.csv}: ${model.rows.length} rows\n`);
      }
      if (opts.pdf !== undefined && chromium !== null) {
        await printPdf(out, path.resolve(ctx.io.cwd, opts.pdf), chromium);
        ctx.io.stdout(`wrote ${opts.pdf} (printed by ${chromium})\n`);
      }
    });
}
