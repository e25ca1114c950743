// The real built CLI (sidecar/bin/llmaudit.mjs → dist, rebuilt by the vitest global setup) on logs
// written by the real writer: happy paths, and bad input giving one line `llmaudit: CODE: message`
// with a stable exit status and no stack trace.
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, testKeys, writeLog, type TestKeys } from '../auditlog/test-support.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/llmaudit.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function llmaudit(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

function expectOneLineError(r: Run, code: string, exit: number): void {
  expect(r.code).toBe(exit);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^llmaudit: ${code}: `));
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: TestKeys;
let log: string;
let vkeyFile: string;

beforeAll(async () => {
  tmp = await tempDir('llmaudit-cli-');
  keys = testKeys();
  log = path.join(tmp.dir, 'log');
  await writeLog(log, keys, 12, { segmentMaxBytes: 8000 });
  vkeyFile = path.join(tmp.dir, 'test.vkey');
  await writeFile(vkeyFile, `${keys.verifierKey}\n`);
});
afterAll(async () => {
  await tmp.cleanup();
});

describe.concurrent('llmaudit CLI', { timeout: 60_000 }, () => {
  it('--help lists the commands', async () => {
    const r = await llmaudit('--help');
    expect(r.code).toBe(0);
    for (const c of ['keygen', 'verify', 'prove', 'verify-proof', 'checkpoint']) expect(r.stdout).toContain(c);
  });

  it('keygen writes NAME.key (0600) and NAME.vkey; the pair signs and verifies a log', async () => {
    const out = path.join(tmp.dir, 'keys');
    const r = await llmaudit('keygen', '--out', out, '--name', 'llmaudit.dev/ns/policy', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { signerKeyFile: string; verifierKeyFile: string; verifierKey: string };
    expect((await stat(info.signerKeyFile)).mode & 0o777).toBe(0o600);
    expect((await readFile(info.verifierKeyFile, 'utf8')).trim()).toBe(info.verifierKey);
    expect(info.verifierKey).toMatch(/^llmaudit\.dev\/ns\/policy\+[0-9a-f]{8}\+/);
    const again = await llmaudit('keygen', '--out', out, '--name', 'llmaudit.dev/ns/policy');
    expectOneLineError(again, 'LLMAUDIT_E_USAGE', 1); // never overwrites a key
  });

  it('verify: intact log exits 0; --json has the report; the key can be given as text', async () => {
    const r = await llmaudit('verify', log, '--key', vkeyFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^intact: 12 entries/);
    const j = await llmaudit('verify', log, '--key', keys.verifierKey, '--json');
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, exit: 0, entries: 12, failure: null });
    expect(j.stderr).toBe(''); // no progress bar off a terminal
  });

  it('prove --json → verify-proof: valid (0); the tlog-proof text too; checkpoint prints the note', async () => {
    const p = await llmaudit('prove', log, '--seq', '5', '--json');
    expect(p.code).toBe(0);
    const b = JSON.parse(p.stdout) as Record<string, unknown>;
    for (const k of ['index', 'entry', 'entryHash', 'treeSize', 'rootHash', 'inclusionProof', 'checkpoint', 'tlogProof']) expect(b).toHaveProperty(k);
    expect(b.index).toBe(5);
    expect(b.entryHash).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(tmp.dir, 'p5.json');
    await writeFile(file, p.stdout);
    const v = await llmaudit('verify-proof', file, '--key', vkeyFile);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('valid');
    const t = await llmaudit('prove', log, '--seq', '5', '--tlog-proof');
    const tfile = path.join(tmp.dir, 'p5.tlog-proof');
    await writeFile(tfile, t.stdout);
    expect(t.stdout.split('\n')[0]).toBe('c2sp.org/tlog-proof@v1');
    expect((await llmaudit('verify-proof', tfile, '--key', vkeyFile)).code).toBe(0);
    const c = await llmaudit('checkpoint', log);
    expect(c.code).toBe(0);
    expect(c.stdout).toBe(await readFile(path.join(log, 'checkpoint'), 'utf8'));
  });

  it('bad input: a missing directory is a file error (1)', async () => {
    expectOneLineError(await llmaudit('verify', path.join(tmp.dir, 'nope'), '--key', vkeyFile), 'LLMAUDIT_E_VERIFY_FILE', 1);
    expectOneLineError(await llmaudit('prove', path.join(tmp.dir, 'nope'), '--seq', '0'), 'LLMAUDIT_E_VERIFY_FILE', 1);
  });

  it('bad input: a key in the wrong format (1); a well-formed key of someone else (5)', async () => {
    const bad = path.join(tmp.dir, 'bad.vkey');
    await writeFile(bad, 'this is not a key\n');
    expectOneLineError(await llmaudit('verify', log, '--key', bad), 'LLMAUDIT_E_KEY_INVALID', 1);
    expectOneLineError(await llmaudit('verify', log, '--key', 'name+zzzz+AAAA'), 'LLMAUDIT_E_KEY_INVALID', 1);
    expectOneLineError(await llmaudit('verify', log, '--key', testKeys().verifierKey), 'LLMAUDIT_E_VERIFY_SIGNATURE', 5);
  });

  it('bad input: a non-JSON line is a parse error (4) naming segment and line', async () => {
    const dir = path.join(tmp.dir, 'nonjson');
    await writeLog(dir, keys, 3);
    const seg = path.join(dir, 'seg-000001.jsonl');
    const ls = (await readFile(seg, 'utf8')).split('\n');
    ls[1] = 'not json at all';
    await writeFile(seg, ls.join('\n'));
    const r = await llmaudit('verify', dir, '--key', vkeyFile);
    expectOneLineError(r, 'LLMAUDIT_E_LOG_PARSE', 4);
    expect(r.stderr).toContain('seg-000001.jsonl line 2');
    const j = await llmaudit('verify', dir, '--key', vkeyFile, '--json');
    expect(j.code).toBe(4);
    expect(JSON.parse(j.stdout).failure).toMatchObject({ exit: 4, segment: 'seg-000001.jsonl', line: 2 });
  });

  it('bad input: a truncated proof file is a parse error (4); a proof of a changed entry fails (3)', async () => {
    const p = await llmaudit('prove', log, '--seq', '2', '--json');
    const file = path.join(tmp.dir, 'trunc.json');
    await writeFile(file, p.stdout.slice(0, p.stdout.length / 2));
    expectOneLineError(await llmaudit('verify-proof', file, '--key', vkeyFile), 'LLMAUDIT_E_LOG_PARSE', 4);
    const t = await llmaudit('prove', log, '--seq', '2', '--tlog-proof');
    await writeFile(file, t.stdout.split('\n').slice(0, 4).join('\n'));
    expectOneLineError(await llmaudit('verify-proof', file, '--key', vkeyFile), 'LLMAUDIT_E_LOG_PARSE', 4);
    const b = JSON.parse(p.stdout) as { entry: Record<string, unknown> };
    b.entry.model = 'changed';
    await writeFile(file, JSON.stringify(b));
    expectOneLineError(await llmaudit('verify-proof', file, '--key', vkeyFile), 'LLMAUDIT_E_PROOF_INVALID', 3);
    expectOneLineError(await llmaudit('verify-proof', path.join(tmp.dir, 'none.json'), '--key', vkeyFile), 'LLMAUDIT_E_VERIFY_FILE', 1);
  });

  it('bad usage: a missing option is LLMAUDIT_E_USAGE (1); --debug adds the stack', async () => {
    expectOneLineError(await llmaudit('prove', log), 'LLMAUDIT_E_USAGE', 1);
    expectOneLineError(await llmaudit('verify', log), 'LLMAUDIT_E_USAGE', 1);
    const d = await llmaudit('--debug', 'prove', log, '--seq', '999');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^llmaudit: LLMAUDIT_E_LOG_NOT_FOUND: /);
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it('verify --since a checkpoint from a longer log: inconsistent (6)', async () => {
    const dir = path.join(tmp.dir, 'short');
    await writeLog(dir, keys, 3);
    const newer = path.join(log, 'checkpoints', (await readdir(path.join(log, 'checkpoints'))).sort().at(-1) as string);
    // Same key and origin, but this log never had those 12 entries: it is inconsistent with it.
    const r = await llmaudit('verify', dir, '--key', vkeyFile, '--since', newer);
    expectOneLineError(r, 'LLMAUDIT_E_CHECKPOINT_INCONSISTENT', 6);
  });
});
