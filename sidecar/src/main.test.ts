import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resourceFromEnv, runProxy } from './main.ts';
import type { Sidecar } from './sidecar.ts';

describe('resourceFromEnv', () => {
  it.each([
    [{ POD_NAME: 'chat-5d8f7c9b6-x2x9k', POD_NAMESPACE: 'shop', POD_UID: 'u' }, { serviceName: 'chat', namespace: 'shop', podName: 'chat-5d8f7c9b6-x2x9k', podUid: 'u' }],
    [{ POD_NAME: 'db-2' }, { serviceName: 'db', podName: 'db-2' }],
    [{ POD_NAME: 'standalone-pod' }, { serviceName: 'standalone-pod', podName: 'standalone-pod' }],
    [{ POD_NAME: 'chat-5d8f7c9b6-x2x9k', LLMAUDIT_SERVICE_NAME: 'chat-api', LLMAUDIT_APP_CONTAINER: 'app' }, { serviceName: 'chat-api', podName: 'chat-5d8f7c9b6-x2x9k', containerName: 'app' }],
    [{}, { serviceName: 'llmaudit-proxy' }],
  ])('%j', (env, want) => expect(resourceFromEnv(env)).toEqual(want));
});

describe('runProxy in-process', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-main-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a reloaded file is still overridden by the flags; shutdown resolves 0', async () => {
    const file = path.join(dir, 'config.yaml');
    const yaml = (durability: string, upstream: string) => `listeners: [{port: 0}]\nendpoints: [{name: a, upstream: "${upstream}"}]\nadmin: {port: 0}\nlog: {durability: ${durability}}\n`;
    await writeFile(file, yaml('batched', 'http://127.0.0.1:1'));
    const logLines: Array<Record<string, unknown>> = [];
    const stderr: string[] = [];
    let stop: (s: string) => void = () => undefined;
    let started: (s: Sidecar) => void = () => undefined;
    const running = new Promise<Sidecar>((r) => (started = r));
    const exit = runProxy({
      flags: { config: file, durability: 'strict', logDir: path.join(dir, 'logs') },
      env: { LLMAUDIT_LOG_LEVEL: 'info' },
      cwd: dir,
      hostname: 'box',
      stderr: (t) => stderr.push(t),
      logDestination: { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) },
      shutdownSignal: new Promise((r) => (stop = r)),
      onStarted: (s) => started(s),
    });
    const sidecar = await running;
    expect(sidecar.config().log.durability).toBe('strict');
    expect(stderr.join('')).toContain(`generated a signing key at ${path.join(dir, 'logs', 'signing.key')}`);
    expect(logLines.find((l) => l.msg === 'proxy started')).toMatchObject({ mode: 'standalone', origin: 'llmaudit.dev/local/box', chainDir: path.join(dir, 'logs', 'local', 'box') });

    await writeFile(file, yaml('batched', 'http://127.0.0.1:2'));
    const deadline = Date.now() + 20_000;
    while (sidecar.config().endpoints[0]?.upstream !== 'http://127.0.0.1:2' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(sidecar.config().endpoints[0]?.upstream).toBe('http://127.0.0.1:2');
    expect(sidecar.config().log.durability).toBe('strict');

    stop('test');
    expect(await exit).toBe(0);
    expect(logLines.some((l) => l.msg === 'shut down: log sealed')).toBe(true);
    expect(await readFile(path.join(dir, 'logs', 'local', 'box', 'checkpoint'), 'utf8')).toMatch(/^llmaudit\.dev\/local\/box\n0\n/);
  });
});
