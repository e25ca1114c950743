/**
 * `npm run bench -- robustness [--quick] [scenario...]`: peak RSS of the sidecar (`llmaudit proxy` as
 * the image runs it: the standalone bundle of this checkout with the ENTRYPOINT's node flags and the
 * ENV's variables, bench/image-sidecar.ts; LLMAUDIT_BENCH_CLI: another build's llmaudit.mjs) under memory-hungry bursts, with the memory budget
 * (`capture.memoryBudgetBytes`, default 32 MiB) off and on, side by side in one run:
 *
 *   bombs-20 / bombs-40   20 or 40 concurrent responses whose gzip body inflates to 16 MiB, past
 *                          capture.maxDecodedBytes (8 MiB)
 *   prompts-20             20 concurrent plain 8 MiB JSON prompts
 *
 * Each (scenario, budget) pair runs in a fresh process, and the figure is its VmHWM (peak resident
 * set) from /proc, so one burst's heap does not carry into the next. The upstream and the load
 * generator run in this process. The injected sidecar container's default memory limit is 256 MiB
 * (operator/src/inject/sidecar-container.ts); the budget's job is to keep these peaks under it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { benchCli, imageEnv, imageNodeFlags } from './image-sidecar.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = benchCli;
const MiB = 1024 * 1024;
const DEFAULT_BUDGET = 32 * MiB;
const CONTAINER_LIMIT_MIB = 256;

const SMALL_ANSWER = JSON.stringify({ id: 'c', object: 'chat.completion', model: 'bench', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
const BOMB = gzipSync(Buffer.from(`{"id":"c","object":"chat.completion","model":"bench","pad":"${'x'.repeat(16 * MiB)}"}`));

/** The upstream: a gzip bomb when the request says `x-bench: bomb`, else a small answer once the body is read. */
async function startUpstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (req.headers['x-bench'] === 'bomb') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': BOMB.length });
        res.end(BOMB);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(SMALL_ANSWER);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

interface Proxy {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

async function startProxy(upstream: string, budget: number): Promise<Proxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-robust-'));
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ capture: { memoryBudgetBytes: budget } }));
  const out = path.join(dir, 'out.log');
  const fd = openSync(out, 'w');
  const proc: ChildProcess = spawn(process.execPath, [...imageNodeFlags(), cli(), 'proxy', '--config', config, '--upstream', upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', path.join(dir, 'logs')], {
    cwd: root,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...imageEnv() },
  });
  closeSync(fd);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const lines = readFileSync(out, 'utf8').split('\n');
    const started = lines.map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; listeners?: Array<{ port: number }> };
      } catch {
        return null;
      }
    }).find((v) => v?.msg === 'proxy started');
    const port = started?.listeners?.[0]?.port;
    if (port !== undefined) {
      return {
        url: `http://127.0.0.1:${port}`,
        pid: proc.pid as number,
        stop: async () => {
          proc.kill('SIGTERM');
          await exited;
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`llmaudit proxy did not start: ${lines.slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function peakRssMiB(pid: number): Promise<number> {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Math.round(Number(m[1]) / 1024);
}

interface Scenario {
  name: string;
  concurrency: number;
  body: Buffer;
  headers: Record<string, string>;
}

const PROMPT = Buffer.from(JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'p'.repeat(8 * MiB - 64) }] }));
const SCENARIOS: Scenario[] = [
  { name: 'bombs-20', concurrency: 20, body: Buffer.from('{"model":"bench","messages":[]}'), headers: { 'x-bench': 'bomb' } },
  { name: 'bombs-40', concurrency: 40, body: Buffer.from('{"model":"bench","messages":[]}'), headers: { 'x-bench': 'bomb' } },
  { name: 'prompts-20', concurrency: 20, body: PROMPT, headers: {} },
];

/** Runs the burst `rounds` times (all `concurrency` requests at once each time); returns how many got 200. */
async function burst(proxy: Proxy, s: Scenario, rounds: number): Promise<number> {
  const agent = new Agent({ connections: s.concurrency });
  let ok = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      const results = await Promise.all(
        Array.from({ length: s.concurrency }, async () => {
          const res = await request(`${proxy.url}/v1/chat/completions`, { method: 'POST', body: s.body, headers: { 'content-type': 'application/json', ...s.headers }, dispatcher: agent });
          await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
          return res.statusCode;
        }),
      );
      ok += results.filter((c) => c === 200).length;
    }
  } finally {
    await agent.close();
  }
  return ok;
}

interface Row {
  scenario: string;
  budget: string;
  peakRssMiB: number;
  ok: number;
  requests: number;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const rounds = quick ? 1 : 3;
  const upstream = await startUpstream();
  const rows: Row[] = [];
  try {
    // The process at rest: what every row starts from.
    const idle = await startProxy(upstream.url, DEFAULT_BUDGET);
    try {
      rows.push({ scenario: 'idle', budget: '-', peakRssMiB: await peakRssMiB(idle.pid), ok: 0, requests: 0 });
    } finally {
      await idle.stop();
    }
    for (const s of SCENARIOS.filter((x) => only.length === 0 || only.includes(x.name))) {
      for (const [label, budget] of [['off (0)', 0], ['32 MiB (default)', DEFAULT_BUDGET]] as const) {
        const proxy = await startProxy(upstream.url, budget);
        try {
          const ok = await burst(proxy, s, rounds);
          rows.push({ scenario: s.name, budget: label, peakRssMiB: await peakRssMiB(proxy.pid), ok, requests: s.concurrency * rounds });
        } finally {
          await proxy.stop();
        }
      }
    }
  } finally {
    await upstream.close();
  }
  const w = [12, 18, 14, 10];
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i] ?? 10)).join(' ');
  process.stdout.write(`${line(['scenario', 'memory budget', 'peak RSS MiB', '200s'])}\n`);
  for (const r of rows) process.stdout.write(`${line([r.scenario, r.budget, String(r.peakRssMiB), `${r.ok}/${r.requests}`])}\n`);
  process.stdout.write(`container memory limit (operator default): ${CONTAINER_LIMIT_MIB} MiB\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'robustness', rounds, containerLimitMiB: CONTAINER_LIMIT_MIB, rows })}\n`);
}

await main();
