/**
 * `npm run bench -- auditing [--quick] [--json]`: the auditor's tools on logs of 10,000 and
 * 100,000 entries (~2 KiB each, the real writer in os.tmpdir(); --quick: 10,000 only).
 *
 *   export           whole-chain pack: time and size, beside the segments' size (the baseline)
 *   export partial   --seq of 1,000 entries from the middle: each with its inclusion proof
 *   verify pack      `llmaudit verify PACK` (unpack, manifest digests, the log verifier), beside
 *                    `llmaudit verify DIR` on the same log (the baseline) in the same run
 *   report           building the HTML (and its size); with Chromium installed, the time from
 *                    navigation to first contentful paint and to the explorer ready (data-ready)
 */
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openLog } from '../sidecar/src/auditlog/log-writer.ts';
import { verifyLog } from '../sidecar/src/auditlog/verifier.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from '../sidecar/src/auditlog/test-support.ts';
import { exportPack } from '../sidecar/src/audit-tools/export-pack.ts';
import { verifyPack } from '../sidecar/src/audit-tools/pack-verify.ts';
import { runCli } from '../sidecar/src/cli/program.ts';
import { CHROMIUM_ARGS, findChromium } from '../sidecar/src/audit-tools/report-pdf.ts';

interface Row {
  name: string;
  value: number;
  unit: string;
  detail?: string;
}

const MB = 1024 * 1024;
const SPANS = ['USER_PROMPT', 'TOOL_CALL', 'FINAL_RESPONSE', 'AGENT_STEP'];
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4', 'llama3.1:8b'];

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.isFile() && d.name.startsWith('seg-')) n += (await stat(path.join(dir, d.name))).size;
  }
  return n;
}

async function writeChain(dir: string, count: number, signerKey: string): Promise<void> {
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey, durability: 'batched' });
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const p = samplePayload(i, 1500);
    p.model = MODELS[i % MODELS.length] as string;
    p.trace = { ...p.trace, spanType: SPANS[i % SPANS.length] as string, conversationId: `c${Math.floor(i / 4)}`, traceId: (i >> 2).toString(16).padStart(32, '0') };
    if (i % 97 === 0) p.response = { ...p.response, status: 500 };
    p.response = { ...p.response, durationMs: 20 + (i % 400) };
    pending.push(log.append(p));
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await log.close();
}

const secs = (t0: number): number => Number(((performance.now() - t0) / 1000).toFixed(2));

async function run(count: number, log: (s: string) => void, rows: Row[]): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-auditing-'));
  try {
    const keys = testKeys();
    const dir = path.join(root, 'chain');
    log(`writing ${count} entries`);
    await writeChain(dir, count, keys.signerKey);
    const segBytes = await dirBytes(dir);
    const k = `${count / 1000}k`;

    log('export');
    let t0 = performance.now();
    const pack = path.join(root, 'pack.tar.gz');
    const full = await exportPack({ source: dir, out: pack, selection: {}, keys: [] });
    rows.push({ name: `export ${k}: pack size`, value: Number((full.bytes / MB).toFixed(2)), unit: 'MiB', detail: `segments ${(segBytes / MB).toFixed(1)} MiB (${((full.bytes / segBytes) * 100).toFixed(1)} %), written in ${secs(t0)} s` });

    t0 = performance.now();
    const mid = Math.floor(count / 2);
    const part = await exportPack({ source: dir, out: path.join(root, 'part.tar.gz'), selection: { seq: { from: mid, to: mid + 999 } }, keys: [] });
    rows.push({ name: `export ${k}: partial, 1,000 entries`, value: secs(t0), unit: 's', detail: `${(part.bytes / MB).toFixed(2)} MiB with 1,000 inclusion proofs` });

    log('verify');
    t0 = performance.now();
    const base = await verifyLog(dir, { keys: [keys.verifier] });
    const baseSecs = secs(t0);
    if (base.exit !== 0) throw new Error(`verify DIR exit ${base.exit}`);
    t0 = performance.now();
    const vp = await verifyPack(pack, { keys: [keys.verifier], witnessKeys: [] });
    if (vp.exit !== 0) throw new Error(`verify pack exit ${vp.exit}`);
    rows.push({ name: `verify pack ${k}`, value: secs(t0), unit: 's', detail: `baseline verify DIR: ${baseSecs} s` });
    t0 = performance.now();
    const vpp = await verifyPack(path.join(root, 'part.tar.gz'), { keys: [keys.verifier], witnessKeys: [] });
    if (vpp.exit !== 0) throw new Error(`verify partial pack exit ${vpp.exit}`);
    rows.push({ name: `verify partial pack ${k} (1,000 proofs)`, value: secs(t0), unit: 's' });

    log('report');
    t0 = performance.now();
    const html = path.join(root, 'report.html');
    const io = { stdout: () => undefined, stderr: (s: string) => process.stderr.write(s), stderrIsTTY: false, env: {}, cwd: root };
    const code = await runCli(['report', dir, '--key', keys.verifierKey, '--out', html], io);
    if (code !== 0) throw new Error(`report exit ${code}`);
    const htmlBytes = (await stat(html)).size;
    rows.push({ name: `report ${k}: build`, value: secs(t0), unit: 's', detail: `HTML ${(htmlBytes / MB).toFixed(1)} MiB (verification included)` });

    const chromium = await findChromium(undefined).catch(() => null);
    if (chromium === null) {
      rows.push({ name: `report ${k}: load`, value: NaN, unit: 's', detail: 'no Chromium installed' });
      return;
    }
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      t0 = performance.now();
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load', timeout: 300_000 });
      await page.waitForSelector('body[data-ready="1"]', { timeout: 300_000 });
      const ready = secs(t0);
      const fcp = await page.evaluate(() => (performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN) / 1000);
      rows.push({ name: `report ${k}: load to explorer ready`, value: ready, unit: 's', detail: `first contentful paint ${fcp.toFixed(2)} s (headless Chromium)` });
      // One search over every row, timed inside the page (the first builds the search index).
      const search = (): Promise<number> =>
        page.evaluate(() => {
          const doc = (globalThis as unknown as { document: { getElementById(id: string): { value: string } } }).document;
          const q = doc.getElementById('q');
          q.value = q.value === 'gpt-4o-mini' ? 'claude' : 'gpt-4o-mini';
          const t = performance.now();
          (globalThis as unknown as { llmauditReport: { apply(): void } }).llmauditReport.apply();
          return performance.now() - t;
        });
      const firstMs = await search();
      const nextMs = await search();
      rows.push({ name: `report ${k}: search over all rows`, value: Number((nextMs / 1000).toFixed(3)), unit: 's', detail: `first search ${(firstMs / 1000).toFixed(3)} s (builds the index); ${await page.$eval('#explorer-count', (e) => e.textContent ?? '')}` });
    } finally {
      await browser.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function runAuditingBench(o: { quick: boolean; log?: ((s: string) => void) | undefined }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of o.quick ? [10_000] : [10_000, 100_000]) await run(n, o.log ?? (() => undefined), rows);
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const rows = await runAuditingBench({ quick: args.includes('--quick'), log: json ? undefined : (s) => process.stderr.write(`… ${s}\n`) });
  if (!json) {
    for (const r of rows) process.stdout.write(`${r.name.padEnd(44)} ${String(r.value).padStart(9)} ${r.unit.padEnd(5)} ${r.detail ?? ''}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`${JSON.stringify({ bench: 'auditing', at: new Date().toISOString(), node: process.version, rows })}\n`);
}
