// Hot reload against a real directory laid out like a kubelet ConfigMap volume, with a real
// atomic `..data` symlink swap (kubernetes/pkg/volume/util/atomic_writer.go: write a new
// `..<timestamp>` dir, symlink `..data_tmp` to it, rename over `..data`, remove the old dir).
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProxyMetrics } from '../proxy/metrics.ts';
import { resolveConfig } from './load.ts';
import type { SidecarConfig } from './schema.ts';
import { createConfigWatcher, type ConfigWatcher } from './watch.ts';

const yaml = (port: number, upstream = 'http://127.0.0.1:11435') => `listeners: [{port: ${port}, defaultEndpoint: ollama}]\nendpoints: [{name: ollama, upstream: "${upstream}"}]\n`;
const ENV = { POD_NAME: 'p', POD_NAMESPACE: 'ns', POD_UID: 'u' };

let generation = 0;
/** What kubelet does on a ConfigMap update. */
async function kubeletSwap(dir: string, files: Record<string, string>, old: string | null): Promise<string> {
  const ts = `..2026_11_22_05_00_${String(generation++).padStart(2, '0')}.000000001`;
  await mkdir(path.join(dir, ts));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, ts, name), text);
  await symlink(ts, path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) await symlink(path.join('..data', name), path.join(dir, name)).catch(() => undefined);
  if (old !== null) await rm(path.join(dir, old), { recursive: true });
  return ts;
}

function logCapture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

describe('config watcher', () => {
  let dir: string;
  let watcher: ConfigWatcher | null = null;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-watch-'));
  });
  afterEach(async () => {
    await watcher?.close();
    watcher = null;
    await rm(dir, { recursive: true, force: true });
  });

  async function setup() {
    const first = await kubeletSwap(dir, { 'config.yaml': yaml(1) }, null);
    const file = path.join(dir, 'config.yaml');
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const { logger, lines } = logCapture();
    const parse = (text: string) => resolveConfig({ flags: {}, env: ENV, hostname: 'h', cwd: '/', file: { path: file, text } }).config;
    let applied: SidecarConfig = parse(yaml(1));
    let notify: (() => void) | null = null;
    const next = () => new Promise<void>((resolve) => (notify = resolve));
    watcher = createConfigWatcher({
      file,
      parse,
      apply: (c) => {
        applied = c;
      },
      logger,
      reloads: { inc: (l) => (metrics.configReloads.inc(l), notify?.()) },
      debounceMs: 20,
      pollMs: 0,
      initialText: yaml(1),
    });
    const count = async (result: string) => (await registry.getSingleMetric('llmaudit_config_reloads_total')!.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    return { first, file, lines, next, count, get applied() {
      return applied;
    } };
  }

  it('applies a kubelet ..data swap, driven by the directory watch alone', async () => {
    const s = await setup();
    watcher!.start();
    const reloaded = s.next();
    await kubeletSwap(dir, { 'config.yaml': yaml(2, 'http://127.0.0.1:9999') }, s.first);
    await reloaded;
    expect(s.applied.listeners[0]?.port).toBe(2);
    expect(s.applied.endpoints[0]?.upstream).toBe('http://127.0.0.1:9999');
    expect(await s.count('ok')).toBe(1);
    expect(s.lines.some((l) => l.msg === 'config reloaded')).toBe(true);
  });

  it('an invalid new config keeps the old one, is logged with its problems and counted', async () => {
    const s = await setup();
    watcher!.start();
    const rejected = s.next();
    const second = await kubeletSwap(dir, { 'config.yaml': 'listeners: [{port: -1}]\nendpoints: []\n' }, s.first);
    await rejected;
    expect(s.applied.listeners[0]?.port).toBe(1);
    expect(await s.count('invalid')).toBe(1);
    const line = s.lines.find((l) => l.msg === 'config reload rejected; keeping the current config');
    expect(line).toMatchObject({ level: 50, code: 'LLMAUDIT_E_CONFIG_INVALID' });
    expect(line?.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^\/listeners\/0\/port/), expect.stringMatching(/^\/endpoints/)]));
    // The broken text is not retried on every event; the next good one is applied.
    expect(await watcher!.check()).toBe('unchanged');
    const fixed = s.next();
    await kubeletSwap(dir, { 'config.yaml': yaml(3) }, second);
    await fixed;
    expect(s.applied.listeners[0]?.port).toBe(3);
    expect(await s.count('ok')).toBe(1);
  });

  it('an event that does not change the text is not a reload', async () => {
    const s = await setup();
    await writeFile(path.join(dir, 'unrelated'), 'x');
    expect(await watcher!.check()).toBe('unchanged');
    expect(await s.count('ok')).toBe(0);
  });

  it('a plain file rewritten in place is reloaded too, by the poll when no event arrives', async () => {
    const file = path.join(dir, 'plain.yaml');
    await writeFile(file, yaml(1));
    const { logger } = logCapture();
    let port = 1;
    let done: (() => void) | null = null;
    const seen = new Promise<void>((resolve) => (done = resolve));
    watcher = createConfigWatcher({
      file,
      parse: (text) => resolveConfig({ flags: {}, env: ENV, hostname: 'h', cwd: '/', file: { path: file, text } }).config,
      apply: (c) => {
        port = c.listeners[0]?.port ?? -1;
      },
      logger,
      reloads: { inc: () => done?.() },
      debounceMs: 10_000, // the watch event would fire too late: only the poll can see it
      pollMs: 25,
      initialText: yaml(1),
    });
    watcher.start();
    await writeFile(file, yaml(7));
    await seen;
    expect(port).toBe(7);
  });
});
