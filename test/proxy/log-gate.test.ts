// The log gate of onLogFailure: block, against a real full volume: it closes while appends fail,
// and reopens by itself (a probe of the chain directory) once space is freed — /readyz turned 200
// only when the next request came, so a pod with no traffic stayed NotReady forever.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateSignerKey, parseVerifierKey, verifyLog } from '../../sidecar/src/auditlog/index.ts';
import { resolveConfig } from '../../sidecar/src/config/load.ts';
import { startSidecar, type Sidecar } from '../../sidecar/src/sidecar.ts';
import { startReplayUpstream, type ReplayUpstream } from '../support/replay-upstream.ts';

const CHAT = JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });

function canMount(): boolean {
  const probe = path.join(tmpdir(), `llmaudit-mount-probe-${process.pid}`);
  try {
    mkdirSync(probe, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Fills the volume holding `file` until write(2) says ENOSPC. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4096, 0x78);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

describe.runIf(canMount())('log gate on a real full volume (tmpfs)', () => {
  it('closes while the volume is full and reopens, /readyz 200, with no request once space is freed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-gate-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mnt = path.join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    cleanups.push(() => void execFileSync('umount', [mnt]));
    const up: ReplayUpstream = await startReplayUpstream({ headers: { 'content-type': 'application/json' }, frames: [CHAT] });
    cleanups.push(() => up.close());
    const key = generateSignerKey('llmaudit.dev/gate');
    const text = JSON.stringify({ listeners: [{ port: 0, defaultEndpoint: 'openai' }], endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], admin: { port: 0 }, log: { dir: path.join(mnt, 'logs'), onLogFailure: 'block', durability: 'strict' } });
    const config = resolveConfig({ flags: {}, env: { POD_NAME: 'gate-0', POD_NAMESPACE: 'shop', POD_UID: 'uid-gate' }, hostname: 'h', cwd: dir, file: { path: path.join(dir, 'config.json'), text } }).config;
    const sidecar: Sidecar = await startSidecar(config, { logger: pino({ level: 'silent' }), signerKey: key.signerKey, resource: { serviceName: 'gate' }, logThread: 'inline' });
    cleanups.push(async () => void (await sidecar.close({ drainMs: 0 })));
    const admin = `http://127.0.0.1:${sidecar.admin.port}`;
    const proxy = `http://127.0.0.1:${sidecar.listeners[0]?.port}`;
    const chat = () => fetch(`${proxy}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2000) }] }) });
    const ready = async () => (await fetch(`${admin}/readyz`)).status;

    expect((await chat()).status).toBe(200);
    const filler = path.join(mnt, 'filler');
    fill(filler);
    // strict + block: the held answer is cut when its append fails, and the gate closes.
    await expect(chat().then((r) => r.text())).rejects.toThrow();
    expect(await ready()).toBe(503);
    const forwarded = up.requests.length;

    unlinkSync(filler); // space freed: nothing else happens, no request is sent
    await vi.waitFor(async () => expect(await ready()).toBe(200), { timeout: 10_000, interval: 50 });
    expect(up.requests.length).toBe(forwarded);

    const after = await chat();
    expect(after.status).toBe(200);
    await after.text();
    await sidecar.log.flush();
    const report = await verifyLog(sidecar.log.dir, { keys: [parseVerifierKey(key.verifierKey)] });
    expect(report.failure).toBeNull();
    expect(report.entries).toBe(2); // the first and the last exchange; the cut one was never recorded
  });
});
