// `llmaudit verify` on what a log volume holds: `<root>/<namespace>/<pod>/` chain directories, one
// written by the real proxy (with response media in media/<sha256>.<ext>), two by the real log
// writer (one under a second key). The CLI program runs in-process on the real file system.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLog, type AuditLog } from '../sidecar/src/auditlog/index.ts';
import type { AppendResult, EntryPayload } from '../sidecar/src/auditlog/types.ts';
import { samplePayload, tempDir, testKeys, type TestKeys } from '../sidecar/src/auditlog/test-support.ts';
import { worstExit } from '../sidecar/src/auditlog/tree-verify.ts';
import type { TreeReport } from '../sidecar/src/auditlog/tree-verify.ts';
import { runCli } from '../sidecar/src/cli/program.ts';
import { startReplayUpstream } from './support/replay-upstream.ts';
import { startStack } from './proxy/harness.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function llmaudit(args: string[], tty = false): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stderrIsTTY: tty, env: {}, cwd: process.cwd() });
  return { code, stdout, stderr };
}

function png(fill: number): Buffer {
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(6000, fill)]);
}
const IMAGES = [png(1), png(2)];
const SHAS = IMAGES.map((b) => createHash('sha256').update(b).digest('hex'));

/** The real writer as the proxy's sink, counting what it appended. */
function countingSink(log: AuditLog): { append: (p: EntryPayload) => Promise<AppendResult>; count: (n: number) => Promise<void> } {
  let n = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    async append(p) {
      const r = await log.append(p);
      n++;
      for (const w of waiters) if (n >= w.n) w.resolve();
      return r;
    },
    count: (want) => (n >= want ? Promise.resolve() : new Promise((resolve) => waiters.push({ n: want, resolve }))),
  };
}

/** Two generated images and a chat answer through the real proxy into a real log with media. */
async function proxyChain(dir: string, keys: TestKeys, origin: string): Promise<void> {
  const up = await startReplayUpstream();
  up.script((req) => {
    if (req.url.endsWith('/images/generations')) {
      const img = req.body.toString().includes('blue') ? (IMAGES[1] as Buffer) : (IMAGES[0] as Buffer);
      return { headers: { 'content-type': 'application/json' }, frames: [JSON.stringify({ created: 1, data: [{ b64_json: img.toString('base64') }] })] };
    }
    return { headers: { 'content-type': 'application/json' }, frames: ['{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}'] };
  });
  const log = await openLog({ dir, origin, signerKey: keys.signerKey });
  const sink = countingSink(log);
  const s = await startStack({ config: { endpoints: [{ name: 'openai', upstream: up.url, api: 'openai' }], capture: { mediaThresholdBytes: 1024, mode: 'full' } }, sink, chainDir: dir });
  try {
    let sent = 0;
    // One at a time, each entry appended before the next request: seq 0 red, 1 chat, 2 blue.
    const post = async (p: string, body: unknown): Promise<void> => {
      const res = await fetch(`${s.base}/openai/v1/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.text();
      await sink.count(++sent);
    };
    await post('images/generations', { model: 'gpt-image-1', prompt: 'a red square' });
    await post('chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await post('images/generations', { model: 'gpt-image-1', prompt: 'a blue square' });
  } finally {
    await s.close();
    await up.close();
    await log.close();
  }
}

async function writerChain(dir: string, keys: TestKeys, origin: string, count: number, segmentMaxBytes?: number): Promise<void> {
  const log = await openLog({ dir, origin, signerKey: keys.signerKey, ...(segmentMaxBytes === undefined ? {} : { segmentMaxBytes }) });
  for (let i = 0; i < count; i++) await log.append(samplePayload(i));
  await log.close();
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let template: string;
let keyA: TestKeys;
let keyB: TestKeys;
let fresh = 0;

/** A private copy of the three-pod tree to change. */
async function tree(): Promise<string> {
  const root = path.join(tmp.dir, `pv-${++fresh}`);
  await cp(template, root, { recursive: true });
  return root;
}

/** Changes one value of the entry on `line` (1-based) of a segment without re-hashing it. */
async function tamper(seg: string, line: number): Promise<void> {
  const ls = (await readFile(seg, 'utf8')).split('\n');
  ls[line - 1] = (ls[line - 1] as string).replace('"model":"gpt-4o-mini"', '"model":"gpt-4o-maxi"');
  await writeFile(seg, ls.join('\n'));
}

beforeAll(async () => {
  tmp = await tempDir('llmaudit-verify-tree-');
  keyA = testKeys('llmaudit.dev/ns/key-a');
  keyB = testKeys('llmaudit.dev/ns/key-b');
  template = path.join(tmp.dir, 'template');
  await proxyChain(path.join(template, 'ns/pod-a'), keyA, 'llmaudit.dev/ns/pod-a/uid-a');
  await writerChain(path.join(template, 'ns/pod-b'), keyA, 'llmaudit.dev/ns/pod-b/uid-b', 12, 8000);
  await writerChain(path.join(template, 'ns/pod-c'), keyB, 'llmaudit.dev/ns/pod-c/uid-c', 5);
}, 60_000);
afterAll(async () => {
  await tmp.cleanup();
});

describe.concurrent('llmaudit verify on a tree of chains', { timeout: 60_000 }, () => {
  it('the proxy wrote the media files its entries reference', async () => {
    const files = (await readdir(path.join(template, 'ns/pod-a/media'))).sort();
    expect(files).toEqual(SHAS.map((s) => `${s}.png`).sort());
  });

  it('all intact, chains under two keys: one line per chain, the summary, exit 0', async () => {
    const root = await tree();
    const r = await llmaudit(['verify', root, '--key', keyA.verifierKey, '--key', keyB.verifierKey]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^ns\/pod-a {2}llmaudit\.dev\/ns\/pod-a\/uid-a {2}3 entries {2}checkpoint 3 @ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}intact \(0\)$/);
    expect(lines[1]).toMatch(/^ns\/pod-b {2}llmaudit\.dev\/ns\/pod-b\/uid-b {2}12 entries {2}checkpoint 12 @ .* {2}intact \(0\)$/);
    expect(lines[2]).toMatch(/^ns\/pod-c {2}llmaudit\.dev\/ns\/pod-c\/uid-c {2}5 entries {2}checkpoint 5 @ .* {2}intact \(0\)$/);
    expect(lines[3]).toBe('3 chains: 3 intact, 0 failed; 20 entries verified; exit 0 (intact)');
    expect(r.stderr).toBe('');
  });

  it('one chain tampered: its line says where, the others stay intact, exit 3; --json has one object per chain and the summary', async () => {
    const root = await tree();
    await tamper(path.join(root, 'ns/pod-b/seg-000001.jsonl'), 2);
    const keys = ['--key', keyA.verifierKey, '--key', keyB.verifierKey];
    const r = await llmaudit(['verify', root, ...keys]);
    expect(r.code).toBe(3);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^ns\/pod-a .* intact \(0\)$/);
    expect(lines[1]).toMatch(/^ns\/pod-b {2}llmaudit\.dev\/ns\/pod-b\/uid-b {2}1 entry verified {2}checkpoint 12 @ \S+ {2}tampered \(3 LLMAUDIT_E_ENTRY_TAMPERED\): seg-000001\.jsonl line 2 seq 1: the content does not match its hash$/);
    expect(lines[2]).toMatch(/^ns\/pod-c .* intact \(0\)$/);
    expect(lines[3]).toBe('3 chains: 2 intact, 1 failed (1 tampered); 9 entries verified; exit 3 (tampered)');
    expect(r.stderr).toMatch(/^llmaudit: LLMAUDIT_E_ENTRY_TAMPERED: 1 of 3 chains failed verification; the most severe: ns\/pod-b\n$/);

    const j = await llmaudit(['verify', root, ...keys, '--json']);
    expect(j.code).toBe(3);
    expect(j.stderr).toBe('');
    const report = JSON.parse(j.stdout) as TreeReport;
    expect(report.root).toBe(root);
    expect(report.chains.map((c) => [c.path, c.exit, c.origin])).toEqual([
      ['ns/pod-a', 0, 'llmaudit.dev/ns/pod-a/uid-a'],
      ['ns/pod-b', 3, 'llmaudit.dev/ns/pod-b/uid-b'],
      ['ns/pod-c', 0, 'llmaudit.dev/ns/pod-c/uid-c'],
    ]);
    expect(report.chains[1]?.failure).toMatchObject({ exit: 3, code: 'LLMAUDIT_E_ENTRY_TAMPERED', segment: 'seg-000001.jsonl', line: 2, seq: 1 });
    expect(report.chains[0]).toMatchObject({ ok: true, entries: 3, media: { files: 2, bytes: 12016, missing: 0 }, latestCheckpoint: { size: 3 } });
    expect(report.summary).toEqual({ chains: 3, intact: 2, failed: 1, byExit: { 0: 2, 3: 1 }, entries: 9, warnings: 0, exit: 3 });
  });

  it('exit is the most severe, not the largest: a wrong key (5) on one chain does not hide tampering (3) on another', async () => {
    const root = await tree();
    const intactWithoutB = await llmaudit(['verify', root, '--key', keyA.verifierKey, '--json']);
    expect(intactWithoutB.code).toBe(5); // pod-c is signed by key B
    expect((JSON.parse(intactWithoutB.stdout) as TreeReport).summary.byExit).toEqual({ 0: 2, 5: 1 });
    await tamper(path.join(root, 'ns/pod-a/seg-000001.jsonl'), 2);
    const r = await llmaudit(['verify', root, '--key', keyA.verifierKey]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('3 chains: 1 intact, 2 failed (1 tampered, 1 signature invalid or wrong key); 13 entries verified; exit 3 (tampered)');
    expect([worstExit([1, 3, 5]), worstExit([5, 4, 1]), worstExit([6, 2]), worstExit([0, 1]), worstExit([])]).toEqual([3, 5, 2, 1, 0]);
  });

  it('a directory with no chain at any depth is LLMAUDIT_E_VERIFY_NO_CHAIN (1)', async () => {
    const root = path.join(tmp.dir, 'empty');
    await mkdir(path.join(root, 'ns/pod-x/checkpoints'), { recursive: true });
    const r = await llmaudit(['verify', root, '--key', keyA.verifierKey]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`llmaudit: LLMAUDIT_E_VERIFY_NO_CHAIN: no chain directory (seg-NNNNNN.jsonl) in or under the directory: ${root}\n`);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a media file altered is tampering (3) naming the file and the seq, in a tree and in the chain directory', async () => {
    const root = await tree();
    const file = path.join(root, 'ns/pod-a/media', `${SHAS[1]}.png`);
    const bytes = await readFile(file);
    bytes[100] = 0x55;
    await writeFile(file, bytes);
    const one = await llmaudit(['verify', path.join(root, 'ns/pod-a'), '--key', keyA.verifierKey, '--json']);
    expect(one.code).toBe(3);
    const failure = (JSON.parse(one.stdout) as { failure: { code: string; seq: number; message: string } }).failure;
    expect(failure).toMatchObject({ code: 'LLMAUDIT_E_MEDIA_TAMPERED', seq: 2 });
    expect(failure.message).toContain(`media/${SHAS[1]}.png was altered`);
    const t = await llmaudit(['verify', root, '--key', keyA.verifierKey, '--key', keyB.verifierKey]);
    expect(t.code).toBe(3);
    expect(t.stdout).toMatch(new RegExp(`ns/pod-a .* tampered \\(3 LLMAUDIT_E_MEDIA_TAMPERED\\): seq 2: media/${SHAS[1]}\\.png was altered`));
  });

  it('a media file missing is a warning (0); with --strict-media LLMAUDIT_E_MEDIA_MISSING (2)', async () => {
    const root = await tree();
    const chain = path.join(root, 'ns/pod-a');
    await unlink(path.join(chain, 'media', `${SHAS[0]}.png`));
    const r = await llmaudit(['verify', chain, '--key', keyA.verifierKey]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`llmaudit: warning: seq 0: media/${SHAS[0]}.png is missing: the entry's media cannot be checked\n`);
    expect(r.stdout).toMatch(/^intact: 3 entries .*; 1 media file \(6008 bytes\) match their entries, 1 missing\n$/);
    const t = await llmaudit(['verify', root, '--key', keyA.verifierKey, '--key', keyB.verifierKey]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/ns\/pod-a .* intact \(0\), 1 media file missing, 1 warning\n/);
    expect(t.stdout).toContain('3 chains: 3 intact, 0 failed, 1 warning; 20 entries verified; exit 0 (intact)');
    const strict = await llmaudit(['verify', chain, '--key', keyA.verifierKey, '--strict-media']);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toBe(`llmaudit: LLMAUDIT_E_MEDIA_MISSING: seq 0: media/${SHAS[0]}.png is missing (--strict-media)\n`);
    const strictTree = await llmaudit(['verify', root, '--key', keyA.verifierKey, '--key', keyB.verifierKey, '--strict-media', '--json']);
    expect(strictTree.code).toBe(2);
    expect((JSON.parse(strictTree.stdout) as TreeReport).summary.byExit).toEqual({ 0: 2, 2: 1 });
  });

  it('discovery: any depth, a namespace named media, no symlinks out of the tree, no chain twice, nothing inside a chain\'s own subdirectories', async () => {
    const root = await tree();
    await cp(path.join(template, 'ns/pod-c'), path.join(root, 'media/deep/er/pod-d'), { recursive: true });
    // Outside the tree: a tampered chain reached only through a symlink.
    const outside = path.join(tmp.dir, `outside-${++fresh}`);
    await cp(path.join(template, 'ns/pod-b'), outside, { recursive: true });
    await tamper(path.join(outside, 'seg-000001.jsonl'), 1);
    await symlink(outside, path.join(root, 'escape'));
    await symlink(path.join(root, 'ns'), path.join(root, 'ns-alias')); // inside: each chain once
    await symlink(root, path.join(root, 'ns/loop'));
    // A segment-named file inside a chain's tile/ is not a chain.
    await mkdir(path.join(root, 'ns/pod-b/tile/x'), { recursive: true });
    await writeFile(path.join(root, 'ns/pod-b/tile/x/seg-000001.jsonl'), 'not a chain\n');
    const r = await llmaudit(['verify', root, '--key', keyA.verifierKey, '--key', keyB.verifierKey, '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as TreeReport).chains.map((c) => c.path)).toEqual(['media/deep/er/pod-d', 'ns/pod-a', 'ns/pod-b', 'ns/pod-c']);
  });

  it('progress bar on a terminal only, and never with --json; --since needs one chain', async () => {
    const root = await tree();
    const keys = ['--key', keyA.verifierKey, '--key', keyB.verifierKey];
    const tty = await llmaudit(['verify', root, ...keys], true);
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/\r\[#*\.*\] +\d+% chain 1\/3 ns\/pod-a/);
    expect(tty.stderr).toContain('\r\x1b[K');
    expect((await llmaudit(['verify', root, ...keys, '--json'], true)).stderr).toBe('');
    expect((await llmaudit(['verify', root, ...keys, '--no-progress'], true)).stderr).toBe('');
    const since = await llmaudit(['verify', root, ...keys, '--since', path.join(root, 'ns/pod-a/checkpoint')]);
    expect(since.code).toBe(1);
    expect(since.stderr).toMatch(/^llmaudit: LLMAUDIT_E_USAGE: .*--since applies to one chain/);
    await rm(root, { recursive: true, force: true });
  });
});
