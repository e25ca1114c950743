// The real `llmaudit proxy` CLI (the sidecar container's entry) as a child process: SIGTERM in the
// middle of a stream stops new connections, lets the stream finish, records its entry, seals a
// checkpoint and exits 0; the log then verifies with `llmaudit verify`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startReplayUpstream, type ReplayUpstream } from './support/replay-upstream.ts';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'sidecar/dist/llmaudit.mjs');

function sse(chunks: object[]): string[] {
  return [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
}
const chunk = (delta: object, finish: string | null = null) => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
const FRAMES = sse([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ', world' }), chunk({}, 'stop')]);

interface Child {
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
  waitFor(msg: string): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function startCli(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    const rec = JSON.parse(l) as Record<string, unknown>;
    lines.push(rec);
    for (const w of waiters.filter((x) => x.msg === rec.msg)) w.resolve(rec);
  });
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    stderr,
    exited,
    waitFor: (msg) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => l.msg === msg);
        if (seen !== undefined) return resolve(seen);
        waiters.push({ msg, resolve });
        void exited.then((code) => reject(new Error(`exited ${code} before "${msg}"; stderr: ${stderr.join('\n')}`)));
      }),
  };
}

describe('llmaudit proxy (the sidecar entry) shutdown', () => {
  let dir: string;
  let upstream: ReplayUpstream;
  let child: Child | null = null;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-shutdown-'));
    upstream = await startReplayUpstream({ headers: { 'content-type': 'text/event-stream' }, frames: FRAMES });
  });
  afterEach(async () => {
    if (child !== null && child.proc.exitCode === null) child.proc.kill('SIGKILL');
    child = null;
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM mid-stream: no new connections, the stream completes, its entry is recorded and the log verifies', async () => {
    child = startCli(['proxy', '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', dir]);
    const started = await child.waitFor('proxy started');
    const port = (started.listeners as Array<{ port: number }>)[0]!.port;
    const chainDir = started.chainDir as string;

    upstream.gate(2); // hold the stream after its first two frames
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-shutdown-test-secret-abcd', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);

    child.proc.kill('SIGTERM');
    await child.waitFor('shutdown requested');
    // Stop accepting: a new connection is refused while the old stream is still open.
    await expect(fetch(`http://127.0.0.1:${port}/v1/models`)).rejects.toThrow();

    upstream.release(2);
    let text = (first.value as OpenAI.Chat.Completions.ChatCompletionChunk).choices[0]?.delta.content ?? '';
    for (let r = await it.next(); r.done !== true; r = await it.next()) text += r.value.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello, world');
    expect(await child.exited).toBe(0);
    expect(child.lines.find((l) => l.msg === 'shut down: log sealed')).toMatchObject({ size: 1, clean: true });

    const segs = (await readdir(chainDir)).filter((n) => n.startsWith('seg-'));
    const entries = (await Promise.all(segs.map((s) => readFile(path.join(chainDir, s), 'utf8')))).join('').trim().split('\n').map((l) => JSON.parse(l));
    expect(entries).toHaveLength(1);
    expect(entries[0].response).toMatchObject({ status: 200, complete: true, streamed: true });
    expect(JSON.stringify(entries)).not.toContain('sk-shutdown-test-secret-abcd');
    const verify = spawnSync(process.execPath, [cli, 'verify', chainDir, '--key', path.join(dir, 'signing.vkey'), '--no-progress'], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toContain('intact');
    expect(verify.status).toBe(0);
  });

  it('a bad command line is one line with every problem and exit 1', async () => {
    child = startCli(['proxy', '--listen', 'nope', '--durability', 'sometimes', '--log-dir', dir]);
    expect(await child.exited).toBe(1);
    expect(child.stderr).toHaveLength(1);
    expect(child.stderr[0]).toMatch(/^llmaudit: LLMAUDIT_E_CONFIG_INVALID: configuration is invalid: 3 problems: /);
    expect(child.stderr[0]).toContain('--listen "nope": expected HOST:PORT');
    expect(child.stderr[0]).toContain('/log/durability: must be one of the allowed values');
    expect(child.stderr[0]).toContain('pass --upstream URL');
  });

  it('a second proxy on the same chain refuses to start (LLMAUDIT_E_LOG_LOCKED) and the first keeps running', async () => {
    const args = ['proxy', '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', dir];
    child = startCli(args);
    const started = await child.waitFor('proxy started');
    const second = startCli(args);
    expect(await second.exited).toBe(1);
    expect(second.stderr.join('\n')).toMatch(/^llmaudit: LLMAUDIT_E_LOG_LOCKED: /m);
    const admin = started.admin as { port: number };
    expect((await fetch(`http://127.0.0.1:${admin.port}/readyz`)).status).toBe(200);
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });

  it('in a pod: origin and chain directory come from the downward API, the key from the mounted file', async () => {
    const keygen = spawnSync(process.execPath, [cli, 'keygen', '--out', path.join(dir, 'keys'), '--name', 'llmaudit.dev/shop/policy', '--json'], { encoding: 'utf8' });
    expect(keygen.status).toBe(0);
    const { signerKeyFile } = JSON.parse(keygen.stdout) as { signerKeyFile: string };
    child = startCli(['proxy', '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-dir', dir, '--key', signerKeyFile], {
      POD_NAME: 'chat-5d8f7c9b6-x2x9k',
      POD_NAMESPACE: 'shop',
      POD_UID: '6a1f2c3d',
    });
    const started = await child.waitFor('proxy started');
    expect(started).toMatchObject({ mode: 'kubernetes', origin: 'llmaudit.dev/shop/chat-5d8f7c9b6-x2x9k/6a1f2c3d', chainDir: path.join(dir, 'shop', 'chat-5d8f7c9b6-x2x9k_6a1f2c3d') });
    child.proc.kill('SIGINT');
    expect(await child.exited).toBe(0);
  });
});
