/**
 * What the proxy costs an exchange (docs/benchmarks.md).
 *
 * One run, one upstream (bench/proxy-servers.ts `upstream`, its own process), and in turn:
 *   direct                      client → upstream
 *   llmaudit (batched)          the real `llmaudit proxy` CLI (sidecar/dist/llmaudit.mjs), own process
 *   llmaudit (strict)           the same, `--durability strict`
 *   llmaudit (tracing 100%)     batched, `--otlp-endpoint` to an OTLP/HTTP receiver on port 0, sampling 1
 *   llmaudit (full governance)  batched, `--config` with every detector (redact-in-log, responses flagged),
 *                               model rules, caps and a local rate limit too high to trigger (`--only batched,governance`)
 *   undici pass-through (floor) bench/proxy-servers.ts `floor`, own process
 *   bare forwarder (no record)  bench/proxy-servers.ts `bare`: llmaudit's forwarding path, nothing recorded
 *   Portkey gateway             @portkey-ai/gateway's start-server.js, own process (if installed)
 *
 * The upstream is warmed first, and every target gets the same warm-up before its rows.
 * Workloads: non-streaming 1 KiB JSON, one request at a time for the added p50/p99 (what one
 * exchange costs, without queueing behind 49 others on a small machine) and at 50 concurrent for
 * throughput; streaming 200 SSE frames one at a time for added TTFB; 1,000 concurrent idle streams
 * (one frame, then silence) for RSS. CPU per exchange: each target process's threads, read from
 * /proc over the one-at-a-time phase (the least noisy figure on a shared machine). After the rows,
 * paired rounds (runPairedRounds) measure the three ratio targets again with llmaudit, the floor
 * and the bare forwarder taking turns. Every loop is bounded by a count and
 * a deadline; everything is on 127.0.0.1. The load generator (undici pools) runs in this process,
 * so on a small machine all processes share the CPUs: compare rows of one run, not across runs.
 *
 *   npm run bench -- proxy [--quick] [--json] [--only direct,batched,strict,tracing,governance,floor,bare,portkey,baseline]
 *                          [--baseline OTHER/llmaudit.mjs]   (another build, batched, side by side)
 *                          [--no-anatomy]   (skip the memory anatomy: memoryAnatomy, after the rows)
 *                          [--no-paired]    (skip the paired rounds of the ratio targets: runPairedRounds)
 *                          [--baseline-durability strict]    (that build as a strict sidecar instead)
 *   npm run bench -- proxy --scale [--quick]   how cost grows: body size, stream length, concurrency
 *   npm run bench -- proxy --steady [--quick] [--gc] [--baseline OTHER/llmaudit.mjs]   where CPU and RSS settle
 *                                              under sustained load (runSteadyBench); --gc: each isolate's
 *                                              collections per exchange (bench/heap-probe.mjs)
 *   npm run bench -- proxy --stall [--quick] [--baseline OTHER/llmaudit.mjs]   what a 1 MiB prompt does to
 *                                              the event loop: delay, longest synchronous block (runStallBench)
 *                                              (direct, llmaudit batched, the floor; runScaleBench)
 *   LLMAUDIT_BENCH_PROFILE=/tmp/prof npm run bench -- proxy --only direct,batched   (CPU profiles)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { Pool } from 'undici';
import { summarizeHeapSnapshot, type HeapSummary } from './heap-snapshot.ts';
import { parseJsonBody, parseJsonBodyInTurns } from '../sidecar/src/capture/stored-body.ts';
import { benchCli, imageEnv, imageNodeFlags } from './image-sidecar.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/**
 * The llmaudit rows run what the sidecar image runs: the standalone bundle (`hack/build.mjs
 * --standalone`, dependencies inlined, no comments or indentation), built by the bench into a
 * temporary directory from this checkout. The development build (`npm run build`, dependencies
 * loaded from node_modules) idles ~12 MiB higher. LLMAUDIT_BENCH_CLI: another build's llmaudit.mjs
 * instead (e.g. one built with --out-root).
 */
const cli = benchCli;

const portkeyBin = path.join(root, 'node_modules/@portkey-ai/gateway/build/start-server.js');

interface Settings {
  warmup: number;
  /** Sequential requests for added latency (one at a time: per-request cost, not queueing). */
  latencyRequests: number;
  /** Sequential requests, not measured, between the concurrent warm-up and the sequential phase. */
  settleRequests: number;
  requests: number;
  concurrency: number;
  streams: number;
  streamConcurrency: number;
  idle: number;
  phaseSeconds: number;
}
// Every target gets the same warm-up (JIT, pools, heap grown to its working size) before it is
// measured: steady state is what a sidecar serves, and a cold process's first GCs would otherwise
// land in whichever phase runs first.
const FULL: Settings = { warmup: 3000, settleRequests: 3000, latencyRequests: 5000, requests: 5000, concurrency: 50, streams: 500, streamConcurrency: 1, idle: 1000, phaseSeconds: 30 };
const QUICK: Settings = { warmup: 1000, settleRequests: 1000, latencyRequests: 1500, requests: 1500, concurrency: 50, streams: 150, streamConcurrency: 1, idle: 1000, phaseSeconds: 15 };

export interface ProxyBenchRow {
  target: string;
  /** Sequential: p50/p99 of one request at a time. Under load: 50 concurrent, throughput and its latency. */
  nonStream: { requests: number; p50Ms: number; p99Ms: number; rps: number; loadP50Ms: number; loadP99Ms: number } | null;
  stream: { requests: number; ttfbP50Ms: number; ttfbP99Ms: number; p50Ms: number; p99Ms: number; frames: number } | null;
  idleStreams: { open: number; rssMb: number | null } | null;
  rssMb: number | null; // peak RSS of the target's process over the run (VmHWM)
  /** RSS a second after start, before any traffic. */
  idleRssMb?: number | null;
  /** The highest RSS sampled (every 100 ms) during the 50-concurrent phase. */
  loadRssMb?: number | null;
  /** CPU of the target's process per exchange over the one-at-a-time phase: its main thread, and all its other threads. */
  cpu: { mainUs: number; otherUs: number } | null;
  error?: string;
}

interface Child {
  proc: ChildProcess;
  /** The first lines the child printed (stdout and stderr), read back from its output file. */
  lines(): string[];
  exited: Promise<number | null>;
}

/**
 * A target's output goes to a file, not to a pipe into this process: this process is the load
 * generator, and reading a proxy's per-exchange log lines here would slow the client measuring it
 * (the floor prints nothing per request, so that cost would fall on some targets only).
 */
function spawnChild(args: string[], env: Record<string, string> = {}): Child {
  const file = path.join(tmpdir(), `llmaudit-bench-${process.pid}-${Math.random().toString(36).slice(2)}.out`);
  const fd = openSync(file, 'w');
  const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const lines = (): string[] => {
    try {
      const buf = Buffer.alloc(64 * 1024);
      const rfd = openSync(file, 'r');
      const n = readSync(rfd, buf, 0, buf.length, 0);
      closeSync(rfd);
      return buf.subarray(0, n).toString('utf8').split('\n').filter((l) => l !== '').slice(0, 200);
    } catch {
      return [];
    }
  };
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  void exited.then(() => rm(file, { force: true }));
  return { proc, lines, exited };
}

async function waitForLine<T>(child: Child, pick: (l: string) => T | null, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    for (const l of child.lines()) {
      const v = pick(l);
      if (v !== null) return v;
    }
    if (child.proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what} did not start: ${child.lines().slice(-5).join(' | ')}`);
}

async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null) return;
  child.proc.kill('SIGTERM');
  const t = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
  await child.exited;
  clearTimeout(t);
}

const jsonPort = (l: string): number | null => {
  try {
    const v = JSON.parse(l) as { port?: number; msg?: string; listeners?: Array<{ port: number }> };
    if (v.msg === 'proxy started') return v.listeners?.[0]?.port ?? null;
    return typeof v.port === 'number' ? v.port : null;
  } catch {
    return null;
  }
};

async function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | null> {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null; // not Linux
  }
}
const mb = (kb: number | null) => (kb === null ? null : Math.round(kb / 102.4) / 10);

/** Samples a process's VmRSS every 100 ms until stop(), which resolves with the highest (kB). */
function rssSampler(pid: number | null): { stop: () => Promise<number | null> } {
  let peak: number | null = null;
  const sample = async () => {
    const v = pid === null ? null : await statusKb(pid, 'VmRSS');
    if (v !== null && (peak === null || v > peak)) peak = v;
  };
  const timer = setInterval(() => void sample(), 100);
  return {
    stop: async () => {
      clearInterval(timer);
      await sample();
      return peak;
    },
  };
}

/**
 * The llmaudit rows run with the image's node flags (imageNodeFlags). Experiments:
 * LLMAUDIT_BENCH_NODE_FLAGS="--flag ..." replaces them for every llmaudit process ("" for none);
 * LLMAUDIT_BENCH_BASELINE_NODE_FLAGS for the --baseline row (default: the same).
 */
const SIDECAR_NODE_FLAGS = process.env.LLMAUDIT_BENCH_NODE_FLAGS === undefined ? imageNodeFlags() : process.env.LLMAUDIT_BENCH_NODE_FLAGS.split(' ').filter((f) => f !== '');
const BASELINE_NODE_FLAGS = process.env.LLMAUDIT_BENCH_BASELINE_NODE_FLAGS === undefined ? SIDECAR_NODE_FLAGS : process.env.LLMAUDIT_BENCH_BASELINE_NODE_FLAGS.split(' ').filter((f) => f !== '');
/**
 * The llmaudit rows run with the variables the image's Dockerfile sets (its ENV: the malloc
 * thresholds, NODE_ENV). Experiments: LLMAUDIT_BENCH_ENV="NAME=value ..." replaces them for the
 * llmaudit rows ("" for none), LLMAUDIT_BENCH_BASELINE_ENV for the --baseline row (default: the
 * same as the llmaudit rows).
 */
function envFrom(text: string): Record<string, string> {
  return Object.fromEntries(text.split(' ').filter((f) => f.includes('=')).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
}
const SIDECAR_ENV = process.env.LLMAUDIT_BENCH_ENV === undefined ? imageEnv() : envFrom(process.env.LLMAUDIT_BENCH_ENV);
const BASELINE_ENV = process.env.LLMAUDIT_BENCH_BASELINE_ENV === undefined ? SIDECAR_ENV : envFrom(process.env.LLMAUDIT_BENCH_BASELINE_ENV);

/** Clock ticks per second of /proc's utime and stime (USER_HZ). */
const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU time (ms) used so far by a process's main thread and by all its other threads together. */
async function threadCpuMs(pid: number): Promise<{ main: number; other: number } | null> {
  try {
    let main = 0;
    let other = 0;
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the ")" that closes the thread's name: utime and stime are the 12th and 13th.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
      if (tid === String(pid)) main += ms;
      else other += ms;
    }
    return { main, other };
  } catch {
    return null; // not Linux, or the process is gone
  }
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
const r3 = (n: number) => Math.round(n * 1000) / 1000;

interface Target {
  name: string;
  key: string;
  url: string;
  headers: Record<string, string>;
  pid: number | null;
  stop: () => Promise<void>;
}

const REQUEST = JSON.stringify({ model: 'bench-model', messages: [{ role: 'system', content: 'You are a benchmark.' }, { role: 'user', content: 'Say something about latency, please.' }] });

async function nonStreaming(t: Target, s: Settings, count: number, concurrency: number): Promise<{ lat: number[]; wallMs: number }> {
  const pool = new Pool(t.url, { connections: concurrency, keepAliveTimeout: 60_000 });
  const lat: number[] = [];
  const deadline = Date.now() + s.phaseSeconds * 1000;
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      next++;
      const a = performance.now();
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000', ...t.headers }, body: REQUEST });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`${t.name}: status ${res.statusCode}`);
      lat.push(performance.now() - a);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  await pool.close();
  return { lat: lat.sort((a, b) => a - b), wallMs };
}

async function streaming(t: Target, s: Settings): Promise<{ ttfb: number[]; total: number[]; frames: number }> {
  const pool = new Pool(t.url, { connections: s.streamConcurrency, keepAliveTimeout: 60_000 });
  const ttfb: number[] = [];
  const total: number[] = [];
  let frames = 0;
  const deadline = Date.now() + s.phaseSeconds * 1000;
  let next = 0;
  const body = JSON.stringify({ ...(JSON.parse(REQUEST) as object), stream: true });
  const worker = async () => {
    while (next < s.streams && Date.now() < deadline) {
      next++;
      const a = performance.now();
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000', ...t.headers }, body });
      let first = true;
      let text = '';
      for await (const chunk of res.body) {
        if (first) {
          ttfb.push(performance.now() - a);
          first = false;
        }
        text += (chunk as Buffer).toString('utf8');
      }
      total.push(performance.now() - a);
      frames = text.split('\n\n').filter((f) => f.startsWith('data:')).length;
    }
  };
  await Promise.all(Array.from({ length: s.streamConcurrency }, worker));
  await pool.close();
  return { ttfb: ttfb.sort((a, b) => a - b), total: total.sort((a, b) => a - b), frames };
}

async function idleStreams(t: Target, s: Settings, upstreamUrl: string): Promise<{ open: number; rssKb: number | null }> {
  const pool = new Pool(t.url, { connections: s.idle, keepAliveTimeout: 60_000 });
  const body = JSON.stringify({ ...(JSON.parse(REQUEST) as object), stream: true, hold: true });
  let open = 0;
  let allOpen: () => void = () => undefined;
  const opened = new Promise<void>((r) => (allOpen = r));
  const done = Array.from({ length: s.idle }, async () => {
    const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000', ...t.headers }, body, bodyTimeout: 0, headersTimeout: 60_000 });
    let first = true;
    for await (const _ of res.body) {
      if (first && ++open === s.idle) allOpen();
      first = false;
    }
  });
  const timer = new Promise<void>((r) => setTimeout(r, s.phaseSeconds * 1000).unref());
  await Promise.race([opened, timer]);
  const rssKb = t.pid === null ? null : await statusKb(t.pid, 'VmRSS');
  const count = open;
  await fetch(`${upstreamUrl}/__release`, { method: 'POST' });
  await Promise.race([Promise.allSettled(done), new Promise((r) => setTimeout(r, 20_000).unref())]);
  await pool.destroy();
  return { open: count, rssKb };
}

async function startOtlpSink(): Promise<{ url: string; spans: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => requests,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

async function startLlmaudit(name: string, key: string, upstreamUrl: string, extra: string[], cliPath = cli(), eldFile?: string, flags = SIDECAR_NODE_FLAGS, env: Record<string, string> = SIDECAR_ENV, probe?: { nodeArgs: string[]; env: Record<string, string> }): Promise<Target> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-'));
  // LLMAUDIT_BENCH_PROFILE=DIR: a V8 CPU profile of each llmaudit process, written at its exit.
  const profile = process.env.LLMAUDIT_BENCH_PROFILE;
  const nodeArgs = profile === undefined || profile === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  nodeArgs.push(...flags, ...(probe?.nodeArgs ?? []));
  // --scale: the event-loop probe (a 1 ms timer: a few µs of CPU per exchange at these rates).
  if (eldFile !== undefined) nodeArgs.push('--import', path.join(root, 'bench/event-loop-probe.mjs'));
  const child = spawnChild([...nodeArgs, cliPath, 'proxy', '--upstream', upstreamUrl, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', dir, ...extra], { ...env, ...probe?.env, ...(eldFile === undefined ? {} : { LLMAUDIT_BENCH_ELD: eldFile }) });
  const port = await waitForLine(child, jsonPort, name);
  return { name, key, url: `http://127.0.0.1:${port}`, headers: {}, pid: child.proc.pid ?? null, stop: async () => (await stopChild(child), await rm(dir, { recursive: true, force: true })) };
}

/**
 * A governance policy that exercises every check on each request and lets every one through:
 * each built-in detector (redact-in-log, responses flagged), model allow/deny rules, caps and a
 * local rate limit far above the bench's rate.
 */
async function fullGovernanceConfig(): Promise<{ file: string; dir: string }> {
  const { BUILTIN_DETECTORS } = await import('../sidecar/src/governance/schema.ts');
  const detectors = Object.fromEntries(BUILTIN_DETECTORS.map((n) => [n, { action: 'redact-in-log', responses: 'flag' }]));
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-gov-'));
  const file = path.join(dir, 'config.json');
  await writeFile(file, JSON.stringify({
    governance: {
      models: { allow: ['bench-model*'], deny: ['bench-model-denied*'] },
      detectors,
      caps: { maxBodyBytes: 1 << 20, maxOutputTokens: 4096, maxTools: 16, maxMessages: 64 },
      rateLimits: { rules: [{ by: 'apiKey', requestsPerMinute: 1e9, tokensPerMinute: 1e12 }] },
    },
  }));
  return { file, dir };
}

/** A reference proxy of bench/proxy-servers.ts (`floor`, `bare`) in front of the upstream, as its own process. */
async function startBenchServer(role: 'floor' | 'bare', name: string, upstreamUrl: string, probe?: Record<string, string>): Promise<Target> {
  const child = probe === undefined ? spawnChild(['--import', 'tsx', 'bench/proxy-servers.ts', role, upstreamUrl]) : spawnChild(['--import', 'tsx', '--import', path.join(root, 'bench/event-loop-probe.mjs'), 'bench/proxy-servers.ts', role, upstreamUrl], probe);
  const port = await waitForLine(child, jsonPort, name);
  return { name, key: role, url: `http://127.0.0.1:${port}`, headers: {}, pid: child.proc.pid ?? null, stop: () => stopChild(child) };
}

/** One isolate's heap: physical MiB per V8 space (spaces with nothing committed left out). */
export interface IsolateHeap {
  thread: string;
  spaces: Record<string, number>;
  totalMb: number;
  /** Garbage collections since the process started (bench/heap-probe.mjs with LLMAUDIT_BENCH_GC=1). */
  gc?: IsolateGc;
}

export interface IsolateGc {
  scavenges: number;
  markCompacts: number;
  costMs: number;
  survivedMb: number;
}

/**
 * Where a sidecar's memory is, in starts of its own (so that nothing here touches the rows'
 * figures): a second after start, /proc's split of its RSS (anonymous memory against pages of
 * files, of which the node binary's code and read-only data), its threads and each isolate's heap
 * spaces (bench/heap-probe.mjs); then each isolate's highest heap spaces and the highest RSS over
 * 50 concurrent 1 KiB exchanges; and, in a second start, a heap snapshot of the event loop's
 * isolate a second after start (the objects that retain the most, bench/heap-snapshot.ts).
 */
export interface MemoryAnatomy {
  target: string;
  idle: { rssMb: number | null; anonMb: number | null; fileMb: number | null; nodeBinaryMb: number | null; threads: number | null; heaps: IsolateHeap[]; externalMb: number | null };
  load: { rssMb: number | null; heaps: IsolateHeap[] };
  snapshot: HeapSummary | null;
  error?: string;
}

async function readProbe(prefix: string, which: 'now' | 'peak'): Promise<IsolateHeap[]> {
  const dir = path.dirname(prefix);
  const out: IsolateHeap[] = [];
  for (const f of (await readdir(dir)).filter((n) => n.startsWith(`${path.basename(prefix)}.`) && n.endsWith('.json')).sort()) {
    try {
      const v = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as { thread: string; now: Record<string, number>; peak: Record<string, number>; total: { physical: number }; gc?: IsolateGc };
      const spaces = { ...v[which] };
      const total = which === 'now' ? v.total.physical : (spaces.total ?? v.total.physical);
      delete spaces.total;
      out.push({ thread: v.thread, spaces, totalMb: total, ...(v.gc === undefined ? {} : { gc: v.gc }) });
    } catch {
      // unreadable (heap-probe.mjs renames each sample into place): a missing thread shows as absent
    }
  }
  return out;
}

async function smapsSplit(pid: number): Promise<{ anonKb: number; fileKb: number; nodeKb: number } | null> {
  try {
    let anonKb = 0;
    let fileKb = 0;
    let nodeKb = 0;
    let file: string | null = null;
    for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
      if (head !== null) {
        file = head[1] !== '0' && head[2] !== undefined && head[2].startsWith('/') ? head[2] : null;
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss === null) continue;
      const kb = Number(rss[1]);
      if (file === null) anonKb += kb;
      else {
        fileKb += kb;
        if (file === process.execPath || path.basename(file) === 'node') nodeKb += kb;
      }
    }
    return { anonKb, fileKb, nodeKb };
  } catch {
    return null; // not Linux
  }
}

async function waitForSnapshot(dir: string, ms = 60_000): Promise<string | null> {
  const deadline = Date.now() + ms;
  let last = -1;
  while (Date.now() < deadline) {
    const f = (await readdir(dir)).find((n) => n.endsWith('.heapsnapshot'));
    if (f !== undefined) {
      const text = await readFile(path.join(dir, f), 'utf8');
      // Written as V8 streams it; complete when it parses and stopped growing.
      if (text.length === last && text.endsWith('}')) return text;
      last = text.length;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

export async function memoryAnatomy(name: string, upstreamUrl: string, s: Settings, cliPath = cli(), flags = SIDECAR_NODE_FLAGS, env: Record<string, string> = SIDECAR_ENV): Promise<MemoryAnatomy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-heap-'));
  const prefix = path.join(dir, 'heap');
  const probe = { nodeArgs: ['--import', path.join(root, 'bench/heap-probe.mjs')], env: { LLMAUDIT_BENCH_HEAP: prefix } };
  try {
    const t = await startLlmaudit(name, 'anatomy', upstreamUrl, ['--durability', 'batched'], cliPath, undefined, flags, env, probe);
    let figures: Omit<MemoryAnatomy, 'snapshot'>;
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const pid = t.pid as number;
      const rss = await statusKb(pid, 'VmRSS');
      const split = await smapsSplit(pid);
      const threads = await readdir(`/proc/${pid}/task`).then((x) => x.length, () => null);
      const heaps = await readProbe(prefix, 'now');
      const main = JSON.parse(await readFile(`${prefix}.main.json`, 'utf8').catch(() => '{}')) as { memoryUsage?: { external: number } };
      await writeFile(`${prefix}.reset`, '');
      await new Promise((r) => setTimeout(r, 300));
      const sampler = rssSampler(pid);
      await nonStreaming(t, s, s.requests, s.concurrency);
      const loadRss = await sampler.stop();
      await new Promise((r) => setTimeout(r, 200));
      figures = {
        target: name,
        idle: { rssMb: mb(rss), anonMb: mb(split?.anonKb ?? null), fileMb: mb(split?.fileKb ?? null), nodeBinaryMb: mb(split?.nodeKb ?? null), threads, heaps, externalMb: main.memoryUsage?.external ?? null },
        load: { rssMb: mb(loadRss), heaps: await readProbe(prefix, 'peak') },
      };
    } finally {
      await t.stop();
    }
    // The snapshot in a start of its own: writing one leaves the process with more memory than before.
    const snap = await startLlmaudit(name, 'anatomy', upstreamUrl, ['--durability', 'batched'], cliPath, undefined, flags, env, { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`], env: {} });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      process.kill(snap.pid as number, 'SIGUSR2');
      const text = await waitForSnapshot(dir);
      return { ...figures, snapshot: text === null ? null : summarizeHeapSnapshot(text) };
    } finally {
      await snap.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function printAnatomy(rows: MemoryAnatomy[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  out('Memory anatomy (MiB; a start of its own): RSS a second after start = anonymous + file pages (of which the node binary); each isolate\'s heap spaces (physical) at rest and their highest over 50 concurrent 1 KiB exchanges');
  for (const a of rows) {
    if (a.error !== undefined) {
      out(`${a.target}: not run: ${a.error}`);
      continue;
    }
    out(`${a.target}: idle RSS ${a.idle.rssMb ?? '-'} = anon ${a.idle.anonMb ?? '-'} + file ${a.idle.fileMb ?? '-'} (node binary ${a.idle.nodeBinaryMb ?? '-'}); ${a.idle.threads ?? '-'} threads; external ${a.idle.externalMb ?? '-'}; RSS at 50 concurrent ${a.load.rssMb ?? '-'}`);
    const spaces = [...new Set([...a.idle.heaps, ...a.load.heaps].flatMap((h) => Object.keys(h.spaces)))];
    out(`  ${'isolate'.padEnd(16)}${spaces.map((x) => pad(x.replace(/_space$/, ''), 16)).join('')}${pad('total', 8)}`);
    for (const [when, hs] of [['rest', a.idle.heaps], ['@50 max', a.load.heaps]] as const) {
      for (const h of hs) out(`  ${`${h.thread} ${when}`.padEnd(16)}${spaces.map((x) => pad(h.spaces[x], 16)).join('')}${pad(h.totalMb, 8)}`);
    }
    if (a.snapshot !== null) {
      out(`  heap snapshot of the event loop's isolate at rest: ${a.snapshot.totalMb} MiB live; the objects that retain the most (retained / self MiB):`);
      for (const r of a.snapshot.topRetainers.slice(0, 8)) out(`    ${pad(r.retainedMb, 6)} ${pad(r.selfMb, 6)}  ${r.name}`);
      out('  self size by constructor:');
      for (const c of a.snapshot.byConstructor.slice(0, 8)) out(`    ${pad(c.selfMb, 6)}  ${c.name} (${c.count})`);
    }
  }
}

/** The llmaudit build the rows run (checked first) and the fake upstream every row talks to. */
async function startUpstream(): Promise<{ upstream: ReturnType<typeof spawnChild>; upstreamUrl: string }> {
  if (!existsSync(cli())) throw new Error(`${cli()} is missing (LLMAUDIT_BENCH_CLI names a build that does not exist)`);
  const upstream = spawnChild(['--import', 'tsx', 'bench/proxy-servers.ts', 'upstream']);
  const upPort = await waitForLine(upstream, jsonPort, 'upstream');
  return { upstream, upstreamUrl: `http://127.0.0.1:${upPort}` };
}

export async function runProxyBench(opts: { quick?: boolean; only?: string[]; baseline?: string; baselineDurability?: 'batched' | 'strict'; anatomy?: boolean; paired?: boolean; log?: (s: string) => void } = {}): Promise<{ rows: ProxyBenchRow[]; notes: string[]; anatomy: MemoryAnatomy[]; paired: PairedResult | null }> {
  const s = opts.quick === true ? QUICK : FULL;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const notes: string[] = [];
  const { upstream, upstreamUrl } = await startUpstream();
  const otlp = await startOtlpSink();
  // The upstream is warmed before anything is measured, so `direct` (measured first) does not pay
  // for its JIT and every "added" figure is taken against a warm upstream.
  {
    const warm = { name: 'upstream warm-up', key: 'warm', url: upstreamUrl, headers: {}, pid: null, stop: async () => undefined };
    await nonStreaming(warm, s, s.warmup * 2, s.concurrency);
    await nonStreaming(warm, s, s.warmup, 1);
    await streaming(warm, { ...s, streams: Math.min(s.streams, 100) });
  }
  const want = (k: string) => (opts.only === undefined ? k !== 'baseline' || opts.baseline !== undefined : opts.only.includes(k));
  const baseline = opts.baseline;
  // --baseline-durability strict: the other build as a strict sidecar (compare it with llmaudit (strict)).
  const baselineDurability = opts.baselineDurability ?? 'batched';
  const baselineName = `baseline build (${baselineDurability})`;

  const factories: Array<{ key: string; name: string; start: () => Promise<Target> }> = [
    { key: 'direct', name: 'direct', start: async () => ({ name: 'direct', key: 'direct', url: upstreamUrl, headers: {}, pid: null, stop: async () => undefined }) },
    { key: 'batched', name: 'llmaudit (batched)', start: () => startLlmaudit('llmaudit (batched)', 'batched', upstreamUrl, ['--durability', 'batched']) },
    // --baseline DIR/llmaudit.mjs: another build (e.g. before a change), batched, for a side-by-side comparison in one run.
    { key: 'baseline', name: baselineName, start: () => (baseline === undefined ? Promise.reject(new Error('no --baseline PATH given')) : startLlmaudit(baselineName, 'baseline', upstreamUrl, ['--durability', baselineDurability], baseline, undefined, BASELINE_NODE_FLAGS, BASELINE_ENV)) },
    { key: 'strict', name: 'llmaudit (strict)', start: () => startLlmaudit('llmaudit (strict)', 'strict', upstreamUrl, ['--durability', 'strict']) },
    { key: 'governance', name: 'llmaudit (full governance)', start: async () => {
        const { file, dir } = await fullGovernanceConfig();
        const t = await startLlmaudit('llmaudit (full governance)', 'governance', upstreamUrl, ['--durability', 'batched', '--config', file]);
        return { ...t, stop: async () => (await t.stop(), await rm(dir, { recursive: true, force: true })) };
      },
    },
    { key: 'tracing', name: 'llmaudit (tracing 100%)', start: () => startLlmaudit('llmaudit (tracing 100%)', 'tracing', upstreamUrl, ['--durability', 'batched', '--otlp-endpoint', otlp.url]) },
    { key: 'floor', name: 'undici pass-through (floor)', start: () => startBenchServer('floor', 'undici pass-through (floor)', upstreamUrl) },
    { key: 'bare', name: 'bare forwarder (no record)', start: () => startBenchServer('bare', 'bare forwarder (no record)', upstreamUrl) },
    {
      key: 'portkey',
      name: 'Portkey gateway',
      start: async () => {
        if (!existsSync(portkeyBin)) throw new Error('@portkey-ai/gateway is not installed (root devDependency)');
        const port = await freePort();
        // --headless: no UI; NODE_ENV=production skips its dev-only console UI too.
        const child = spawnChild([portkeyBin, `--port=${port}`, '--headless'], { NODE_ENV: 'production' });
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
            break;
          } catch {
            if (Date.now() > deadline || child.proc.exitCode !== null) throw new Error(`Portkey did not start: ${child.lines().slice(-3).join(' | ')}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        // Portkey routes by headers: provider openai at a custom host (loopback is trusted by default).
        return { name: 'Portkey gateway', key: 'portkey', url: `http://127.0.0.1:${port}`, headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstreamUrl}/v1` }, pid: child.proc.pid ?? null, stop: () => stopChild(child) };
      },
    },
  ];

  const rows: ProxyBenchRow[] = [];
  const anatomy: MemoryAnatomy[] = [];
  let paired: PairedResult | null = null;
  try {
    for (const f of factories.filter((x) => want(x.key))) {
      log(`bench proxy: ${f.name} ...`);
      let t: Target | null = null;
      try {
        t = await f.start();
        await new Promise((r) => setTimeout(r, 1000));
        const idleRss = t.pid === null ? null : await statusKb(t.pid, 'VmRSS');
        await nonStreaming(t, s, s.warmup, s.concurrency);
        // Settle, one at a time, before measuring one at a time: right after a burst of 50
        // concurrent requests every target (the floor too) pays for it for a second or two —
        // sockets closing, the burst's garbage collected — and that transient is not what one
        // request costs.
        await nonStreaming(t, s, s.settleRequests, 1);
        const cpu0 = t.pid === null ? null : await threadCpuMs(t.pid);
        const seq = await nonStreaming(t, s, s.latencyRequests, 1);
        const cpu1 = t.pid === null ? null : await threadCpuMs(t.pid);
        const n = seq.lat.length;
        const cpu = cpu0 === null || cpu1 === null || n === 0 ? null : { mainUs: Math.round(((cpu1.main - cpu0.main) * 1000) / n), otherUs: Math.round(((cpu1.other - cpu0.other) * 1000) / n) };
        const sampler = rssSampler(t.pid);
        const ns = await nonStreaming(t, s, s.requests, s.concurrency);
        const loadRss = await sampler.stop();
        const st = await streaming(t, s);
        const idle = await idleStreams(t, s, upstreamUrl);
        const peak = t.pid === null ? null : await statusKb(t.pid, 'VmHWM');
        rows.push({
          target: f.name,
          nonStream: { requests: seq.lat.length, p50Ms: r3(pct(seq.lat, 50)), p99Ms: r3(pct(seq.lat, 99)), rps: Math.round((ns.lat.length / ns.wallMs) * 1000), loadP50Ms: r3(pct(ns.lat, 50)), loadP99Ms: r3(pct(ns.lat, 99)) },
          stream: { requests: st.total.length, ttfbP50Ms: r3(pct(st.ttfb, 50)), ttfbP99Ms: r3(pct(st.ttfb, 99)), p50Ms: r3(pct(st.total, 50)), p99Ms: r3(pct(st.total, 99)), frames: st.frames },
          idleStreams: { open: idle.open, rssMb: mb(idle.rssKb) },
          rssMb: mb(peak),
          idleRssMb: mb(idleRss),
          loadRssMb: mb(loadRss),
          cpu,
        });
      } catch (err) {
        const msg = (err as Error).message;
        rows.push({ target: f.name, nonStream: null, stream: null, idleStreams: null, rssMb: null, cpu: null, error: msg });
        notes.push(`${f.name}: could not run: ${msg}`);
      } finally {
        await t?.stop();
      }
    }
    // The ratio targets again, from rounds in which llmaudit, the floor and the bare forwarder take turns.
    if (opts.paired !== false && want('batched') && want('floor') && want('bare')) paired = await runPairedRounds(upstreamUrl, s, opts.quick === true, log);
    // The memory anatomy of llmaudit (batched) and of the --baseline build, each in a start of its own.
    const anatomyOf: Array<{ key: string; name: string; run: () => Promise<MemoryAnatomy> }> = [
      { key: 'batched', name: 'llmaudit (batched)', run: () => memoryAnatomy('llmaudit (batched)', upstreamUrl, s) },
      { key: 'baseline', name: 'baseline build (batched)', run: () => memoryAnatomy('baseline build (batched)', upstreamUrl, s, baseline, BASELINE_NODE_FLAGS, BASELINE_ENV) },
    ];
    for (const a of anatomyOf.filter((x) => opts.anatomy !== false && want(x.key) && (x.key !== 'baseline' || baseline !== undefined))) {
      log(`bench proxy: memory anatomy of ${a.name} ...`);
      try {
        anatomy.push(await a.run());
      } catch (err) {
        anatomy.push({ target: a.name, idle: { rssMb: null, anonMb: null, fileMb: null, nodeBinaryMb: null, threads: null, heaps: [], externalMb: null }, load: { rssMb: null, heaps: [] }, snapshot: null, error: (err as Error).message });
      }
    }
  } finally {
    await stopChild(upstream);
    if (want('tracing')) notes.push(`OTLP receiver got ${otlp.spans()} export requests`);
    await otlp.close();
  }
  return { rows, notes, anatomy, paired };
}

/**
 * Paired rounds (`npm run bench -- proxy`, after the rows; `--no-paired` skips them): the three
 * ratio targets measured with llmaudit (batched), the floor and the bare forwarder all running at
 * once and taking turns, round after round, so that each ratio is of figures taken seconds apart.
 * The rows measure each target once, one after the other, minutes apart; on a shared machine the
 * floor's own CPU per exchange has moved 1.5–2× between such rows, and the ratios with it. Per
 * round: each target's CPU per exchange one at a time (after a short settle), then its added TTFB
 * (streaming, one at a time, minus direct's in the same round), then its req/s at 50 concurrent;
 * the order of the targets turns by one every round. The ratios are taken per round; the median
 * of the rounds is the figure the targets are checked against.
 */
export interface PairedRound {
  /** CPU µs per exchange, one at a time (all threads of the target's process). */
  cpuUs: Record<string, number | null>;
  /** Added TTFB p50 (ms): the target's TTFB p50 minus direct's, both of this round. */
  addedTtfbMs: Record<string, number | null>;
  /** req/s at 50 concurrent. */
  rps: Record<string, number>;
}

export interface PairedResult {
  rounds: PairedRound[];
  /** Medians over the rounds of the per-round ratios: llmaudit ÷ floor (CPU, req/s), llmaudit ÷ bare (added TTFB). */
  cpuRatio: number | null;
  rpsRatio: number | null;
  ttfbRatio: number | null;
  error?: string;
}

export const PAIRED_LLMAUDIT = 'llmaudit (batched)';
export const PAIRED_FLOOR = 'undici pass-through (floor)';
export const PAIRED_BARE = 'bare forwarder (no record)';

const PAIRED_QUICK = { rounds: 3, settle: 300, oneAtATime: 1000, concurrent: 3000, streams: 100 };
const PAIRED_FULL = { rounds: 5, settle: 500, oneAtATime: 2000, concurrent: 5000, streams: 200 };

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The per-round ratios a ÷ b of `field`, and their median. */
export function pairedRatio(rounds: PairedRound[], field: 'cpuUs' | 'addedTtfbMs' | 'rps', a: string, b: string): { perRound: Array<number | null>; median: number | null } {
  const perRound = rounds.map((r) => {
    const x = (r[field] as Record<string, number | null>)[a];
    const y = (r[field] as Record<string, number | null>)[b];
    return x == null || y == null || y <= 0 ? null : r3(x / y);
  });
  const m = median(perRound.filter((v): v is number => v !== null));
  return { perRound, median: m === null ? null : r3(m) };
}

export async function runPairedRounds(upstreamUrl: string, s: Settings, quick: boolean, log: (s: string) => void): Promise<PairedResult> {
  const p = quick ? PAIRED_QUICK : PAIRED_FULL;
  const direct: Target = { name: 'direct', key: 'direct', url: upstreamUrl, headers: {}, pid: null, stop: async () => undefined };
  const targets: Target[] = [];
  const rounds: PairedRound[] = [];
  try {
    targets.push(await startLlmaudit(PAIRED_LLMAUDIT, 'batched', upstreamUrl, ['--durability', 'batched']));
    targets.push(await startBenchServer('floor', PAIRED_FLOOR, upstreamUrl));
    targets.push(await startBenchServer('bare', PAIRED_BARE, upstreamUrl));
    for (const t of targets) {
      await nonStreaming(t, s, s.warmup, s.concurrency);
      await nonStreaming(t, s, s.settleRequests, 1);
      await streaming(t, { ...s, streams: Math.min(p.streams, 50) });
    }
    for (let r = 0; r < p.rounds; r++) {
      log(`bench proxy: paired round ${r + 1} of ${p.rounds} ...`);
      const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target);
      const round: PairedRound = { cpuUs: {}, addedTtfbMs: {}, rps: {} };
      for (const t of order) {
        await nonStreaming(t, s, p.settle, 1);
        const c0 = t.pid === null ? null : await threadCpuMs(t.pid);
        const seq = await nonStreaming(t, s, p.oneAtATime, 1);
        const c1 = t.pid === null ? null : await threadCpuMs(t.pid);
        const n = seq.lat.length;
        round.cpuUs[t.name] = c0 === null || c1 === null || n === 0 ? null : Math.round(((c1.main + c1.other - c0.main - c0.other) * 1000) / n);
      }
      const directTtfb = pct((await streaming(direct, { ...s, streams: p.streams })).ttfb, 50);
      for (const t of order) round.addedTtfbMs[t.name] = r3(pct((await streaming(t, { ...s, streams: p.streams })).ttfb, 50) - directTtfb);
      for (const t of order) {
        const ns = await nonStreaming(t, s, p.concurrent, s.concurrency);
        round.rps[t.name] = Math.round((ns.lat.length / ns.wallMs) * 1000);
      }
      rounds.push(round);
    }
  } catch (err) {
    return { rounds, cpuRatio: null, rpsRatio: null, ttfbRatio: null, error: (err as Error).message };
  } finally {
    for (const t of targets) await t.stop();
  }
  return {
    rounds,
    cpuRatio: pairedRatio(rounds, 'cpuUs', PAIRED_LLMAUDIT, PAIRED_FLOOR).median,
    rpsRatio: pairedRatio(rounds, 'rps', PAIRED_LLMAUDIT, PAIRED_FLOOR).median,
    ttfbRatio: pairedRatio(rounds, 'addedTtfbMs', PAIRED_LLMAUDIT, PAIRED_BARE).median,
  };
}

export function printPaired(p: PairedResult, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  const names = [PAIRED_LLMAUDIT, PAIRED_FLOOR, PAIRED_BARE];
  out('Paired rounds (the three targets running at once, taking turns): CPU µs per exchange one at a time, added TTFB p50 ms, req/s at 50 concurrent');
  out(`${'round'.padEnd(8)}${names.map((n) => pad(n.split(' ')[0], 28)).join('')}${pad('CPU ÷ floor', 13)}${pad('req/s ÷ floor', 15)}${pad('TTFB ÷ bare', 13)}`);
  const cpu = pairedRatio(p.rounds, 'cpuUs', PAIRED_LLMAUDIT, PAIRED_FLOOR).perRound;
  const rps = pairedRatio(p.rounds, 'rps', PAIRED_LLMAUDIT, PAIRED_FLOOR).perRound;
  const ttfb = pairedRatio(p.rounds, 'addedTtfbMs', PAIRED_LLMAUDIT, PAIRED_BARE).perRound;
  p.rounds.forEach((r, i) => {
    out(`${String(i + 1).padEnd(8)}${names.map((n) => pad(`${r.cpuUs[n] ?? '-'} µs ${r.addedTtfbMs[n] ?? '-'} ms ${r.rps[n] ?? '-'}/s`, 28)).join('')}${pad(cpu[i], 13)}${pad(rps[i], 15)}${pad(ttfb[i], 13)}`);
  });
  out(`${'median'.padEnd(8)}${' '.repeat(28 * names.length)}${pad(p.cpuRatio, 13)}${pad(p.rpsRatio, 15)}${pad(p.ttfbRatio, 13)}`);
  if (p.error !== undefined) out(`paired rounds stopped: ${p.error}`);
}

/** A chat request whose JSON body is `bytes` long (the user message padded). */
function requestOfSize(bytes: number): string {
  const base = JSON.parse(REQUEST) as { messages: Array<{ content: string }> };
  const pad = Math.max(0, bytes - REQUEST.length);
  (base.messages[1] as { content: string }).content += ' '.repeat(pad);
  return JSON.stringify(base);
}

async function sequential(t: Target, count: number, body: string): Promise<number[]> {
  const pool = new Pool(t.url, { connections: 1, keepAliveTimeout: 60_000 });
  const lat: number[] = [];
  for (let i = 0; i < count; i++) {
    const a = performance.now();
    const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000', ...t.headers }, body });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) throw new Error(`${t.name}: status ${res.statusCode}`);
    lat.push(performance.now() - a);
  }
  await pool.close();
  return lat.sort((a, b) => a - b);
}

async function streamsOf(t: Target, count: number, frames: number): Promise<number> {
  const pool = new Pool(t.url, { connections: 1, keepAliveTimeout: 60_000 });
  const body = JSON.stringify({ ...(JSON.parse(REQUEST) as object), stream: true, frames });
  let got = 0;
  for (let i = 0; i < count; i++) {
    const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-0000', ...t.headers }, body });
    let text = '';
    for await (const chunk of res.body) text += (chunk as Buffer).toString('latin1');
    got = text.split('\n\n').filter((f) => f.startsWith('data:')).length;
  }
  await pool.close();
  return got;
}

async function eventLoopDelay(pid: number, file: string): Promise<{ maxMs: number; p99Ms: number } | null> {
  await rm(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as { maxMs: number; p99Ms: number };
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return null;
}

export interface ScaleRow {
  target: string;
  /** Per request body size: CPU per exchange (all threads), p50, and for llmaudit the event loop's worst delay. */
  bodies: Array<{ bytes: number; requests: number; cpuUs: number | null; p50Ms: number; eldMaxMs: number | null; eldP99Ms: number | null }>;
  /** Per stream length: CPU per stream and per frame, and the highest RSS while streaming. */
  streams: Array<{ frames: number; streams: number; cpuUsPerStream: number | null; cpuUsPerFrame: number | null; rssMb: number | null }>;
  /** Requests per second at each concurrency (1 KiB, non-streaming). */
  concurrency: Array<{ concurrency: number; rps: number; p50Ms: number }>;
}

export const BODY_SIZES = [1024, 64 * 1024, 1024 * 1024];
export const STREAM_LENGTHS = [200, 10_000];
export const CONCURRENCY = [1, 10, 50, 200];

/**
 * How cost grows (`--scale`): request body size, stream length and concurrency, for direct,
 * llmaudit (batched) and the undici floor, each target in its own process as in the main rows.
 */
export async function runScaleBench(opts: { quick?: boolean; log?: (s: string) => void } = {}): Promise<ScaleRow[]> {
  const q = opts.quick === true;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { upstream, upstreamUrl } = await startUpstream();
  const eldFile = path.join(tmpdir(), `llmaudit-bench-eld-${process.pid}.json`);
  const bodyCounts = q ? [300, 100, 20] : [1000, 300, 60];
  const streamCounts = q ? [60, 4] : [200, 10];
  const perConcurrency = q ? 1500 : 4000;
  const s = q ? QUICK : FULL;
  const targets: Array<{ name: string; start: () => Promise<Target> }> = [
    { name: 'direct', start: async () => ({ name: 'direct', key: 'direct', url: upstreamUrl, headers: {}, pid: null, stop: async () => undefined }) },
    { name: 'llmaudit (batched)', start: () => startLlmaudit('llmaudit (batched)', 'batched', upstreamUrl, ['--durability', 'batched'], cli(), eldFile) },
    { name: 'undici pass-through (floor)', start: () => startBenchServer('floor', 'undici pass-through (floor)', upstreamUrl) },
  ];
  const rows: ScaleRow[] = [];
  try {
    for (const f of targets) {
      log(`bench proxy --scale: ${f.name} ...`);
      const t = await f.start();
      try {
        await nonStreaming(t, s, s.warmup, s.concurrency);
        await nonStreaming(t, s, s.settleRequests, 1);
        const row: ScaleRow = { target: f.name, bodies: [], streams: [], concurrency: [] };
        for (const [i, bytes] of BODY_SIZES.entries()) {
          const body = requestOfSize(bytes);
          const count = bodyCounts[i] as number;
          await sequential(t, Math.ceil(count / 10), body); // warm this size (JIT, buffers)
          const eld0 = t.pid !== null && f.name.startsWith('llmaudit') ? await eventLoopDelay(t.pid, eldFile) : null;
          const c0 = t.pid === null ? null : await threadCpuMs(t.pid);
          const lat = await sequential(t, count, body);
          const c1 = t.pid === null ? null : await threadCpuMs(t.pid);
          const eld = eld0 !== null && t.pid !== null ? await eventLoopDelay(t.pid, eldFile) : null;
          row.bodies.push({ bytes, requests: count, cpuUs: c0 === null || c1 === null ? null : Math.round(((c1.main + c1.other - c0.main - c0.other) * 1000) / count), p50Ms: r3(pct(lat, 50)), eldMaxMs: eld?.maxMs ?? null, eldP99Ms: eld?.p99Ms ?? null });
        }
        for (const [i, frames] of STREAM_LENGTHS.entries()) {
          const count = streamCounts[i] as number;
          await streamsOf(t, 1, frames);
          const sampler = rssSampler(t.pid);
          const c0 = t.pid === null ? null : await threadCpuMs(t.pid);
          const got = await streamsOf(t, count, frames);
          const c1 = t.pid === null ? null : await threadCpuMs(t.pid);
          const rss = await sampler.stop();
          const perStream = c0 === null || c1 === null ? null : ((c1.main + c1.other - c0.main - c0.other) * 1000) / count;
          row.streams.push({ frames: got, streams: count, cpuUsPerStream: perStream === null ? null : Math.round(perStream), cpuUsPerFrame: perStream === null ? null : r3(perStream / got), rssMb: mb(rss) });
        }
        for (const c of CONCURRENCY) {
          const r = await nonStreaming(t, { ...s, phaseSeconds: 60 }, perConcurrency, c);
          row.concurrency.push({ concurrency: c, rps: Math.round((r.lat.length / r.wallMs) * 1000), p50Ms: r3(pct(r.lat, 50)) });
        }
        rows.push(row);
      } finally {
        await t.stop();
      }
    }
  } finally {
    await stopChild(upstream);
    await rm(eldFile, { force: true });
  }
  return rows;
}

/** One request body of the --stall bench: a label, its text, requests per phase (full, quick). */
interface StallBody {
  label: string;
  body: string;
  counts: [number, number];
}

/**
 * The --stall bodies: the --scale sizes (one ASCII message padded with spaces: the cheapest 1 MiB
 * to decode and parse) and a 1 MiB conversation as clients send long ones: 400 messages of
 * accented text with quotes and newlines, every non-ASCII character written as a \u escape
 * (Python's json.dumps does so by default).
 */
function stallBodies(): StallBody[] {
  const sized = BODY_SIZES.map((bytes, i): StallBody => ({ label: `${bytes / 1024} KiB`, body: requestOfSize(bytes), counts: [[1000, 300, 100][i] as number, [300, 100, 40][i] as number] }));
  const messages = Array.from({ length: 400 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `${'Données « reçues » de l’équipe, "citées"\n'.repeat(33)}${i}` }));
  const convo = JSON.stringify({ model: 'bench-model', messages }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return [...sized, { label: `${Math.round(Buffer.byteLength(convo) / 1024)} KiB conv.`, body: convo, counts: [100, 40] }];
}

export interface StallRow {
  target: string;
  /** Per body, one at a time: CPU per exchange (all threads), p50, event-loop delay (no profiler running). */
  bodies: Array<{ label: string; bytes: number; requests: number; cpuUs: number | null; p50Ms: number; eldMaxMs: number | null; eldP99Ms: number | null }>;
  /**
   * Per body, a second process with the profiler and the turn clock (bench/event-loop-probe.mjs):
   * the longest turn while on a core, the longest run of CPU samples, and the runs over 1 ms.
   */
  blocks: Array<{ label: string; bytes: number; requests: number; turnMaxMs: number | null; longestBlockMs: number | null; eldMaxMs: number | null; over1ms: Array<{ ms: number; wallMs?: number; top: string[] }> }>;
}

/**
 * What a long-context prompt does to the other exchanges (`--stall`): the bodies of stallBodies()
 * one at a time through llmaudit (batched), the --baseline build when given, and the undici floor,
 * every target with the same event-loop probe (bench/event-loop-probe.mjs). The floor's delay and
 * the 1 KiB row are the machine's noise. A second process of each target, sampled by V8's CPU
 * profiler, gives the longest turn of its event loop while it had a core, and where the time of the
 * runs over 1 ms went.
 */
export async function runStallBench(opts: { quick?: boolean; baseline?: string; log?: (s: string) => void } = {}): Promise<StallRow[]> {
  const q = opts.quick === true;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { upstream, upstreamUrl } = await startUpstream();
  const eldFile = path.join(tmpdir(), `llmaudit-bench-stall-${process.pid}.json`);
  const s = q ? QUICK : FULL;
  const baseline = opts.baseline;
  const bodies = stallBodies();
  const targets: Array<{ name: string; start: (probe: Record<string, string>) => Promise<Target> }> = [
    { name: 'llmaudit (batched)', start: (p) => startLlmaudit('llmaudit (batched)', 'batched', upstreamUrl, ['--durability', 'batched'], cli(), eldFile, SIDECAR_NODE_FLAGS, SIDECAR_ENV, { nodeArgs: [], env: p }) },
    ...(baseline === undefined ? [] : [{ name: 'baseline build (batched)', start: (p: Record<string, string>) => startLlmaudit('baseline build (batched)', 'baseline', upstreamUrl, ['--durability', 'batched'], baseline, eldFile, BASELINE_NODE_FLAGS, BASELINE_ENV, { nodeArgs: [], env: p }) }]),
    { name: 'undici pass-through (floor)', start: (p) => startBenchServer('floor', 'undici pass-through (floor)', upstreamUrl, { ...p, LLMAUDIT_BENCH_ELD: eldFile }) },
  ];
  const rows: StallRow[] = [];
  try {
    for (const f of targets) {
      const row: StallRow = { target: f.name, bodies: [], blocks: [] };
      for (const profiled of [false, true]) {
        log(`bench proxy --stall: ${f.name}${profiled ? ' (profiled)' : ''} ...`);
        const t = await f.start(profiled ? { LLMAUDIT_BENCH_BLOCKS: '1' } : {});
        try {
          await nonStreaming(t, s, q ? 300 : 1000, 10);
          for (const { label, body, counts } of bodies) {
            const bytes = Buffer.byteLength(body);
            const count = counts[q ? 1 : 0];
            await sequential(t, Math.ceil(count / 10), body); // warm this body (JIT, buffers)
            const before = t.pid === null ? null : await eventLoopDelay(t.pid, eldFile);
            const c0 = t.pid === null || profiled ? null : await threadCpuMs(t.pid);
            const lat = await sequential(t, count, body);
            const c1 = t.pid === null || profiled ? null : await threadCpuMs(t.pid);
            const eld = before !== null && t.pid !== null ? ((await eventLoopDelay(t.pid, eldFile)) as (Awaited<ReturnType<typeof eventLoopDelay>> & { turnMaxMs?: number; longestBlockMs?: number; blocks?: Array<{ ms: number; wallMs: number; top: string[] }> }) | null) : null;
            if (!profiled) row.bodies.push({ label, bytes, requests: count, cpuUs: c0 === null || c1 === null ? null : Math.round(((c1.main + c1.other - c0.main - c0.other) * 1000) / count), p50Ms: r3(pct(lat, 50)), eldMaxMs: eld?.maxMs ?? null, eldP99Ms: eld?.p99Ms ?? null });
            else row.blocks.push({ label, bytes, requests: count, turnMaxMs: eld?.turnMaxMs ?? null, longestBlockMs: eld?.longestBlockMs ?? null, eldMaxMs: eld?.maxMs ?? null, over1ms: eld?.blocks ?? [] });
          }
        } finally {
          await t.stop();
        }
      }
      rows.push(row);
    }
  } finally {
    await stopChild(upstream);
    await rm(eldFile, { force: true });
  }
  return rows;
}

/**
 * Steady state (`--steady [--quick] [--baseline OTHER/llmaudit.mjs]`): what a sidecar settles at
 * under sustained load, where the rows and the memory anatomy see a process a few thousand
 * exchanges old. llmaudit (batched), and the --baseline build when given, run at once and take
 * turns: round after round of 10,000 exchanges at 50 concurrent (5,000 with --quick; 8 rounds, 6
 * with --quick), each round's CPU per exchange, req/s, highest RSS (sampled every 100 ms) and RSS
 * at its end, and each isolate's old and young generation then (bench/heap-probe.mjs). V8 grows an
 * old generation until garbage collection finds it mostly garbage; a process's RSS climbs for
 * tens of thousands of exchanges before it levels.
 */
export interface SteadyRound {
  exchanges: number;
  cpuUs: number | null;
  rps: number;
  peakRssMb: number | null;
  endRssMb: number | null;
  heaps: IsolateHeap[];
  /** With --gc: each isolate's garbage collection in the round, per exchange. */
  gc?: Array<{ thread: string; scavengesPer1k: number; markCompactsPer1k: number; gcUs: number; survivedKb: number }>;
}

export interface SteadyRow {
  target: string;
  flags: string[];
  /** The variables set for the process beyond this one's (the image's ENV, or LLMAUDIT_BENCH_ENV). */
  env: Record<string, string>;
  rounds: SteadyRound[];
  error?: string;
}

export async function runSteadyBench(opts: { quick?: boolean; baseline?: string; gc?: boolean; log?: (s: string) => void } = {}): Promise<SteadyRow[]> {
  const q = opts.quick === true;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const s = q ? QUICK : FULL;
  const rounds = q ? 6 : 8;
  const per = q ? 5_000 : 10_000;
  const { upstream, upstreamUrl } = await startUpstream();
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-steady-'));
  const rows: SteadyRow[] = [];
  // The targets that started; a row whose target did not start keeps its error and no rounds.
  const runs: Array<{ row: SteadyRow; t: Target; prefix: string }> = [];
  try {
    const specs = [
      { name: 'llmaudit (batched)', key: 'batched', cli: cli(), flags: SIDECAR_NODE_FLAGS, env: SIDECAR_ENV },
      ...(opts.baseline === undefined ? [] : [{ name: 'baseline build (batched)', key: 'baseline', cli: opts.baseline, flags: BASELINE_NODE_FLAGS, env: BASELINE_ENV }]),
    ];
    for (const [i, sp] of specs.entries()) {
      const prefix = path.join(dir, `heap-${i}`);
      const row: SteadyRow = { target: sp.name, flags: sp.flags, env: sp.env, rounds: [] };
      rows.push(row);
      try {
        const probeEnv = { LLMAUDIT_BENCH_HEAP: prefix, ...(opts.gc === true ? { LLMAUDIT_BENCH_GC: '1' } : {}) };
        const t = await startLlmaudit(sp.name, sp.key, upstreamUrl, ['--durability', 'batched'], sp.cli, undefined, sp.flags, sp.env, { nodeArgs: ['--import', path.join(root, 'bench/heap-probe.mjs')], env: probeEnv });
        runs.push({ row, t, prefix });
      } catch (err) {
        row.error = (err as Error).message;
      }
    }
    for (let r = 0; r < rounds; r++) {
      log(`bench proxy --steady: round ${r + 1} of ${rounds} ...`);
      for (let k = 0; k < runs.length; k++) {
        const { row, t, prefix } = runs[(k + r) % runs.length] as (typeof runs)[number];
        const gc0 = opts.gc === true ? await readProbe(prefix, 'now') : [];
        const c0 = t.pid === null ? null : await threadCpuMs(t.pid);
        const sampler = rssSampler(t.pid);
        const ns = await nonStreaming(t, { ...s, phaseSeconds: 120 }, per, s.concurrency);
        const peak = await sampler.stop();
        const c1 = t.pid === null ? null : await threadCpuMs(t.pid);
        await new Promise((res) => setTimeout(res, 300)); // the probe's next sample
        const n = ns.lat.length;
        const heaps = await readProbe(prefix, 'now');
        row.rounds.push({
          exchanges: (row.rounds.at(-1)?.exchanges ?? 0) + n,
          cpuUs: c0 === null || c1 === null || n === 0 ? null : Math.round(((c1.main + c1.other - c0.main - c0.other) * 1000) / n),
          rps: Math.round((n / ns.wallMs) * 1000),
          peakRssMb: mb(peak),
          endRssMb: mb(t.pid === null ? null : await statusKb(t.pid, 'VmRSS')),
          heaps,
          ...(opts.gc === true && n > 0 ? { gc: gcPerExchange(gc0, heaps, n) } : {}),
        });
      }
    }
  } finally {
    for (const { t } of runs) await t.stop();
    await stopChild(upstream);
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

/** Each isolate's collections between two probe reads, per exchange (the probe samples every 100 ms: the read after the round's 300 ms wait holds it all). */
function gcPerExchange(before: IsolateHeap[], after: IsolateHeap[], n: number): NonNullable<SteadyRound['gc']> {
  const out: NonNullable<SteadyRound['gc']> = [];
  for (const a of after) {
    const b = before.find((x) => x.thread === a.thread)?.gc;
    if (a.gc === undefined || b === undefined) continue;
    const r = (v: number, d = 1) => Math.round(v * d) / d;
    out.push({
      thread: a.thread,
      scavengesPer1k: r(((a.gc.scavenges - b.scavenges) * 1000) / n, 10),
      markCompactsPer1k: r(((a.gc.markCompacts - b.markCompacts) * 1000) / n, 100),
      gcUs: r(((a.gc.costMs - b.costMs) * 1000) / n, 10),
      survivedKb: r(((a.gc.survivedMb - b.survivedMb) * 1024) / n, 100),
    });
  }
  return out;
}

export function printSteadyTable(rows: SteadyRow[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  out('Steady state at 50 concurrent 1 KiB exchanges: per round, CPU µs per exchange, req/s, highest RSS and RSS at its end (MiB), each isolate\'s old / young generation at its end (MiB)');
  for (const r of rows) {
    const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`).join(' ');
    out(`${r.target} (${env === '' ? '' : `${env} `}node ${r.flags.join(' ') || 'without flags'})${r.error === undefined ? '' : `: not run: ${r.error}`}`);
    out(`  ${pad('exchanges', 10)}${pad('CPU µs', 8)}${pad('req/s', 8)}${pad('peak RSS', 10)}${pad('end RSS', 9)}  heaps`);
    for (const x of r.rounds) {
      const heaps = x.heaps.map((h) => `${h.thread} ${h.spaces.old_space ?? '-'} / ${h.spaces.new_space ?? '-'}`).join(', ');
      out(`  ${pad(x.exchanges, 10)}${pad(x.cpuUs, 8)}${pad(x.rps, 8)}${pad(x.peakRssMb, 10)}${pad(x.endRssMb, 9)}  ${heaps}`);
      if (x.gc !== undefined) {
        out(`  ${' '.repeat(10)}  gc per exchange: ${x.gc.map((g) => `${g.thread} ${g.survivedKb} KB kept by scavenges, ${g.gcUs} µs (${g.scavengesPer1k} scavenges, ${g.markCompactsPer1k} full per 1,000)`).join('; ')}`);
      }
    }
    const late = r.rounds.slice(Math.floor(r.rounds.length / 2));
    // The upper middle of an even count, as the figures in docs/benchmarks.md were read.
    const med = (xs: Array<number | null>) => {
      const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
      return v.length === 0 ? null : v[v.length >> 1];
    };
    out(`  the later half of the rounds, medians: CPU ${med(late.map((x) => x.cpuUs)) ?? '-'} µs, peak RSS ${med(late.map((x) => x.peakRssMb)) ?? '-'} MiB, end RSS ${med(late.map((x) => x.endRssMb)) ?? '-'} MiB`);
    const threads = [...new Set(late.flatMap((x) => (x.gc ?? []).map((g) => g.thread)))];
    for (const th of threads) {
      const g = late.map((x) => x.gc?.find((y) => y.thread === th) ?? null);
      out(`    ${th}: KB kept by scavenges per exchange ${med(g.map((y) => y?.survivedKb ?? null)) ?? '-'}, GC µs per exchange ${med(g.map((y) => y?.gcUs ?? null)) ?? '-'}, scavenges per 1,000 ${med(g.map((y) => y?.scavengesPer1k ?? null)) ?? '-'}`);
    }
  }
}

export interface ParseTurnsRow {
  body: string;
  bytes: number;
  /** parseJsonBody: CPU ms of the one turn (median of the runs). */
  wholeMs: number;
  /** parseJsonBodyInTurns: CPU ms of its longest turn, of all its turns, and how many (medians). */
  longestTurnMs: number;
  totalMs: number;
  turns: number;
}

/**
 * The request parse of --stall's large bodies in this process, the event loop otherwise idle:
 * parseJsonBody in one turn against parseJsonBodyInTurns, in CPU time (process.cpuUsage between
 * turns: the process has one thread doing work, and time off the core is not counted).
 */
export async function runParseTurns(runs = 15): Promise<ParseTurnsRow[]> {
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const median = (xs: number[]): number => r3(xs.sort((a, b) => a - b)[xs.length >> 1] as number);
  const rows: ParseTurnsRow[] = [];
  for (const { label, body } of stallBodies().filter((b) => Buffer.byteLength(b.body) > 64 * 1024)) {
    const buf = Buffer.from(body);
    const whole: number[] = [];
    const longest: number[] = [];
    const total: number[] = [];
    const turns: number[] = [];
    for (let r = 0; r < runs; r++) {
      const a = cpuMs();
      parseJsonBody(buf, 'application/json');
      whole.push(cpuMs() - a);
      let last = cpuMs();
      let max = 0;
      let n = 0;
      let on = true;
      const tick = (): void => {
        const now = cpuMs();
        max = Math.max(max, now - last);
        last = now;
        n++;
        if (on) setImmediate(tick);
      };
      setImmediate(tick);
      const b = cpuMs();
      await parseJsonBodyInTurns(buf, 'application/json');
      total.push(cpuMs() - b);
      on = false;
      longest.push(Math.max(max, cpuMs() - last));
      turns.push(n);
    }
    rows.push({ body: label, bytes: buf.length, wholeMs: median(whole), longestTurnMs: median(longest), totalMs: median(total), turns: median(turns) });
  }
  return rows;
}

export function printParseTurns(rows: ParseTurnsRow[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  out('The request parse alone (this process, CPU ms, medians): parseJsonBody in one turn; parseJsonBodyInTurns: longest turn, all turns, turns');
  out(`${'body'.padEnd(16)}${pad('whole', 9)}${pad('longest', 9)}${pad('total', 9)}${pad('turns', 7)}`);
  for (const r of rows) out(`${r.body.padEnd(16)}${pad(r.wholeMs, 9)}${pad(r.longestTurnMs, 9)}${pad(r.totalMs, 9)}${pad(r.turns, 7)}`);
}

export function printStallTable(rows: StallRow[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  out('Request bodies one at a time: CPU µs per exchange (all threads), per-KiB slope from 1 KiB, p50; event-loop delay (max, p99);');
  out('profiled process: longest turn of the event loop while on a core ("turn"), longest run of CPU samples ("run") and runs over 1 ms');
  out(`${'target'.padEnd(30)}${pad('body', 15)}${pad('CPU µs', 9)}${pad('µs/KiB', 9)}${pad('p50 ms', 9)}${pad('ELD max', 9)}${pad('ELD p99', 9)}${pad('turn ms', 9)}${pad('run ms', 9)}${pad('>1 ms', 7)}`);
  for (const r of rows) {
    const first = r.bodies[0];
    for (const b of r.bodies) {
      const slope = first === undefined || b === first || b.cpuUs === null || first.cpuUs === null ? null : r3((b.cpuUs - first.cpuUs) / ((b.bytes - first.bytes) / 1024));
      const bl = r.blocks.find((x) => x.label === b.label);
      out(`${r.target.padEnd(30)}${pad(b.label, 15)}${pad(b.cpuUs, 9)}${pad(slope, 9)}${pad(b.p50Ms, 9)}${pad(b.eldMaxMs, 9)}${pad(b.eldP99Ms, 9)}${pad(bl?.turnMaxMs, 9)}${pad(bl?.longestBlockMs, 9)}${pad(bl?.over1ms.length, 7)}`);
    }
  }
  out('');
  out('Runs of CPU samples over 1 ms with the largest bodies (CPU ms, wall ms; self time of the functions that took most of each; a run can hold several turns)');
  for (const r of rows) {
    for (const bl of r.blocks.slice(-2)) for (const b of bl.over1ms.slice(0, 5)) out(`${r.target.padEnd(30)}${pad(bl.label, 15)}${pad(b.ms, 7)} ms${pad(b.wallMs, 9)} ms  ${b.top.join(', ')}`);
  }
}

export function printScaleTable(rows: ScaleRow[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  const direct = rows.find((r) => r.target === 'direct');
  const floor = rows.find((r) => r.target === 'undici pass-through (floor)');
  out('Request body size (one at a time): CPU µs per exchange (all threads), p50 and added p50 (minus direct), per-KiB slope from 1 KiB; event-loop delay (llmaudit)');
  out(`${'target'.padEnd(30)}${pad('body', 9)}${pad('CPU µs', 9)}${pad('µs/KiB', 9)}${pad('p50 ms', 9)}${pad('+p50 ms', 9)}${pad('ELD max', 9)}${pad('ELD p99', 9)}`);
  for (const r of rows.filter((x) => x.target !== 'direct')) {
    const first = r.bodies[0];
    for (const b of r.bodies) {
      const d = direct?.bodies.find((x) => x.bytes === b.bytes);
      const slope = first === undefined || b === first || b.cpuUs === null || first.cpuUs === null ? null : r3((b.cpuUs - first.cpuUs) / ((b.bytes - first.bytes) / 1024));
      out(`${r.target.padEnd(30)}${pad(`${b.bytes / 1024} KiB`, 9)}${pad(b.cpuUs, 9)}${pad(slope, 9)}${pad(b.p50Ms, 9)}${pad(d === undefined ? null : r3(b.p50Ms - d.p50Ms), 9)}${pad(b.eldMaxMs, 9)}${pad(b.eldP99Ms, 9)}`);
    }
  }
  out('');
  out('Stream length (one stream at a time): CPU µs per stream and per frame (all threads), highest RSS while streaming');
  out(`${'target'.padEnd(30)}${pad('frames', 8)}${pad('CPU µs', 10)}${pad('µs/frame', 10)}${pad('RSS MB', 9)}`);
  for (const r of rows.filter((x) => x.target !== 'direct')) for (const st of r.streams) out(`${r.target.padEnd(30)}${pad(st.frames, 8)}${pad(st.cpuUsPerStream, 10)}${pad(st.cpuUsPerFrame, 10)}${pad(st.rssMb, 9)}`);
  out('');
  out('Concurrency (1 KiB, non-streaming): req/s, p50 ms, and req/s ÷ the floor\'s');
  out(`${'target'.padEnd(30)}${CONCURRENCY.map((c) => pad(`c=${c}`, 20)).join('')}`);
  for (const r of rows) {
    out(`${r.target.padEnd(30)}${r.concurrency.map((c) => {
      const fl = floor?.concurrency.find((x) => x.concurrency === c.concurrency);
      return pad(`${c.rps} ${c.p50Ms}ms${fl === undefined || r === floor ? '' : ` ${r3(c.rps / fl.rps)}×`}`, 20);
    }).join('')}`);
  }
}

interface Derived {
  target: string;
  addedP50Ms: number | null;
  addedP99Ms: number | null;
  addedTtfbP50Ms: number | null;
  /** At 50 concurrent: p50 minus direct's p50 at 50 concurrent (queueing included). */
  addedLoadP50Ms: number | null;
}

export function derive(rows: ProxyBenchRow[]): Derived[] {
  const direct = rows.find((r) => r.target === 'direct');
  return rows.map((r) => ({
    target: r.target,
    addedP50Ms: direct?.nonStream && r.nonStream ? r3(r.nonStream.p50Ms - direct.nonStream.p50Ms) : null,
    addedP99Ms: direct?.nonStream && r.nonStream ? r3(r.nonStream.p99Ms - direct.nonStream.p99Ms) : null,
    addedTtfbP50Ms: direct?.stream && r.stream ? r3(r.stream.ttfbP50Ms - direct.stream.ttfbP50Ms) : null,
    addedLoadP50Ms: direct?.nonStream && r.nonStream ? r3(r.nonStream.loadP50Ms - direct.nonStream.loadP50Ms) : null,
  }));
}

/**
 * The targets (docs/benchmarks.md), checked against llmaudit (batched). CPU per exchange, req/s at
 * 50 concurrent and added TTFB are ratios between targets: with paired rounds (runPairedRounds)
 * they are checked against the rounds' medians, else against the rows.
 */
export function checkTargets(rows: ProxyBenchRow[], paired: PairedResult | null = null): Array<{ target: string; value: string; ok: boolean | null }> {
  const d = derive(rows);
  const get = (name: string) => d.find((x) => x.target === name);
  const b = get('llmaudit (batched)');
  const floor = get('undici pass-through (floor)');
  const pk = get('Portkey gateway');
  const tr = get('llmaudit (tracing 100%)');
  const idle = rows.find((r) => r.target === 'llmaudit (batched)')?.idleStreams;
  const rowOf = (name: string) => rows.find((r) => r.target === name);
  const cpuOf = (name: string) => {
    const c = rowOf(name)?.cpu;
    return c == null ? null : c.mainUs + c.otherUs;
  };
  const strict = get('llmaudit (strict)');
  const bare = get('bare forwarder (no record)');
  const lb = rowOf('llmaudit (batched)');
  // Full governance against the same sidecar without a policy: p50 one at a time, both of this run.
  const govP50 = rowOf('llmaudit (full governance)')?.nonStream?.p50Ms;
  const govAdded = govP50 != null && lb?.nonStream != null ? r3(govP50 - lb.nonStream.p50Ms) : null;
  const chk = (v: number | null | undefined, f: (n: number) => boolean) => (v === null || v === undefined || Number.isNaN(v) ? null : f(v));
  const ratio = (a: number | null | undefined, c: number | null | undefined) => (a == null || c == null || c <= 0 ? null : r3(a / c));
  // A ratio target: the paired rounds' median when there is one, the rows' ratio beside it.
  const pairedOr = (target: string, fromRounds: number | null | undefined, fromRows: number | null, f: (n: number) => boolean) =>
    fromRounds == null
      ? { target, value: `${fromRows ?? '-'}× (rows)`, ok: chk(fromRows, f) }
      : { target, value: `${fromRounds}× (median of paired rounds; rows: ${fromRows ?? '-'}×)`, ok: chk(fromRounds, f) };
  return [
    { target: 'p50 added ≤ 0.3 ms', value: `${b?.addedP50Ms ?? '-'} ms`, ok: chk(b?.addedP50Ms, (v) => v <= 0.3) },
    { target: 'p99 added ≤ 1.5 ms', value: `${b?.addedP99Ms ?? '-'} ms`, ok: chk(b?.addedP99Ms, (v) => v <= 1.5) },
    { target: '≤ 1.5× the floor\'s overhead (p50)', value: `${ratio(b?.addedP50Ms, floor?.addedP50Ms) ?? '-'}×`, ok: chk(ratio(b?.addedP50Ms, floor?.addedP50Ms), (v) => v <= 1.5) },
    { target: '≥ 5× lower than Portkey (p50 added)', value: `${ratio(pk?.addedP50Ms, b?.addedP50Ms) ?? '-'}×`, ok: chk(ratio(pk?.addedP50Ms, b?.addedP50Ms), (v) => v >= 5) },
    { target: 'added TTFB ≤ 0.5 ms', value: `${b?.addedTtfbP50Ms ?? '-'} ms`, ok: chk(b?.addedTtfbP50Ms, (v) => v <= 0.5) },
    { target: '1,000 idle streams ≤ 300 MB', value: `${idle?.rssMb ?? '-'} MB (${idle?.open ?? 0} open)`, ok: idle?.open === 1000 ? chk(idle.rssMb, (v) => v <= 300) : false },
    pairedOr('CPU per exchange ≤ 1.5× the floor\'s', paired?.cpuRatio, ratio(cpuOf('llmaudit (batched)'), cpuOf('undici pass-through (floor)')), (v) => v <= 1.5),
    pairedOr('req/s at 50 concurrent ≥ 0.67× the floor\'s', paired?.rpsRatio, ratio(lb?.nonStream?.rps, rowOf('undici pass-through (floor)')?.nonStream?.rps), (v) => v >= 0.67),
    pairedOr('added TTFB ≤ 1.2× the bare forwarder\'s', paired?.ttfbRatio, ratio(b?.addedTtfbP50Ms, bare?.addedTtfbP50Ms), (v) => v <= 1.2),
    { target: 'strict added p50 ≤ 2× batched\'s', value: `${ratio(strict?.addedP50Ms, b?.addedP50Ms) ?? '-'}×`, ok: chk(ratio(strict?.addedP50Ms, b?.addedP50Ms), (v) => v <= 2) },
    { target: 'idle RSS ≤ 70 MiB', value: `${lb?.idleRssMb ?? '-'} MiB`, ok: chk(lb?.idleRssMb, (v) => v <= 70) },
    { target: 'RSS at 50 concurrent ≤ 128 MiB', value: `${lb?.loadRssMb ?? '-'} MiB`, ok: chk(lb?.loadRssMb, (v) => v <= 128) },
    { target: 'full governance adds ≤ 0.05 ms p50', value: `${govAdded ?? '-'} ms`, ok: chk(govAdded, (v) => v <= 0.05) },
    { target: 'tracing adds ≤ 0.1 ms p50', value: `${tr?.addedP50Ms != null && b?.addedP50Ms != null ? r3(tr.addedP50Ms - b.addedP50Ms) : '-'} ms`, ok: chk(tr?.addedP50Ms != null && b?.addedP50Ms != null ? tr.addedP50Ms - b.addedP50Ms : null, (v) => v <= 0.1) },
  ];
}

/**
 * Figures that put the targets in context (not targets themselves): what a forwarder with nothing
 * recorded reaches against Portkey in the same run, which bounds the Portkey ratio of any
 * recording proxy on Node's HTTP stack; the same ratio under load and in CPU per exchange.
 */
export function contextFigures(rows: ProxyBenchRow[]): Array<{ figure: string; value: string }> {
  const d = derive(rows);
  const get = (name: string) => d.find((x) => x.target === name);
  const row = (name: string) => rows.find((r) => r.target === name);
  const b = get('llmaudit (batched)');
  const bare = get('bare forwarder (no record)');
  const pk = get('Portkey gateway');
  const cpuOf = (name: string) => {
    const c = row(name)?.cpu;
    return c == null ? null : c.mainUs + c.otherUs;
  };
  const ratio = (a: number | null | undefined, c: number | null | undefined) => (a == null || c == null || c <= 0 ? '-' : `${r3(a / c)}×`);
  const out: Array<{ figure: string; value: string }> = [
    { figure: 'Portkey ÷ bare forwarder, p50 added, one at a time (the most any Node forwarder reaches here)', value: ratio(pk?.addedP50Ms, bare?.addedP50Ms) },
    { figure: 'Portkey ÷ llmaudit, p50 added at 50 concurrent', value: ratio(pk?.addedLoadP50Ms, b?.addedLoadP50Ms) },
    { figure: 'Portkey ÷ llmaudit, CPU per exchange', value: ratio(cpuOf('Portkey gateway'), cpuOf('llmaudit (batched)')) },
    // One at a time strict waits for its own fdatasync; at 50 concurrent appends share one (group commit).
    { figure: 'strict ÷ batched, p50 added at 50 concurrent', value: ratio(get('llmaudit (strict)')?.addedLoadP50Ms, b?.addedLoadP50Ms) },
  ];
  // --baseline-durability strict: the other build's strict against this build's batched, as the target's ratio is.
  const bs = get('baseline build (strict)');
  if (bs !== undefined) {
    out.push({ figure: 'baseline build (strict) ÷ batched, p50 added one at a time', value: ratio(bs.addedP50Ms, b?.addedP50Ms) });
    out.push({ figure: 'baseline build (strict) ÷ batched, p50 added at 50 concurrent', value: ratio(bs.addedLoadP50Ms, b?.addedLoadP50Ms) });
  }
  const lc = row('llmaudit (batched)')?.cpu;
  const bc = row('bare forwarder (no record)')?.cpu;
  if (lc != null && bc != null) out.push({ figure: 'llmaudit CPU per exchange: main thread, other threads (bare forwarder: main)', value: `${lc.mainUs} µs, ${lc.otherUs} µs (${bc.mainUs} µs)` });
  return out;
}

export function printProxyTable(rows: ProxyBenchRow[], notes: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), paired: PairedResult | null = null): void {
  const d = derive(rows);
  const pad = (v: unknown, n: number) => String(v ?? '-').padStart(n);
  out('p50/p99/+p50/+p99: one request at a time (added = minus direct); req/s and @50 p50: 50 concurrent; ttfb/str: streaming, 200 frames;');
  out('CPU µs: the target process\'s CPU per exchange, one at a time (main thread + its other threads)');
  out(`${'target'.padEnd(30)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('+p50', 8)}${pad('+p99', 8)}${pad('req/s', 8)}${pad('@50 p50', 9)}${pad('ttfb50', 8)}${pad('+ttfb', 8)}${pad('str p50', 9)}${pad('RSS MB', 8)}${pad('idle MB', 8)}${pad('@50 MB', 8)}${pad('1k idle MB', 11)}${pad('CPU µs', 8)}`);
  for (const r of rows) {
    const x = d.find((y) => y.target === r.target);
    if (r.error !== undefined) {
      out(`${r.target.padEnd(30)} not run: ${r.error}`);
      continue;
    }
    out(
      `${r.target.padEnd(30)}${pad(r.nonStream?.p50Ms, 9)}${pad(r.nonStream?.p99Ms, 9)}${pad(x?.addedP50Ms, 8)}${pad(x?.addedP99Ms, 8)}${pad(r.nonStream?.rps, 8)}${pad(r.nonStream?.loadP50Ms, 9)}${pad(r.stream?.ttfbP50Ms, 8)}${pad(x?.addedTtfbP50Ms, 8)}${pad(r.stream?.p50Ms, 9)}${pad(r.rssMb, 8)}${pad(r.idleRssMb, 8)}${pad(r.loadRssMb, 8)}${pad(r.idleStreams === null ? null : `${r.idleStreams.rssMb ?? '-'}${r.idleStreams.open < 1000 ? ` (${r.idleStreams.open})` : ''}`, 11)}${pad(r.cpu === null ? null : r.cpu.mainUs + r.cpu.otherUs, 8)}`,
    );
  }
  out('');
  if (paired !== null) {
    printPaired(paired, out);
    out('');
  }
  for (const c of checkTargets(rows, paired)) out(`${c.ok === null ? '?' : c.ok ? '✓' : '✗'} ${c.target.padEnd(40)} ${c.value}`);
  out('');
  for (const c of contextFigures(rows)) out(`· ${c.figure}: ${c.value}`);
  for (const n of notes) out(`note: ${n}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--only');
  const only = at === -1 ? undefined : (args[at + 1] ?? '').split(',');
  const b = args.indexOf('--baseline');
  const baseline = b === -1 ? undefined : args[b + 1];
  if (args.includes('--stall')) {
    const stall = await runStallBench({ quick: args.includes('--quick'), ...(baseline === undefined ? {} : { baseline }) });
    const parse = await runParseTurns();
    if (!args.includes('--json')) {
      printStallTable(stall);
      process.stdout.write('\n');
      printParseTurns(parse);
    }
    process.stdout.write(`${JSON.stringify({ bench: 'proxy-stall', at: new Date().toISOString(), node: process.version, rows: stall, parse })}\n`);
    process.exit(0);
  }
  if (args.includes('--steady')) {
    const steady = await runSteadyBench({ quick: args.includes('--quick'), gc: args.includes('--gc'), ...(baseline === undefined ? {} : { baseline }) });
    if (!args.includes('--json')) printSteadyTable(steady);
    process.stdout.write(`${JSON.stringify({ bench: 'proxy-steady', at: new Date().toISOString(), node: process.version, rows: steady })}\n`);
    process.exit(0);
  }
  if (args.includes('--scale')) {
    const scale = await runScaleBench({ quick: args.includes('--quick') });
    if (!args.includes('--json')) printScaleTable(scale);
    process.stdout.write(`${JSON.stringify({ bench: 'proxy-scale', at: new Date().toISOString(), node: process.version, rows: scale })}\n`);
    process.exit(0);
  }
  const bd = args.indexOf('--baseline-durability');
  const baselineDurability = bd === -1 ? undefined : args[bd + 1];
  if (baselineDurability !== undefined && baselineDurability !== 'batched' && baselineDurability !== 'strict') throw new Error(`--baseline-durability: batched or strict, not ${baselineDurability}`);
  const { rows, notes, anatomy, paired } = await runProxyBench({ quick: args.includes('--quick'), anatomy: !args.includes('--no-anatomy'), paired: !args.includes('--no-paired'), ...(only === undefined ? {} : { only }), ...(baseline === undefined ? {} : { baseline }), ...(baselineDurability === undefined ? {} : { baselineDurability }) });
  const result = { bench: 'proxy', at: new Date().toISOString(), node: process.version, rows, derived: derive(rows), paired, targets: checkTargets(rows, paired), context: contextFigures(rows), anatomy, notes };
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    printProxyTable(rows, notes, undefined, paired);
    if (anatomy.length > 0) {
      process.stdout.write('\n');
      printAnatomy(anatomy);
    }
    process.stdout.write(`\n${JSON.stringify(result)}\n`);
  }
}
