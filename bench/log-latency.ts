/**
 * `npm run bench -- log-latency [--quick] [--json] [--worker PATH] [--compare PATH] [--gap MS] [--dir DIR] [--round N]`: what one append
 * costs its caller, one at a time, on this machine's disk (os.tmpdir()) — the part of a strict
 * exchange's added latency that the audit log owns (docs/adr/0021-strict-append-latency.md).
 *
 *   fdatasync alone        a 2.3 KiB write(2) then fdatasync(2), synchronous: the disk's floor
 *   hop alone              a sample payload posted to a thread that posts it back: the round
 *                          trip between two event loops (wake-ups and structured clones)
 *   thread strict          openLogInThread (the sidecar's writer thread), durability strict: the
 *                          hop there and back, the entry, its signature, the write, the fdatasync
 *   thread batched         the same writer, batched, no append window: the hop, the entry, the write
 *   in-process strict      openLog on this thread (no hop), strict
 *   in-process batched     openLog on this thread, batched
 *   in-process strict, blocking fdatasync
 *                          openLog on this thread with blockingSync (what the writer thread does):
 *                          fdatasync(2) on the caller's thread instead of through libuv's pool
 *
 * All configurations are open at once and take turns, one append each (`--round N`: N each), each
 * round starting with the next one, so a shared machine's load (and its disk's) drifts over all of
 * them alike; the first quarter of the rounds is an untimed warm-up. Appends of
 * the same sample payload go one at a time, each after `--gap` ms of idle time (default 1: the
 * threads go idle between exchanges, as they do when one request at a time goes through the
 * proxy). p50 / p90 / p99 of the time from append() to its answer. `--worker PATH`: another
 * build's log-worker.mjs for the thread rows; `--compare PATH`: another build's log-worker.mjs as
 * two more rows (e.g. one built from main with `node hack/build.mjs --out-root DIR`). Compare rows
 * of one run. `--dir` (default os.tmpdir()): e.g. a tmpfs (/dev/shm), where fdatasync returns at
 * once, to see the cost of everything but the disk.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openLog, type AuditLog } from '../sidecar/src/auditlog/log-writer.ts';
import { logWorkerScript, openLogInThread } from '../sidecar/src/auditlog/log-thread.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from '../sidecar/src/auditlog/test-support.ts';

export interface LatencyRow {
  name: string;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  n: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const idle = (ms: number): Promise<void> => new Promise((resolve) => (ms > 0 ? setTimeout(resolve, ms) : setImmediate(resolve)));

function summary(name: string, times: number[]): LatencyRow {
  const s = [...times].sort((a, b) => a - b);
  return { name, p50Ms: r3(pct(s, 50)), p90Ms: r3(pct(s, 90)), p99Ms: r3(pct(s, 99)), n: s.length };
}

/** One configuration: `once()` does one timed operation (the caller waits and times it). */
interface Config {
  name: string;
  once: () => Promise<unknown>;
  close: () => Promise<void>;
}

function logConfig(name: string, log: AuditLog): Config {
  const payload = samplePayload(1, 1500);
  return { name, once: () => log.append(payload), close: () => log.close() };
}

/** The hop alone: a thread that answers every message with the same message (a 3 KiB payload). */
async function hopConfig(): Promise<Config> {
  const w = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));", { eval: true });
  await new Promise((resolve) => w.once('online', resolve));
  const payload = samplePayload(1, 1500);
  return {
    name: 'hop alone (postMessage there and back)',
    once: () => new Promise((resolve) => {
      w.once('message', resolve);
      w.postMessage(payload);
    }),
    close: async () => void (await w.terminate()),
  };
}

function fdatasyncConfig(file: string): Config {
  const fd = openSync(file, 'a');
  const line = Buffer.alloc(2300, 'x');
  return {
    name: 'fdatasync alone (2.3 KiB write + fdatasync)',
    once: async () => {
      writeSync(fd, line);
      fdatasyncSync(fd);
    },
    close: async () => closeSync(fd),
  };
}

export async function runLogLatencyBench(opts: { quick?: boolean; worker?: string; compare?: string; gapMs?: number; dir?: string; round?: number; log?: (s: string) => void } = {}): Promise<LatencyRow[]> {
  const say = opts.log ?? (() => undefined);
  const count = opts.quick === true ? 600 : 1500;
  const gap = opts.gapMs ?? 1;
  const script = opts.worker === undefined ? logWorkerScript() : pathToFileURL(path.resolve(opts.worker));
  if (script === null) throw new Error('no built log-worker.mjs: run `npm run build` or pass --worker');
  const keys = testKeys();
  const root = await mkdtemp(path.join(opts.dir ?? tmpdir(), 'llmaudit-log-latency-'));
  const configs: Config[] = [];
  try {
    configs.push(fdatasyncConfig(path.join(root, 'bare')));
    configs.push(await hopConfig());
    const workers: Array<[string, URL]> = [['', script]];
    if (opts.compare !== undefined) workers.push([' (--compare build)', pathToFileURL(path.resolve(opts.compare))]);
    for (const [label, w] of workers) {
      for (const durability of ['strict', 'batched'] as const) {
        const log = await openLogInThread({ dir: path.join(root, `thread-${durability}${configs.length}`), origin: TEST_ORIGIN, signerKey: keys.signerKey, durability, workerScript: w, appendWindowMs: 0 });
        configs.push(logConfig(`thread ${durability}${label}`, log));
      }
    }
    for (const durability of ['strict', 'batched'] as const) {
      const log = await openLog({ dir: path.join(root, `inproc-${durability}`), origin: TEST_ORIGIN, signerKey: keys.signerKey, durability });
      configs.push(logConfig(`in-process ${durability}`, log));
    }
    // The writer thread's fdatasync (blockingSync) against libuv's thread pool, on one thread.
    const blocking = await openLog({ dir: path.join(root, 'inproc-strict-blocking'), origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict', blockingSync: true });
    configs.push(logConfig('in-process strict, blocking fdatasync', blocking));
    // Rounds of `round` appends per configuration, in turn, so that the machine's load drifts over
    // all alike (on a busy disk, rounds of 50 put the two in-process strict rows 2× apart, in either
    // direction from run to run; one append each, not); the first quarter is warm-up (JIT, the first segment, the heap).
    const round = opts.round ?? 1;
    const rounds = Math.ceil(count / round);
    const warmRounds = Math.ceil(rounds / 4);
    const times = configs.map(() => [] as number[]);
    for (let r = 0; r < warmRounds + rounds; r++) {
      if (r === warmRounds) say(`${rounds} timed rounds of ${round} per configuration`);
      for (let k = 0; k < configs.length; k++) {
        const c = (k + r) % configs.length; // each round starts one further: no configuration always follows the same one
        const cfg = configs[c] as Config;
        for (let i = 0; i < round; i++) {
          await idle(gap);
          const t = performance.now();
          await cfg.once();
          if (r >= warmRounds) (times[c] as number[]).push(performance.now() - t);
        }
      }
    }
    return configs.map((c, i) => summary(c.name, times[i] as number[]));
  } finally {
    for (const c of configs) await c.close();
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const w = args.indexOf('--worker');
  const g = args.indexOf('--gap');
  const c = args.indexOf('--compare');
  const d = args.indexOf('--dir');
  const rd = args.indexOf('--round');
  const rows = await runLogLatencyBench({
    quick: args.includes('--quick'),
    ...(w === -1 ? {} : { worker: args[w + 1] as string }),
    ...(g === -1 ? {} : { gapMs: Number(args[g + 1]) }),
    ...(c === -1 ? {} : { compare: args[c + 1] as string }),
    ...(d === -1 ? {} : { dir: args[d + 1] as string }),
    ...(rd === -1 ? {} : { round: Number(args[rd + 1]) }),
    log: json ? undefined : (s) => process.stderr.write(`… ${s}\n`),
  } as Parameters<typeof runLogLatencyBench>[0]);
  const ratio = (a: string, b: string): number | null => {
    const x = rows.find((r) => r.name === a)?.p50Ms;
    const y = rows.find((r) => r.name === b)?.p50Ms;
    return x === undefined || y === undefined || y <= 0 ? null : r3(x / y);
  };
  const result = { bench: 'log-latency', at: new Date().toISOString(), node: process.version, rows, strictOverBatchedThread: ratio('thread strict', 'thread batched'), compareStrictOverBatchedThread: ratio('thread strict (--compare build)', 'thread batched (--compare build)') };
  if (!json) {
    process.stdout.write(`${'append, one at a time'.padEnd(44)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)}\n`);
    for (const r of rows) process.stdout.write(`${r.name.padEnd(44)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p90Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)}\n`);
    process.stdout.write(`thread strict ÷ thread batched, p50: ${result.strictOverBatchedThread ?? '-'}×\n`);
    if (result.compareStrictOverBatchedThread !== null) process.stdout.write(`the same, --compare build: ${result.compareStrictOverBatchedThread}×\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
