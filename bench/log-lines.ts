/**
 * `npm run bench -- log-lines [--quick] [--json]`: what the sidecar's one pino line per exchange
 * costs the event loop (docs/adr/0018-sidecar-cost-per-exchange.md, decision 16).
 *
 *   sidecar destination   sidecar/src/log-lines.ts gatheredLines: 32 KiB gathered per write, the
 *                         lines held as Buffers (sonic-boom's buffer mode)
 *   sonic-boom utf8 mode  pino.destination with the same gathering in sonic-boom's default mode,
 *                         which measures the whole gathered string on every line
 *
 * Both write to /dev/null through pino with the sidecar's options (base origin, ISO time), the
 * exchange line of record.ts (~240 bytes), yielding to the event loop every 50 lines as a proxy
 * does between exchanges. Rows alternate in one process, three rounds each after a warm-up: CPU µs
 * per line, and young-generation collections per 1,000 lines (PerformanceObserver 'gc').
 */
import { closeSync, openSync } from 'node:fs';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { gatheredLines, LOG_LINES_MIN_WRITE, type LineDestination } from '../sidecar/src/log-lines.ts';

interface Row {
  name: string;
  cpuUsPerLine: number[];
  scavengesPer1k: number[];
}

function utf8Mode(fd: number): LineDestination {
  const boom = pino.destination({ dest: fd, sync: false, minLength: LOG_LINES_MIN_WRITE, maxWrite: 2 * LOG_LINES_MIN_WRITE });
  return { write: (s) => boom.write(s), flush: (cb) => boom.flush(cb), flushSync: () => boom.flushSync() };
}

let scavenges = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
});

async function lines(dest: LineDestination, n: number): Promise<void> {
  const logger = pino({ base: { origin: 'llmaudit.dev/bench/pod-7c9f/5d1e2a40-0000-4000-8000-000000000000' }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  for (let i = 0; i < n; i++) {
    logger.info({ id: `01a24eed-e054-7a0c-bb73-${String(i).padStart(12, '0')}`, endpoint: 'default', api: 'openai.chat', model: 'bench-model', status: 200, ms: 1.479 + (i % 13) / 7, tokens: { input: 20, output: 200 }, seq: i }, 'exchange');
    if (i % 50 === 49) await nextTurn();
  }
  // flush answers once the lines are written, then fsyncs the descriptor, which /dev/null refuses
  // (EINVAL): the answer, not the fsync, is what this waits for.
  await new Promise<void>((resolve) => dest.flush(() => resolve()));
}

export async function runLogLinesBench(quick: boolean): Promise<Row[]> {
  const n = quick ? 50_000 : 200_000;
  const fd = openSync('/dev/null', 'w');
  const rows: Array<Row & { make: (fd: number) => LineDestination }> = [
    { name: 'sidecar destination', make: gatheredLines, cpuUsPerLine: [], scavengesPer1k: [] },
    { name: 'sonic-boom utf8 mode', make: utf8Mode, cpuUsPerLine: [], scavengesPer1k: [] },
  ];
  gcObserver.observe({ entryTypes: ['gc'] });
  try {
    for (const r of rows) await lines(r.make(fd), n / 10);
    for (let round = 0; round < 3; round++) {
      for (const r of rows) {
        const dest = r.make(fd);
        await lines(dest, 2_000);
        await nextTurn(); // the gc entries of the warm-up are delivered before the count starts
        const s0 = scavenges;
        const c0 = process.cpuUsage();
        await lines(dest, n);
        const c = process.cpuUsage(c0);
        await nextTurn();
        r.cpuUsPerLine.push(Number(((c.user + c.system) / n).toFixed(2)));
        r.scavengesPer1k.push(Number((((scavenges - s0) * 1000) / n).toFixed(2)));
      }
    }
  } finally {
    gcObserver.disconnect();
    closeSync(fd);
  }
  return rows.map(({ name, cpuUsPerLine, scavengesPer1k }) => ({ name, cpuUsPerLine, scavengesPer1k }));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const rows = await runLogLinesBench(args.includes('--quick'));
  if (!args.includes('--json')) {
    process.stdout.write('One pino exchange line: CPU µs per line, and young-generation collections per 1,000 lines (three rounds)\n');
    for (const r of rows) process.stdout.write(`${r.name.padEnd(22)}${r.cpuUsPerLine.map((v) => v.toFixed(2).padStart(8)).join('')}   scavenges ${r.scavengesPer1k.map((v) => v.toFixed(2)).join(', ')}\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'log-lines', at: new Date().toISOString(), node: process.version, rows })}\n`);
}
