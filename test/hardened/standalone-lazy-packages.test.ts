// The packages the sidecar loads only when a config asks for them (the OTLP exporter, ioredis),
// loaded from the standalone bundle the images carry. That bundle turns a lazily imported CommonJS
// package into a chunk with only a default export, where Node's loader gives named exports: the
// image's sidecar exported no span at all ("m.OTLPTraceExporter is not a constructor", logged as
// dropped spans) and could not open its Redis store, while every test of the sources passed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SPAN_KIND_CLIENT, startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { freePort, startRedisServer } from '../support/redis-server.ts';
import { loadWireFixture, startReplayUpstream, type ReplayUpstream } from '../support/replay-upstream.ts';
import { buildStandaloneBundles, type Bundles } from './standalone-bundles.ts';

const FIXTURE = loadWireFixture('openai-chat-nonstream');

interface Running {
  proc: ChildProcess;
  port: number;
  lines: Array<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

describe('the standalone bundle loads the packages it loads lazily', () => {
  let work: string;
  let bundles: Bundles;
  let upstream: ReplayUpstream;
  const running: Running[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'llmaudit-lazy-packages-'));
    bundles = await buildStandaloneBundles(path.join(work, 'build'));
    upstream = await startReplayUpstream(FIXTURE.script);
  }, 120_000);
  afterEach(async () => {
    for (const r of running.splice(0)) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
  });
  afterAll(async () => {
    await upstream?.close();
    await rm(work, { recursive: true, force: true });
  });

  async function startBundle(name: string, extra: string[]): Promise<Running> {
    const proc = spawn(process.execPath, [path.join(bundles.sidecar, 'llmaudit.mjs'), 'proxy', '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', path.join(work, name), ...extra], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    const stderr: string[] = [];
    createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        const rec = JSON.parse(l) as Record<string, unknown>;
        lines.push(rec);
        if (rec.msg === 'proxy started') resolve(rec);
      });
      void exited.then((code) => reject(new Error(`exited ${code}; stderr: ${stderr.join('\n')}`)));
    });
    const port = (started.listeners as Array<{ port: number }>)[0]!.port;
    const r: Running = {
      proc,
      port,
      lines,
      stop: async () => {
        proc.kill('SIGTERM');
        return exited;
      },
    };
    running.push(r);
    return r;
  }

  const client = (r: Running) => new OpenAI({ apiKey: 'sk-lazy-packages-0123456789', baseURL: `http://127.0.0.1:${r.port}/v1`, maxRetries: 0 });
  const ask = (r: Running) => client(r).chat.completions.create(FIXTURE.request as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);

  it('exports the exchange span to an OTLP receiver (@opentelemetry/exporter-trace-otlp-http)', async () => {
    const receiver: OtlpReceiver = await startOtlpReceiver();
    try {
      const r = await startBundle('otlp', ['--otlp-endpoint', receiver.url]);
      const answer = await ask(r);
      expect(answer.choices.length).toBeGreaterThan(0);
      // The shutdown flushes what is queued: no waiting on the export interval.
      expect(await r.stop()).toBe(0);
      expect(receiver.spans.filter((s) => s.kind === SPAN_KIND_CLIENT)).toHaveLength(1);
      expect(r.lines.filter((l) => l.msg === 'telemetry spans dropped')).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('keeps its rate limit in Redis (ioredis): the second request of a 1-per-minute limit is refused', async () => {
    const port = await freePort();
    const server = await startRedisServer(port, work);
    const probe = new Redis({ port, host: '127.0.0.1' });
    try {
      const config = path.join(work, 'redis-limit.json');
      const prefix = `bundle-${Date.now()}:`;
      await writeFile(config, JSON.stringify({ governance: { rateLimits: { rules: [{ by: 'workload', requestsPerMinute: 1 }], redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: prefix, timeoutMs: 2000, onUnavailable: 'block' } } } }));
      const r = await startBundle('redis', ['--config', config]);
      await ask(r);
      const refused = await ask(r).then(
        () => null,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      expect((await probe.keys(`${prefix}*`)).length).toBeGreaterThan(0);
      expect(await r.stop()).toBe(0);
    } finally {
      probe.disconnect();
      server.kill('SIGKILL');
    }
  });
});
