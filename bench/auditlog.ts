/**
 * `npm run bench -- auditlog [--quick] [--json]`: the audit log on this machine's disk (os.tmpdir()).
 *
 *   append batched   4 KiB entries, 256 appends in flight: entries/s and per-append latency
 *                    (each append run starts with an untimed warm-up of count/10, at most 1,000)
 *   append strict    4 KiB entries, one appender awaiting each append (latency = hash + sign +
 *                    write + fdatasync), and 64 in flight (group commit throughput)
 *   verify           the batched log verified in this process (one core), in MB/s of segment files:
 *                    as `llmaudit verify` does by default (entry signatures after the newest
 *                    checkpoint; the rest are covered by its signed root), and --all-signatures
 *   entry v1 vs v2   building one 4 KiB entry (canonical JSON, hashes, no signature) and checking
 *                    its line (checkLine: what verify does per entry), format v1 (hash over the
 *                    whole entry) against v2 (a salted digest per part, then the hash over the
 *                    rest), interleaved in rounds timed in CPU time, median round; and v1 vs v2
 *                    verify of a whole log
 *   writer by size   signed entries per CPU-second at 1, 4 and 64 KiB; LLMAUDIT_BENCH_WRITER_BASELINE=
 *                    <checkout root> adds the same rows for that tree's writer, alternating in rounds
 *   proof at 1M      a tree of 1,000,000 leaves built directly in a TileStore (random leaf hashes,
 *                    full tiles flushed to disk: the tiles a 1M-entry log has), then inclusion proofs
 *                    for random leaves from a freshly opened store, i.e. read from the tile files
 *
 * Targets (2-core machine): batched ≥ 10,000 entries/s; strict p50 ≤ 0.5 ms;
 * verify ≥ 60 MB/s per core; inclusion proof ≤ 10 ms at 1M entries.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openLog } from '../sidecar/src/auditlog/log-writer.ts';
import { verifyLog } from '../sidecar/src/auditlog/verifier.ts';
import { TileStore } from '../sidecar/src/auditlog/tiles.ts';
import { buildEntry, checkLine, isLineProblem } from '../sidecar/src/auditlog/entry.ts';
import { verifyInclusion, leafHash } from '../sidecar/src/auditlog/merkle.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from '../sidecar/src/auditlog/test-support.ts';
import type { Durability } from '../sidecar/src/auditlog/types.ts';
import { ed25519Sign } from '../sidecar/src/auditlog/keys.ts';

export interface AuditlogBenchRow {
  name: string;
  value: number;
  unit: string;
  detail?: string;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

/** Body size that makes one line about `bytes` long (at least a 64-byte body). */
function bodyFor(bytes: number): number {
  const base = buildEntry(samplePayload(0, 0), { seq: 1000, ts: new Date().toISOString(), origin: TEST_ORIGIN, prevHash: '0'.repeat(64) }, { sign: () => Buffer.alloc(64) }).line.length;
  return Math.max(64, bytes - base);
}
const bodyFor4k = (): number => bodyFor(4096);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
}

/**
 * CPU µs per call of `run(v, i)` for each format: the two interleaved in rounds of 250 so drift
 * hits both alike, each round timed in this process's CPU time (other processes on a shared
 * machine do not count), the median round reported.
 */
function perFormatCost(n: number, run: (v: 1 | 2, i: number) => unknown): { v1: number; v2: number } {
  for (let warm = 0; warm < 2_000; warm++) for (const v of [1, 2] as const) run(v, warm);
  const rounds: Record<1 | 2, number[]> = { 1: [], 2: [] };
  const round = 250;
  for (let done = 0; done < n; done += round) {
    for (const v of [1, 2] as const) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < round; i++) run(v, done + i);
      const c = process.cpuUsage(c0);
      rounds[v].push((c.user + c.system) / round);
    }
  }
  return { v1: median(rounds[1]), v2: median(rounds[2]) };
}

/** CPU µs to build one entry in each format (canonical JSON, digests, hash; no signature). */
function buildCost(body: number, n: number): { v1: number; v2: number } {
  const payloads = Array.from({ length: 64 }, (_, i) => samplePayload(i, body));
  const at = { seq: 1000, ts: new Date().toISOString(), origin: TEST_ORIGIN, prevHash: '0'.repeat(64) };
  return perFormatCost(n, (v, i) => buildEntry(payloads[i % 64] as (typeof payloads)[number], at, null, v));
}

/** CPU µs to check one line in each format (parse, canonical form, part digests, hash), as the verifier does per entry. */
function checkCost(body: number, n: number): { v1: number; v2: number } {
  const at = { seq: 1000, ts: new Date().toISOString(), origin: TEST_ORIGIN, prevHash: '0'.repeat(64) };
  const signer = { sign: () => Buffer.alloc(64) };
  // Lines as the verifier reads them: flat strings decoded from bytes.
  const lines = { 1: [] as string[], 2: [] as string[] };
  for (let i = 0; i < 64; i++) for (const v of [1, 2] as const) lines[v].push(Buffer.from(buildEntry(samplePayload(i, body), at, signer, v).line.slice(0, -1)).toString());
  return perFormatCost(n, (v, i) => {
    const c = checkLine(lines[v][i % 64] as string);
    if (isLineProblem(c)) throw new Error(c.message);
    return c;
  });
}

/** CPU seconds (user + system) of this process since `from`: on a shared machine, throughput per CPU-second is the fairer number. */
function cpuSecs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

/**
 * CPU µs of one Ed25519 signature over a 32-byte hash, as the writer signs each entry (node:crypto,
 * the KeyObject made once): the median of three runs of 3,000 after 1,000 untimed. The same call
 * runs 40-55 µs on this 2-vCPU machine from one hour to the next, so the writer rows carry it: the
 * part of an entry that is not the signature is what the code controls.
 */
export function signatureCost(): number {
  const { privateKey } = generateKeyPairSync('ed25519');
  const msg = randomBytes(32);
  for (let i = 0; i < 1_000; i++) ed25519Sign(privateKey, msg);
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 3_000; i++) ed25519Sign(privateKey, msg);
    runs.push((cpuSecs(c0) * 1e6) / 3_000);
  }
  return median(runs);
}

async function appendRun(dir: string, durability: Durability, count: number, inFlight: number, body: number, signerKey: string, open: typeof openLog = openLog): Promise<{ perSec: number; perCpuSec: number; p50: number; p99: number; bytes: number }> {
  const log = await open({ dir, origin: TEST_ORIGIN, signerKey, durability });
  const payloads = Array.from({ length: 64 }, (_, i) => samplePayload(i, body));
  // Untimed warm-up (JIT, the signing worker's start, the first segment's creation): one-time
  // costs of a long-running writer, not per-entry ones. Then `count` timed appends.
  let goal = Math.min(1_000, Math.ceil(count / 10));
  let next = 0;
  let lat: number[] = [];
  const worker = async (): Promise<void> => {
    while (next < goal) {
      next++;
      const s = performance.now();
      await log.append(payloads[next % payloads.length] as (typeof payloads)[number]);
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  await log.flush();
  const warm = log.stats().bytesWritten;
  lat = [];
  next = 0;
  goal = count;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, worker));
  await log.flush();
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSecs(c0);
  const bytes = log.stats().bytesWritten - warm;
  await log.close();
  lat.sort((a, b) => a - b);
  return { perSec: count / secs, perCpuSec: count / cpu, p50: pct(lat, 50), p99: pct(lat, 99), bytes };
}

export async function runAuditlogBench(opts: { quick?: boolean; log?: ((s: string) => void) | undefined } = {}): Promise<AuditlogBenchRow[]> {
  const say = opts.log ?? (() => undefined);
  const n = opts.quick === true ? 5_000 : 20_000;
  const keys = testKeys();
  const body = bodyFor4k();
  const root = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-'));
  const rows: AuditlogBenchRow[] = [];
  try {
    say('entry build and check, v1 vs v2');
    const cost = buildCost(body, opts.quick === true ? 5_000 : 20_000);
    rows.push({ name: 'entry build v1 (4 KiB, per entry)', value: Number(cost.v1.toFixed(2)), unit: 'CPU µs', detail: 'JCS + SHA-256 of the whole entry (median round)' });
    rows.push({ name: 'entry build v2 (4 KiB, per entry)', value: Number(cost.v2.toFixed(2)), unit: 'CPU µs', detail: `a salted digest per part (bodies, wire digests) + hash of the rest; ${((cost.v2 / cost.v1 - 1) * 100).toFixed(0)}% vs v1` });
    const check = checkCost(body, opts.quick === true ? 5_000 : 20_000);
    rows.push({ name: 'entry check v1 (4 KiB, per entry)', value: Number(check.v1.toFixed(2)), unit: 'CPU µs', detail: 'checkLine: parse, canonical form, hash (median round)' });
    rows.push({ name: 'entry check v2 (4 KiB, per entry)', value: Number(check.v2.toFixed(2)), unit: 'CPU µs', detail: `checkLine: parse, canonical form, part digests, hash of the view; ${((check.v2 / check.v1 - 1) * 100).toFixed(0)}% vs v1` });
    say(`verify v1 vs v2 x${n}`);
    for (const v of [1, 2] as const) {
      const d = path.join(root, `verify-v${v}`);
      const log = await openLog({ dir: d, origin: TEST_ORIGIN, signerKey: keys.signerKey, formatVersion: v });
      const ps = Array.from({ length: 64 }, (_, i) => samplePayload(i, body));
      const all: Array<Promise<unknown>> = [];
      for (let i = 0; i < n; i++) all.push(log.append(ps[i % 64] as (typeof ps)[number]));
      await Promise.all(all);
      await log.close();
      let segBytes = 0;
      for (const f of await readdir(d)) if (f.startsWith('seg-')) segBytes += (await stat(path.join(d, f))).size;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const r = await verifyLog(d, { keys: [keys.verifier] });
      const cpu = cpuSecs(c0);
      const secs = (performance.now() - t0) / 1000;
      if (!r.ok) throw new Error(`v${v} log does not verify: ${r.failure?.message}`);
      rows.push({ name: `verify v${v} log (1 core)`, value: Number((segBytes / 1e6 / secs).toFixed(1)), unit: 'MB/s', detail: `${((cpu * 1e6) / r.entries).toFixed(1)} CPU µs per entry, ${(segBytes / 1e6 / cpu).toFixed(1)} MB per CPU-second; ${r.entries} entries` });
      await rm(d, { recursive: true, force: true });
    }

    say(`append batched x${n}`);
    const batchedDir = path.join(root, 'batched');
    const b = await appendRun(batchedDir, 'batched', n, 256, body, keys.signerKey);
    rows.push({ name: 'append batched (4 KiB, 256 in flight)', value: Math.round(b.perSec), unit: 'entries/s', detail: `${Math.round(b.perCpuSec)} per CPU-second; p50 ${b.p50.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms` });
    // Entries per CPU-second of this process (the writer on one core) by entry size: 1 KiB (a short
    // chat exchange), 4 KiB (above) and 64 KiB (a long context). With LLMAUDIT_BENCH_WRITER_BASELINE
    // set to another checkout's root, that tree's writer runs beside this one in the same process,
    // the two alternating over three rounds (median reported), so both see the same machine.
    const baselineRoot = process.env.LLMAUDIT_BENCH_WRITER_BASELINE;
    const baselineOpen = baselineRoot === undefined || baselineRoot === '' ? null : ((await import(pathToFileURL(path.join(path.resolve(baselineRoot), 'sidecar/src/auditlog/log-writer.ts')).href)) as { openLog: typeof openLog }).openLog;
    say('Ed25519 signature alone');
    const signBefore = signatureCost();
    for (const kib of [1, 4, 64]) {
      say(`append batched ${kib} KiB, per CPU-second`);
      const count = kib === 64 ? Math.ceil(n / 5) : n;
      const run = (open: typeof openLog, tag: string): ReturnType<typeof appendRun> => appendRun(path.join(root, `batched-${kib}k-${tag}`), 'batched', count, 256, bodyFor(kib * 1024), keys.signerKey, open);
      const row = (r: Awaited<ReturnType<typeof appendRun>>, suffix: string, rounds: string): void => {
        const perEntry = 1e6 / r.perCpuSec;
        rows.push({ name: `writer, ${kib} KiB entries (one core)${suffix}`, value: Math.round(r.perCpuSec), unit: 'entries per CPU-second', detail: `${(r.bytes / count / 1024).toFixed(1)} KiB per line; ${perEntry.toFixed(1)} CPU µs per entry, ${(perEntry - signBefore).toFixed(1)} besides the signature; ${Math.round(r.perSec)} entries/s wall${rounds}` });
      };
      if (baselineOpen === null) {
        row(kib === 4 ? b : await run(openLog, 'this'), '', '');
        continue;
      }
      const mine: Array<Awaited<ReturnType<typeof appendRun>>> = [];
      const theirs: Array<Awaited<ReturnType<typeof appendRun>>> = [];
      for (let round = 0; round < 3; round++) {
        theirs.push(await run(baselineOpen, `baseline-${round}`));
        mine.push(await run(openLog, `this-${round}`));
      }
      const mid = (rs: typeof mine): (typeof mine)[number] => [...rs].sort((x, y) => x.perCpuSec - y.perCpuSec)[1] as (typeof mine)[number];
      const rounds = (rs: typeof mine): string => `; rounds ${rs.map((r) => Math.round(r.perCpuSec)).join(', ')}`;
      row(mid(mine), '', rounds(mine));
      row(mid(theirs), ', baseline', rounds(theirs));
    }
    const signAfter = signatureCost();
    rows.push({ name: 'Ed25519 signature alone', value: Number(signBefore.toFixed(1)), unit: 'CPU µs', detail: `node:crypto over 32 bytes, as the writer signs each entry, before the writer rows (${signAfter.toFixed(1)} after them): the machine's speed at the time` });

    say('append strict, one appender');
    const s1 = await appendRun(path.join(root, 'strict1'), 'strict', Math.min(3_000, n), 1, body, keys.signerKey);
    rows.push({ name: 'append strict p50 (4 KiB, 1 appender)', value: Number(s1.p50.toFixed(3)), unit: 'ms', detail: `p99 ${s1.p99.toFixed(2)} ms, ${Math.round(s1.perSec)} entries/s` });
    say('append strict, 64 in flight');
    const s64 = await appendRun(path.join(root, 'strict64'), 'strict', n, 64, body, keys.signerKey);
    rows.push({ name: 'append strict (4 KiB, 64 in flight)', value: Math.round(s64.perSec), unit: 'entries/s', detail: `${Math.round(s64.perCpuSec)} per CPU-second; p50 ${s64.p50.toFixed(2)} ms, p99 ${s64.p99.toFixed(2)} ms` });

    let segBytes = 0;
    for (const f of await readdir(batchedDir)) if (f.startsWith('seg-')) segBytes += (await stat(path.join(batchedDir, f))).size;
    for (const mode of ['uncovered', 'all'] as const) {
      say(`verify (${mode})`);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const r = await verifyLog(batchedDir, { keys: [keys.verifier], entrySignatures: mode });
      const secs = (performance.now() - t0) / 1000;
      const cpu = cpuSecs(c0);
      if (r.exit !== 0) throw new Error(`verify failed: ${r.failure?.message}`);
      rows.push({ name: mode === 'all' ? 'verify --all-signatures (1 core)' : 'verify (1 core)', value: Number((segBytes / 1e6 / secs).toFixed(1)), unit: 'MB/s', detail: `${(segBytes / 1e6 / cpu).toFixed(1)} MB per CPU-second; ${r.entries} entries, ${(segBytes / 1e6).toFixed(1)} MB in ${secs.toFixed(2)} s` });
    }

    say('tree of 1M leaves');
    const leaves = 1_000_000;
    const tdir = path.join(root, 'tree');
    const t0 = performance.now();
    const build = await TileStore.open(tdir);
    const leaf = randomBytes(32);
    for (let i = 0; i < leaves; i++) {
      leaf.writeUInt32BE(i, 0);
      build.append(leafHash(leaf));
    }
    await build.flush();
    const root1 = await build.root();
    await build.close();
    const buildSecs = (performance.now() - t0) / 1000;
    const store = await TileStore.open(tdir);
    for (let i = 0; i < leaves % 256; i++) {
      // The partial last tile lives in memory only: re-append, as the writer's recovery does.
      leaf.writeUInt32BE(leaves - (leaves % 256) + i, 0);
      store.append(leafHash(leaf));
    }
    const times: number[] = [];
    for (let k = 0; k < 200; k++) {
      const idx = Math.floor(Math.random() * leaves);
      const s = performance.now();
      const proof = await store.inclusionProof(idx, leaves);
      times.push(performance.now() - s);
      if (k < 5) {
        leaf.writeUInt32BE(idx, 0);
        if (!verifyInclusion(idx, leaves, leafHash(leaf), proof, root1)) throw new Error('proof does not verify');
      }
    }
    times.sort((a, b) => a - b);
    rows.push({ name: 'inclusion proof at 1M entries', value: Number(pct(times, 50).toFixed(3)), unit: 'ms (p50)', detail: `p99 ${pct(times, 99).toFixed(2)} ms, first (cold) ${times.at(-1)?.toFixed(2)} ms max; tree built in ${buildSecs.toFixed(1)} s` });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

export function checkTargets(rows: AuditlogBenchRow[]): Array<{ target: string; value: string; ok: boolean }> {
  const v = (prefix: string): number => rows.find((r) => r.name.startsWith(prefix))?.value ?? NaN;
  return [
    { target: 'batched ≥ 10,000 entries/s', value: `${v('append batched')}`, ok: v('append batched') >= 10_000 },
    { target: 'writer ≥ 10,000 signed 1 KiB entries per CPU-second', value: `${v('writer, 1 KiB')}`, ok: v('writer, 1 KiB') >= 10_000 },
    { target: 'strict p50 append ≤ 0.5 ms', value: `${v('append strict p50')} ms`, ok: v('append strict p50') <= 0.5 },
    { target: 'verify ≥ 60 MB/s per core', value: `${v('verify (1 core)')} MB/s`, ok: v('verify (1 core)') >= 60 },
    { target: '(verify --all-signatures, for reference)', value: `${v('verify --all-signatures')} MB/s`, ok: v('verify --all-signatures') >= 60 },
    { target: 'inclusion proof ≤ 10 ms at 1M', value: `${v('inclusion proof')} ms`, ok: v('inclusion proof') <= 10 },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const rows = await runAuditlogBench({ quick: args.includes('--quick'), log: json ? undefined : (s) => process.stderr.write(`… ${s}\n`) });
  const targets = checkTargets(rows);
  const result = { bench: 'auditlog', at: new Date().toISOString(), node: process.version, rows, targets };
  if (!json) {
    for (const r of rows) process.stdout.write(`${r.name.padEnd(42)} ${String(r.value).padStart(10)} ${r.unit.padEnd(10)} ${r.detail ?? ''}\n`);
    process.stdout.write('\n');
    for (const t of targets) process.stdout.write(`${t.ok ? '✓' : '✗'} ${t.target.padEnd(46)} ${t.value}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
