// `llmaudit proxy` standalone flags, exactly as docs/configuration.md lists them, through the built CLI:
// --listen (repeated), --upstream, --endpoint NAME=URL, --log-dir, --key, --origin, --admin,
// --durability, --config (for everything else). Each flag is observed in what the proxy does, not
// only parsed: both listeners answer, the prefix routes to the named endpoint, strict re-frames
// the response chunked, the origin names the checkpoint, the key signs a log that verifies, and a
// header named only in the config file is redacted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startReplayUpstream, type ReplayUpstream } from './support/replay-upstream.ts';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'sidecar/dist/llmaudit.mjs');
const TEAM_TOKEN = 'team-TOKENsecret0123456789abcdef';

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('llmaudit proxy flags (built CLI)', () => {
  let dir: string;
  let upA: ReplayUpstream;
  let upB: ReplayUpstream;
  let proc: ChildProcess | null = null;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-flags-'));
    upA = await startReplayUpstream({ headers: { 'content-type': 'application/json' }, frames: ['{"from":"A"}'] });
    upB = await startReplayUpstream({ headers: { 'content-type': 'application/json' }, frames: ['{"from":"B"}'] });
  });
  afterEach(async () => {
    if (proc !== null && proc.exitCode === null) proc.kill('SIGKILL');
    proc = null;
    await Promise.all([upA.close(), upB.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('--listen ×2 --upstream --endpoint --log-dir --key --origin --admin --durability --config all take effect', async () => {
    const keygen = spawnSync(process.execPath, [cli, 'keygen', '--out', path.join(dir, 'keys'), '--name', 'flags-test', '--json'], { encoding: 'utf8' });
    expect(keygen.status).toBe(0);
    const { signerKeyFile, verifierKeyFile } = JSON.parse(keygen.stdout) as { signerKeyFile: string; verifierKeyFile: string };
    const configFile = path.join(dir, 'proxy.yaml');
    await writeFile(configFile, 'capture:\n  redactHeaders: [x-team-token]\n');
    const logDir = path.join(dir, 'logs');
    const origin = 'llmaudit.dev/cli/flags-test';

    proc = spawn(
      process.execPath,
      [cli, 'proxy', '--config', configFile, '--listen', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--upstream', upA.url, '--endpoint', `other=${upB.url}`, '--log-dir', logDir, '--key', signerKeyFile, '--origin', origin, '--admin', '127.0.0.1:0', '--durability', 'strict'],
      { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Array<Record<string, unknown>> = [];
    const stderr: string[] = [];
    createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
    const exited = new Promise<number | null>((resolve) => proc!.once('exit', (code) => resolve(code)));
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: proc!.stdout! }).on('line', (l) => {
        const rec = JSON.parse(l) as Record<string, unknown>;
        lines.push(rec);
        if (rec.msg === 'proxy started') resolve(rec);
      });
      void exited.then((code) => reject(new Error(`exited ${code}; stderr: ${stderr.join('\n')}`)));
    });

    const listeners = started.listeners as Array<{ address: string; port: number }>;
    expect(listeners).toHaveLength(2);
    expect(listeners.every((l) => l.address === '127.0.0.1' && l.port > 0)).toBe(true);
    expect(started).toMatchObject({ mode: 'standalone', durability: 'strict', endpoints: [{ name: 'default', upstream: upA.url }, { name: 'other', upstream: upB.url }] });
    expect(started.chainDir as string).toMatch(new RegExp(`^${logDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const admin = started.admin as { address: string; port: number };
    expect(admin.address).toBe('127.0.0.1');

    // Both listeners; the unprefixed path goes to --upstream, /other/ to --endpoint.
    const a = await get(`http://127.0.0.1:${listeners[0]!.port}/v1/models`, { 'x-team-token': TEAM_TOKEN });
    expect(a).toMatchObject({ status: 200, body: '{"from":"A"}' });
    expect(a.headers['content-length']).toBeUndefined(); // --durability strict: chunked, the end held for the append
    expect(a.headers['x-llmaudit-id']).toMatch(/^[0-9a-f-]{36}$/);
    const b = await get(`http://127.0.0.1:${listeners[1]!.port}/other/v1/models`);
    expect(b).toMatchObject({ status: 200, body: '{"from":"B"}' });
    expect(upA.requests[0]?.headers['x-team-token']).toBe(TEAM_TOKEN); // forwarded unchanged

    // --admin serves; --origin names the checkpoint.
    expect((await get(`http://127.0.0.1:${admin.port}/readyz`)).status).toBe(200);
    const proof = await get(`http://127.0.0.1:${admin.port}/v1/proof/inclusion?seq=1`); // signs a checkpoint at size 2
    expect(proof.status).toBe(200);
    expect((JSON.parse(proof.body) as { checkpoint: string }).checkpoint.split('\n').slice(0, 2)).toEqual([origin, '2']);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const chainDir = started.chainDir as string;
    const segs = (await readdir(chainDir)).filter((n) => n.startsWith('seg-'));
    const text = (await Promise.all(segs.map((s) => readFile(path.join(chainDir, s), 'utf8')))).join('');
    const entries = text.trim().split('\n').map((l) => JSON.parse(l) as { endpoint: string; request: { headers: Record<string, string> } });
    expect(entries.map((e) => e.endpoint)).toEqual(['default', 'other']);
    expect(entries[0]?.request.headers['x-team-token']).not.toContain('TOKENsecret'); // --config redactHeaders
    expect(text).not.toContain(TEAM_TOKEN);
    // --key signed it: the log verifies with that key's verifier key.
    const verify = spawnSync(process.execPath, [cli, 'verify', chainDir, '--key', verifierKeyFile, '--no-progress'], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toContain('intact');
    expect(verify.status).toBe(0);
  });
});
