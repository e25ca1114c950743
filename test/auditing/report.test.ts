// `llmaudit report` on logs the real proxy wrote, opened in a real headless Chromium (Debian's
// chromium through puppeteer-core): no console error, the numbers on the page equal those computed
// from the log, the filters narrow the explorer, the drill-down shows the entry; CSV and PDF too.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { tempDir, testKeys } from '../../sidecar/src/auditlog/test-support.ts';
import type { Entry } from '../../sidecar/src/auditlog/types.ts';
import { readChainEntries } from '../../sidecar/src/audit-tools/chains.ts';
import { ReportBuilder } from '../../sidecar/src/audit-tools/report-model.ts';
import { reportCsv } from '../../sidecar/src/audit-tools/report-csv.ts';
import { CHROMIUM_ARGS, findChromium } from '../../sidecar/src/audit-tools/report-pdf.ts';
import { runCli } from '../../sidecar/src/cli/program.ts';
import { recordLog, type RecordedLog } from './proxy-log.ts';

let root: string;
let cleanup: () => Promise<void>;
let a: RecordedLog;
let b: RecordedLog;
let browser: Browser;
const entries: Entry[] = [];

async function llmaudit(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stderrIsTTY: false, env, cwd: root });
  return { code, stdout, stderr };
}

/** Opens a report; every console error and page error is collected. */
async function open(file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`request ${r.url()}`));
  await page.goto(pathToFileURL(path.join(root, file)).href, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="1"]');
  return { page, errors };
}

const text = (page: Page, sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');

beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir('llmaudit-report-'));
  const da = path.join(root, 'vol', 'prod', 'agent-a_0001');
  const db = path.join(root, 'vol', 'dev', 'agent-b_0002');
  await mkdir(da, { recursive: true });
  await mkdir(db, { recursive: true });
  a = await recordLog(da, { conversations: 3, plainChats: 2, notFound: 2, segmentMaxBytes: 8000, origin: 'llmaudit.dev/prod/agent-a/0001' });
  b = await recordLog(db, { conversations: 1, origin: 'llmaudit.dev/dev/agent-b/0002', keys: testKeys('llmaudit.dev/dev/agent-b/0002') });
  for (const d of [db, da]) for await (const l of readChainEntries(d)) entries.push(l.entry);
  browser = await puppeteer.launch({ executablePath: await findChromium(undefined), headless: true, args: CHROMIUM_ARGS });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await cleanup();
});

describe('llmaudit report', () => {
  it('writes one HTML file that loads with no console error and no request, with the numbers of the log', async () => {
    const r = await llmaudit(['report', 'vol', '--key', a.vkeyFile, '--key', b.vkeyFile, '--out', 'report.html', '--csv', 'report.csv']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote report.html: ${entries.length} exchanges of 2 chains (2 verified intact)`);
    const html = await readFile(path.join(root, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    const { page, errors } = await open('report.html');
    const fmt = (n: number): string => n.toLocaleString('en-US');
    const errorsInLog = entries.filter((e) => e.response.status >= 400).length;
    expect(errorsInLog).toBe(2);
    expect(await text(page, '#n-exchanges')).toBe(fmt(entries.length));
    expect(await text(page, '#n-errors')).toBe(fmt(errorsInLog));
    expect(await text(page, '#n-input')).toBe(fmt(entries.reduce((n, e) => n + (e.usage.inputTokens ?? 0), 0)));
    expect(await text(page, '#n-output')).toBe(fmt(entries.reduce((n, e) => n + (e.usage.outputTokens ?? 0), 0)));
    expect(await text(page, '#n-conversations')).toBe(fmt(new Set(entries.map((e) => e.trace.conversationId).filter((c) => c !== null)).size));
    expect(await text(page, '#n-chains')).toBe('2 / 2');
    const verification = await page.$$eval('#verification tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    expect(verification.map((v) => [v[0], v[4]])).toEqual([
      ['dev/agent-b_0002', 'intact'],
      ['prod/agent-a_0001', 'intact'],
    ]);
    const spans = await page.$$eval('#by-span tbody tr', (rows) => rows.map((r) => [r.children[0]?.textContent, r.children[1]?.textContent?.trim()]));
    expect(spans).toContainEqual(['TOOL_CALL', String(entries.filter((e) => e.trace.spanType === 'TOOL_CALL').length)]);
    expect(await page.$$eval('#timeline rect', (r) => r.length)).toBeGreaterThan(0);
    expect(await text(page, '#explorer-count')).toBe(`${entries.length} of ${entries.length} exchanges`);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the filters and the search narrow the explorer; a click opens the exchange with its hash and proof status', async () => {
    const { page, errors } = await open('report.html');
    await page.select('#f-status', 'errors');
    expect(await text(page, '#explorer-count')).toBe(`2 of ${entries.length} exchanges`);
    expect(await page.$$eval('#explorer-table tbody tr', (r) => r.length)).toBe(2);
    await page.select('#f-status', '');
    await page.select('#f-span', 'TOOL_CALL');
    const calls = entries.filter((e) => e.trace.spanType === 'TOOL_CALL');
    expect(await text(page, '#explorer-count')).toBe(`${calls.length} of ${entries.length} exchanges`);
    await page.select('#f-span', '');
    const target = entries.find((e) => e.origin === a.origin && e.trace.spanType === 'TOOL_CALL' && e.seq > 0) as Entry;
    // Typed key by key, the search re-rendered the table after the count already read "1 of N" (a
    // unique prefix), so the row clicked next could be detached: the query arrives as one input event.
    await page.$eval('#q', (el, v) => {
      (el as unknown as { value: string }).value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, target.hash.slice(0, 16));
    // The search applies on a timer after the input event: wait for it rather than read at once.
    await page.waitForFunction(`document.querySelector('#explorer-count')?.textContent === ${JSON.stringify(`1 of ${entries.length} exchanges`)}`, { timeout: 10_000 });
    expect(await text(page, '#explorer-count')).toBe(`1 of ${entries.length} exchanges`);
    await page.click('#explorer-table tbody tr');
    expect(await text(page, '#detail h2')).toBe(`Exchange #${target.seq} of prod/agent-a_0001`);
    expect(await text(page, '#detail-hash')).toBe(target.hash);
    expect(await text(page, '#detail-trace')).toBe(target.trace.traceId);
    expect(await text(page, '#detail-proof')).toMatch(/^included in the signed tree of size \d+ \(root [A-Za-z0-9+/=]+\)/);
    expect(JSON.parse(await text(page, '#detail-request'))).toEqual(target.request);
    expect(await text(page, '#detail-tools')).toContain('get_weather');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('--csv holds one row per exchange; formulas in log content are neutralized', async () => {
    const csv = (await readFile(path.join(root, 'report.csv'), 'utf8')).split('\r\n').filter((l) => l !== '');
    expect(csv[0]).toBe('chain,seq,time,model,endpoint,api,span_type,status,duration_ms,input_tokens,output_tokens,trace_id,hash,conversation_id,error,request,tool_calls,decision');
    expect(csv).toHaveLength(entries.length + 1);
    const e = entries[0] as Entry;
    expect(csv.some((l) => l.includes(e.hash) && l.startsWith('dev/agent-b_0002,0,'))).toBe(true);
    const builder = new ReportBuilder();
    builder.add(0, { ...e, model: '=HYPERLINK("http://evil")' });
    const model = builder.build({ title: 't', generatedAt: '', toolVersion: '', source: '', chains: [], costs: [null] });
    expect([...reportCsv(model)][1]).toContain(',"\'=HYPERLINK(""http://evil"")",');
  });

  it('an erasure record is counted as a record, not as an exchange', () => {
    // Regression: a log with 12 exchanges and one erasure record reported 13 exchanges.
    const e = entries[0] as Entry;
    const record = { v: 2, seq: 99, ts: e.ts, origin: e.origin, prevHash: e.hash, hash: 'ab'.repeat(32), kind: 'erasure', erasure: { at: e.ts, reason: 'retention', by: 'dpo', entries: [[1, 1]] } } as unknown as Entry;
    const builder = new ReportBuilder();
    builder.add(0, e);
    builder.add(0, record);
    const model = builder.build({ title: 't', generatedAt: '', toolVersion: '', source: '', chains: [], costs: [null] });
    expect(model.totals.exchanges).toBe(1);
    expect(model.totals.records).toBe(1);
    expect(model.rows).toHaveLength(1);
  });

  it('a partial pack: the report shows its entries with the inclusion proofs verified', async () => {
    const conv = entries.find((e) => e.origin === a.origin && e.seq >= 2 && e.trace.conversationId !== null)?.trace.conversationId as string;
    expect((await llmaudit(['export', 'vol', '--conversation', conv, '--out', 'conv.tar.gz'])).code).toBe(0);
    const r = await llmaudit(['report', 'conv.tar.gz', '--key', a.vkeyFile, '--out', 'conv.html']);
    expect(r.code, r.stderr).toBe(0);
    const { page, errors } = await open('conv.html');
    const n = entries.filter((e) => e.trace.conversationId === conv).length;
    expect(await text(page, '#n-exchanges')).toBe(String(n));
    await page.click('#explorer-table tbody tr');
    expect(await text(page, '#detail-proof')).toMatch(/^inclusion proof verified against the signed checkpoint of size \d+/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('--pdf prints through Chromium; without a browser it is LLMAUDIT_E_REPORT_NO_BROWSER', async () => {
    const r = await llmaudit(['report', 'vol/dev/agent-b_0002', '--out', 'b.html', '--pdf', 'b.pdf']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(path.join(root, 'b.pdf'))).subarray(0, 5).toString()).toBe('%PDF-');
    const none = await llmaudit(['report', 'vol', '--out', 'x.html', '--pdf', 'x.pdf'], { LLMAUDIT_CHROMIUM: path.join(root, 'no-such-browser') });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^llmaudit: LLMAUDIT_E_REPORT_NO_BROWSER: .*apt-get install chromium/);
  }, 60_000);
});
