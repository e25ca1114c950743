/**
 * `npm run bench -- log-size [--quick] [--million] [--json]`: how `verify` and `prove` grow with the
 * log (docs/benchmarks.md "How cost grows").
 *
 * Each log is written by the log writer itself (openLog, batched, 256 appends in flight, ~1 KiB
 * entries, checkpoints signed on close), then, in this process:
 *   verify   verifyLog as `llmaudit verify` runs it (entry signatures after the newest checkpoint):
 *            MB of segment files per CPU-second of this process (one core) and per wall second;
 *            the first verify of the process (as the CLI runs it: the code not yet compiled), then
 *            the same log again (warm: the throughput without the process's start)
 *   prove    openLogReader(dir).prove(seq) as `llmaudit prove` runs it, for random seqs, each from
 *            a freshly opened reader (the tiles read from disk, not the whole log): p50 and max;
 *            then again with the partial tiles deleted, as for a log written before them (the
 *            leaves past the last full tile are then read from the segments)
 *
 * Sizes: 1k and 100k entries; 1M with --million (it takes minutes to write). --quick: 1k and 20k.
 * Targets: verify ≥ 60 MB/s per core; prove ≤ 10 ms at 1M entries.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openLog } from '../sidecar/src/auditlog/log-writer.ts';
import { verifyLog } from '../sidecar/src/auditlog/verifier.ts';
import { openLogReader } from '../sidecar/src/auditlog/log-reader.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from '../sidecar/src/auditlog/test-support.ts';

export interface LogSizeRow {
  entries: number;
  mb: number;
  writeSecs: number;
  verifyMbPerCpuSec: number;
  verifyMbPerSec: number;
  /** The same log verified again in the process (warm). */
  verifyWarmMbPerCpuSec: number;
  proveP50Ms: number;
  proveMaxMs: number;
  /** The same, the partial tiles deleted (a log written before them). */
  proveNoPartialsP50Ms: number;
  proveNoPartialsMaxMs: number;
}

/** p50 and max of 30 proofs of random seqs, each from a freshly opened reader. */
async function timeProofs(dir: string, entries: number): Promise<{ p50: number; max: number }> {
  const times: number[] = [];
  for (let k = 0; k < 30; k++) {
    const seq = Math.floor(Math.random() * entries);
    const s = performance.now();
    const b = await (await openLogReader(dir)).prove(seq);
    times.push(performance.now() - s);
    if (b.index !== seq) throw new Error(`prove ${seq} answered ${b.index}`);
  }
  times.sort((a, b) => a - b);
  return { p50: Number((times[Math.floor(times.length / 2)] as number).toFixed(2)), max: Number((times.at(-1) as number).toFixed(2)) };
}

async function deletePartialTiles(dir: string): Promise<void> {
  for (const f of await readdir(path.join(dir, 'tile'), { recursive: true })) if (f.endsWith('.p')) await rm(path.join(dir, 'tile', f), { recursive: true, force: true });
}

const BODY = 700; // with the sample payload's other members, a line of about 1 KiB

async function writeLog(dir: string, entries: number, signerKey: string): Promise<number> {
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey, durability: 'batched' });
  const payloads = Array.from({ length: 64 }, (_, i) => samplePayload(i, BODY));
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries) {
      const i = next++;
      await log.append(payloads[i % payloads.length] as (typeof payloads)[number]);
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  await log.close();
  return (performance.now() - t0) / 1000;
}

async function segmentBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) if (f.startsWith('seg-')) n += (await stat(path.join(dir, f))).size;
  return n;
}

export async function runLogSizeBench(opts: { quick?: boolean; million?: boolean; log?: ((s: string) => void) | undefined } = {}): Promise<LogSizeRow[]> {
  const say = opts.log ?? (() => undefined);
  const sizes = opts.quick === true ? [1_000, 20_000] : [1_000, 100_000];
  if (opts.million === true) sizes.push(1_000_000);
  const keys = testKeys();
  const root = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-logsize-'));
  const rows: LogSizeRow[] = [];
  try {
    for (const entries of sizes) {
      const dir = path.join(root, String(entries));
      say(`writing ${entries} entries`);
      const writeSecs = await writeLog(dir, entries, keys.signerKey);
      const bytes = await segmentBytes(dir);
      say(`verify ${entries}`);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const r = await verifyLog(dir, { keys: [keys.verifier] });
      const c = process.cpuUsage(c0);
      const secs = (performance.now() - t0) / 1000;
      if (r.exit !== 0 || r.entries !== entries) throw new Error(`verify of ${entries} entries failed: ${r.failure?.message ?? `${r.entries} entries`}`);
      const w0 = process.cpuUsage();
      const again = await verifyLog(dir, { keys: [keys.verifier] });
      const w = process.cpuUsage(w0);
      if (again.exit !== 0) throw new Error(`verify of ${entries} entries failed the second time: ${again.failure?.message}`);
      say(`prove ${entries}`);
      const prove = await timeProofs(dir, entries);
      await deletePartialTiles(dir);
      const old = await timeProofs(dir, entries);
      rows.push({
        entries,
        mb: Number((bytes / 1e6).toFixed(1)),
        writeSecs: Number(writeSecs.toFixed(1)),
        verifyMbPerCpuSec: Number((bytes / 1e6 / ((c.user + c.system) / 1e6)).toFixed(1)),
        verifyMbPerSec: Number((bytes / 1e6 / secs).toFixed(1)),
        verifyWarmMbPerCpuSec: Number((bytes / 1e6 / ((w.user + w.system) / 1e6)).toFixed(1)),
        proveP50Ms: prove.p50,
        proveMaxMs: prove.max,
        proveNoPartialsP50Ms: old.p50,
        proveNoPartialsMaxMs: old.max,
      });
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

export function checkLogSizeTargets(rows: LogSizeRow[]): Array<{ target: string; value: string; ok: boolean | null }> {
  const minVerify = Math.min(...rows.map((r) => r.verifyMbPerCpuSec));
  const largest = rows.at(-1);
  return [
    { target: 'verify ≥ 60 MB/s per core (every size)', value: `${minVerify} MB per CPU-second (slowest size)`, ok: minVerify >= 60 },
    { target: 'prove ≤ 10 ms at 1M entries', value: largest === undefined ? '-' : `${largest.proveP50Ms} ms p50 at ${largest.entries} entries`, ok: largest?.entries === 1_000_000 ? largest.proveP50Ms <= 10 : null },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const rows = await runLogSizeBench({ quick: args.includes('--quick'), million: args.includes('--million'), log: json ? undefined : (s) => process.stderr.write(`… ${s}\n`) });
  const targets = checkLogSizeTargets(rows);
  if (!json) {
    const pad = (v: unknown, n: number) => String(v).padStart(n);
    process.stdout.write(`${'entries'.padStart(9)}${pad('MB', 8)}${pad('write s', 9)}${pad('verify MB/CPU-s', 17)}${pad('verify MB/s', 13)}${pad('warm MB/CPU-s', 15)}${pad('prove p50 ms', 14)}${pad('prove max ms', 14)}${pad('no .p p50 ms', 14)}${pad('no .p max ms', 14)}\n`);
    for (const r of rows) process.stdout.write(`${pad(r.entries, 9)}${pad(r.mb, 8)}${pad(r.writeSecs, 9)}${pad(r.verifyMbPerCpuSec, 17)}${pad(r.verifyMbPerSec, 13)}${pad(r.verifyWarmMbPerCpuSec, 15)}${pad(r.proveP50Ms, 14)}${pad(r.proveMaxMs, 14)}${pad(r.proveNoPartialsP50Ms, 14)}${pad(r.proveNoPartialsMaxMs, 14)}\n`);
    for (const t of targets) process.stdout.write(`${t.ok === null ? '?' : t.ok ? '✓' : '✗'} ${t.target.padEnd(42)} ${t.value}\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'log-size', at: new Date().toISOString(), node: process.version, rows, targets })}\n`);
}
