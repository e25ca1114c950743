/**
 * Builds a proxy for a test: real listeners on port 0, a real upstream, a sink that keeps the
 * entries (or the real audit log writer), pino into memory so tests can grep its lines.
 */
import { Writable } from 'node:stream';
import { afterEach } from 'vitest';
import { startReplayUpstream, type ReplayUpstream } from '../support/replay-upstream.ts';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { parseSidecarConfig, type SidecarConfig } from '../../sidecar/src/config/index.ts';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSignerKey, openLog, parseVerifierKey, verifyLog, type AuditLog, type Entry, type VerifyReport } from '../../sidecar/src/auditlog/index.ts';
import type { AppendResult, EntryPayload } from '../../sidecar/src/auditlog/types.ts';
import { createProxy, type AuditSink, type Proxy, type ProxyDeps } from '../../sidecar/src/proxy/create-proxy.ts';
import { createProxyMetrics, type ProxyMetrics } from '../../sidecar/src/proxy/metrics.ts';
import { NOOP_TRACER } from '../../sidecar/src/telemetry/noop-tracer.ts';
import type { ExchangeTracer } from '../../sidecar/src/telemetry/types.ts';

/** Keeps entries in memory; `fail` makes appends reject (disk full). */
export class MemorySink implements AuditSink {
  readonly entries: EntryPayload[] = [];
  fail = false;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  append(payload: EntryPayload): Promise<AppendResult> {
    if (this.fail) return Promise.reject(Object.assign(new Error('disk full'), { code: 'LLMAUDIT_E_LOG_IO' }));
    // Round-trip through JSON, as the writer does, so tests see what would be on disk.
    this.entries.push(JSON.parse(JSON.stringify(payload)) as EntryPayload);
    const seq = this.entries.length - 1;
    for (const w of this.waiters) if (this.entries.length >= w.n) w.resolve();
    return Promise.resolve({ seq, hash: seq.toString(16).padStart(64, '0'), ts: new Date().toISOString() });
  }

  /** Resolves when `n` entries were appended. */
  count(n: number): Promise<void> {
    if (this.entries.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

export interface Stack {
  proxy: Proxy;
  config: SidecarConfig;
  /** Base URL of the first listener. */
  base: string;
  ports: number[];
  metrics: ProxyMetrics;
  registry: Registry;
  logLines: string[];
  close(): Promise<void>;
}

export interface StackOptions {
  /** Raw config (defaults filled by the schema). listeners default to one on port 0. */
  config: Record<string, unknown>;
  sink: AuditSink;
  chainDir?: string;
  tracer?: ExchangeTracer;
  deps?: Partial<ProxyDeps>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const config = parseSidecarConfig({ listeners: [{ port: 0 }], ...opts.config });
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  });
  const registry = new Registry();
  const metrics = createProxyMetrics(registry);
  const proxy = createProxy({
    config,
    sink: opts.sink,
    logger: pino({ level: 'info' }, stream),
    tracer: opts.tracer ?? NOOP_TRACER,
    metrics,
    ...(opts.chainDir === undefined ? {} : { chainDir: opts.chainDir }),
    ...opts.deps,
  });
  const addrs = await proxy.start();
  return {
    proxy,
    config,
    base: `http://127.0.0.1:${addrs[0]?.port}`,
    ports: addrs.map((a) => a.port),
    metrics,
    registry,
    logLines,
    close: () => proxy.close({ drainMs: 2000 }),
  };
}

/** One endpoint config in front of `upstream`. */
export function endpointConfig(upstream: string, api: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpoints: [{ name: api === 'auto' ? 'llm' : api, upstream, api }], ...extra };
}

/** The real audit log writer on a temp dir, with its verifier (B's sidecar/src/auditlog). */
export interface RealLog {
  dir: string;
  log: AuditLog;
  origin: string;
  verify(): Promise<VerifyReport>;
  /** Every entry on disk, in seq order. */
  entries(): Promise<Entry[]>;
  close(): Promise<void>;
}

export async function openRealLog(durability: 'strict' | 'batched' = 'batched'): Promise<RealLog> {
  const dir = await mkdtemp(join(tmpdir(), 'llmaudit-proxy-'));
  const { signerKey, verifierKey } = generateSignerKey('llmaudit.test');
  const origin = 'llmaudit.dev/test/proxy/0000';
  const log = await openLog({ dir, origin, signerKey, durability });
  let closed = false;
  return {
    dir,
    log,
    origin,
    verify: () => verifyLog(dir, { keys: [parseVerifierKey(verifierKey)] }),
    async entries() {
      const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
      const out: Entry[] = [];
      for (const f of files) {
        for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) if (line !== '') out.push(JSON.parse(line) as Entry);
      }
      return out.sort((a, b) => a.seq - b.seq);
    },
    async close() {
      if (closed) return;
      closed = true;
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir`, recursively. */
export async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

/**
 * Per-test cleanup for a test file: registers an afterEach that closes everything pushed, last
 * opened first. `upstream` and `stack` open a replaying upstream / a proxy stack and register them.
 */
export function useCleanups(): {
  cleanups: Array<() => Promise<void>>;
  upstream: (...args: Parameters<typeof startReplayUpstream>) => Promise<ReplayUpstream>;
  stack: (config: Record<string, unknown>, sink?: MemorySink) => Promise<Stack & { sink: MemorySink }>;
} {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
  });
  return {
    cleanups,
    async upstream(...args) {
      const u = await startReplayUpstream(...args);
      cleanups.push(() => u.close());
      return u;
    },
    async stack(config, sink = new MemorySink()) {
      const s = await startStack({ config, sink });
      cleanups.push(() => s.close());
      return { ...s, sink };
    },
  };
}
