// `llmaudit report --pdf`: prints the HTML report with a headless Chromium already installed on
// the machine (Debian's `chromium`), driven by puppeteer-core, which never downloads a browser.
// The page is opened from its file with the network off (the report needs none).
import { access, constants } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { PuppeteerNode } from 'puppeteer-core';
import { auditToolError } from './errors.ts';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** Chromium's flags for a headless run in a container or CI (no sandbox: no user namespaces there). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** The browser to use: `explicit` (LLMAUDIT_CHROMIUM) or the first candidate that is executable. */
export async function findChromium(explicit: string | undefined): Promise<string> {
  const list = explicit !== undefined && explicit !== '' ? [explicit] : CHROMIUM_CANDIDATES;
  for (const p of list) {
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  throw auditToolError('LLMAUDIT_E_REPORT_NO_BROWSER', `looked for ${list.join(', ')}; install Debian's chromium (apt-get install chromium) or set LLMAUDIT_CHROMIUM`);
}

export async function printPdf(htmlFile: string, pdfFile: string, executablePath: string): Promise<void> {
  // A variable specifier keeps puppeteer-core out of the CLI bundle: it is loaded only for --pdf.
  const moduleName = 'puppeteer-core';
  const puppeteer = ((await import(moduleName)) as { default: PuppeteerNode }).default;
  let browser: Awaited<ReturnType<typeof puppeteer.launch>> | null = null;
  try {
    browser = await puppeteer.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (req.url().startsWith('file:')) void req.continue();
      else void req.abort();
    });
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load', timeout: 120_000 });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
    await page.pdf({ path: pdfFile, format: 'A4', printBackground: true, margin: { top: '12mm', bottom: '12mm', left: '10mm', right: '10mm' }, timeout: 300_000 });
  } catch (err) {
    throw auditToolError('LLMAUDIT_E_REPORT_PDF', (err as Error).message, { cause: err });
  } finally {
    await browser?.close();
  }
}
