// `llmaudit export` and the pack verifier on logs the real proxy wrote (test/auditing/proxy-log.ts):
// whole packs of a log volume, partial packs whose entries carry inclusion proofs and nothing else
// of the log, and tampered, truncated and foreign packs with the verifier's exit statuses.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract, pack as tarPack } from 'tar-stream';
import { samplePayload, tempDir, testKeys } from '../../sidecar/src/auditlog/test-support.ts';
import { openLog } from '../../sidecar/src/auditlog/index.ts';
import { verifyPack } from '../../sidecar/src/audit-tools/pack-verify.ts';
import { generateCosignerKey, parseCosignerKey } from '../../sidecar/src/auditlog/cosignature.ts';
import { appendCosignatures } from '../../sidecar/src/auditlog/checkpoint.ts';
import type { PackManifest } from '../../sidecar/src/audit-tools/pack-manifest.ts';
import type { Entry } from '../../sidecar/src/auditlog/types.ts';
import { runCli } from '../../sidecar/src/cli/program.ts';
import { recordLog, type RecordedLog } from './proxy-log.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let root: string;
let cleanup: () => Promise<void>;
let a: RecordedLog;
let b: RecordedLog;

async function llmaudit(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stderrIsTTY: false, env: {}, cwd: root });
  return { code, stdout, stderr };
}

/** Every member of a tar.gz, in memory. */
async function members(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.set(e.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(gunzipSync(await readFile(file)));
  await done;
  return out;
}

/** Writes `files` as a tar.gz (to build altered packs). */
async function writePack(file: string, files: Map<string, Buffer>): Promise<void> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const [name, data] of files) await new Promise<void>((res, rej) => p.entry({ name, size: data.length }, data, (e) => (e ? rej(e) : res())));
  p.finalize();
  await collected;
  await writeFile(file, gzipSync(Buffer.concat(chunks)));
}

function entriesOf(m: Map<string, Buffer>, name: string): Entry[] {
  return (m.get(name) as Buffer).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry);
}

const keysOf = (r: RecordedLog) => ({ keys: [r.keys.verifier], witnessKeys: [] });

beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir('llmaudit-export-'));
  const da = path.join(root, 'vol', 'prod', 'agent-a_0001');
  const db = path.join(root, 'vol', 'prod', 'agent-b_0002');
  await mkdir(da, { recursive: true });
  await mkdir(db, { recursive: true });
  // Small segments: chain a rolls over several times.
  a = await recordLog(da, { conversations: 4, plainChats: 2, notFound: 1, segmentMaxBytes: 6000, origin: 'llmaudit.dev/prod/agent-a/0001' });
  b = await recordLog(db, { conversations: 1, origin: 'llmaudit.dev/prod/agent-b/0002', keys: testKeys('llmaudit.dev/prod/agent-b/0002') });
}, 60_000);

afterAll(async () => cleanup());

describe('llmaudit export: whole chains', () => {
  it('packs every chain of a volume with a manifest of every file and its SHA-256, and a README with the commands', async () => {
    const r = await llmaudit('export', 'vol', '--out', 'full.tar.gz', '--key', a.vkeyFile, '--key', b.vkeyFile);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/prod\/agent-a_0001 {2}llmaudit.dev\/prod\/agent-a\/0001 {2}full {2}11 entries \(seq 0-10\) {2}checkpoint 11/);
    expect(r.stdout).toMatch(/wrote full.tar.gz: pack, 13 entries/);
    const m = await members(path.join(root, 'full.tar.gz'));
    const manifest = JSON.parse((m.get('manifest.json') as Buffer).toString('utf8')) as PackManifest;
    expect(manifest.format).toBe('llmaudit-pack/1');
    expect(manifest.partial).toBe(false);
    expect(manifest.tool.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.chains.map((c) => [c.path, c.entries, c.kind])).toEqual([
      ['prod/agent-a_0001', 11, 'full'],
      ['prod/agent-b_0002', 2, 'full'],
    ]);
    // Every file but the manifest is listed, with its real digest; a is in several segments.
    expect(manifest.files.map((f) => f.path).sort()).toEqual([...m.keys()].filter((n) => n !== 'manifest.json').sort());
    for (const f of manifest.files) expect(createHash('sha256').update(m.get(f.path) as Buffer).digest('hex'), f.path).toBe(f.sha256);
    expect([...m.keys()].filter((n) => /agent-a_0001\/seg-\d+\.jsonl$/.test(n)).length).toBeGreaterThan(2);
    expect([...m.keys()].some((n) => n.includes('/tile/'))).toBe(false);
    const readme = (m.get('README.md') as Buffer).toString('utf8');
    expect(readme).toContain('llmaudit verify THIS-PACK.tar.gz --key keys/1-');
    expect(readme).toContain('sha256sum -c');

    const report = await verifyPack(path.join(root, 'full.tar.gz'), { keys: [a.keys.verifier, b.keys.verifier], witnessKeys: [] });
    expect(report.chains.map((c) => [c.path, c.exit, c.entries])).toEqual([
      ['manifest.json', 0, 0],
      ['prod/agent-a_0001', 0, 11],
      ['prod/agent-b_0002', 0, 2],
    ]);
    expect(report.exit).toBe(0);
  });

  it('a pack verified with only one chain\'s key fails the other chain with exit 5', async () => {
    const report = await verifyPack(path.join(root, 'full.tar.gz'), keysOf(a));
    expect(report.chains.find((c) => c.path === 'prod/agent-b_0002')?.exit).toBe(5);
    expect(report.exit).toBe(5);
  });
});

describe('llmaudit export: partial packs', () => {
  it('--conversation carries only that conversation\'s entries, each with an inclusion proof, and verifies', async () => {
    const all = (await members(path.join(root, 'full.tar.gz')));
    const chainA = [...all.keys()].filter((n) => /agent-a_0001\/seg-/.test(n)).sort().flatMap((n) => entriesOf(all, n));
    const conv = chainA[2]?.trace.conversationId as string;
    const inConv = chainA.filter((e) => e.trace.conversationId === conv).map((e) => e.seq);
    expect(inConv.length).toBeGreaterThanOrEqual(2);
    const r = await llmaudit('export', 'vol', '--conversation', conv, '--out', 'conv.tar.gz', '--key', a.vkeyFile);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('partial pack');
    const m = await members(path.join(root, 'conv.tar.gz'));
    const names = [...m.keys()].sort();
    expect(names).toEqual(['README.md', 'chains/prod/agent-a_0001/checkpoints/000000000011', 'chains/prod/agent-a_0001/entries.jsonl', 'chains/prod/agent-a_0001/proofs.jsonl', expect.stringMatching(/^keys\/1-/), 'manifest.json']);
    const packed = entriesOf(m, 'chains/prod/agent-a_0001/entries.jsonl');
    expect(packed.map((e) => e.seq)).toEqual(inConv);
    // Nothing of any other exchange is in the pack: not its id, not its prompt (only the hash of
    // the entry just before the first one, as that entry's prevHash, which discloses nothing).
    const whole = Buffer.concat([...m.values()]).toString('utf8');
    const others = chainA.filter((x) => !inConv.includes(x.seq));
    expect(others.length).toBeGreaterThan(5);
    for (const e of others) {
      expect(whole.includes(e.id)).toBe(false);
      if (e.request.body !== null) expect(whole.includes(JSON.stringify(e.request.body)), `seq ${e.seq}`).toBe(false);
    }
    expect((m.get('README.md') as Buffer).toString('utf8')).toContain('without seeing\nany other exchange of the log');
    const report = await verifyPack(path.join(root, 'conv.tar.gz'), keysOf(a));
    expect(report.chains.map((c) => [c.path, c.kind, c.exit, c.entries])).toEqual([
      ['manifest.json', 'files', 0, 0],
      ['prod/agent-a_0001', 'partial', 0, inConv.length],
    ]);
  });

  it('--seq A-B --origin takes that range of one chain; --since/--until select by time', async () => {
    const r = await llmaudit('export', 'vol', '--origin', a.origin, '--seq', '3-6', '--out', 'seq.tar.gz');
    expect(r.code, r.stderr).toBe(0);
    const m = await members(path.join(root, 'seq.tar.gz'));
    expect(entriesOf(m, 'chains/prod/agent-a_0001/entries.jsonl').map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect([...m.keys()].some((n) => n.includes('agent-b'))).toBe(false);
    expect((await verifyPack(path.join(root, 'seq.tar.gz'), keysOf(a))).exit).toBe(0);

    const five = entriesOf(m, 'chains/prod/agent-a_0001/entries.jsonl')[2] as Entry;
    const t = await llmaudit('export', 'vol/prod/agent-a_0001', '--since', five.ts, '--until', new Date(Date.parse(five.ts) + 1).toISOString(), '--out', 'time.tar.gz', '--json');
    expect(t.code, t.stderr).toBe(0);
    const manifest = JSON.parse(t.stdout) as PackManifest;
    expect(manifest.chains[0]?.seqRanges[0]?.[0]).toBe(5);
    expect(manifest.selection).toEqual({ since: five.ts, until: new Date(Date.parse(five.ts) + 1).toISOString() });
  });

  it('the proofs read from the hash tiles equal those recomputed from the entries when the tiles are gone', async () => {
    // The recorded chain has 11 entries: no full tile, so write one of 300 to have tiles to read.
    const dir = path.join(root, 'tiles', 'big_0003');
    await mkdir(dir, { recursive: true });
    const keys = testKeys('llmaudit.dev/prod/big/0003');
    const log = await openLog({ dir, origin: 'llmaudit.dev/prod/big/0003', signerKey: keys.signerKey });
    for (let i = 0; i < 300; i++) await log.append(samplePayload(i, 10));
    await log.close();
    // One full level-0 tile, and the right edge of the checkpoint at 300 (256 + 44) as a partial tile.
    expect((await readdir(path.join(dir, 'tile', '0'))).sort()).toEqual(['000', '001.p']);
    expect((await llmaudit('export', 'tiles', '--seq', '250-259', '--out', 'tiled.tar.gz')).code).toBe(0);
    await rename(path.join(dir, 'tile'), path.join(root, 'tile-moved'));
    expect((await llmaudit('export', 'tiles', '--seq', '250-259', '--out', 'untiled.tar.gz')).code).toBe(0);
    const withTiles = await members(path.join(root, 'tiled.tar.gz'));
    const without = await members(path.join(root, 'untiled.tar.gz'));
    const proofs = 'chains/big_0003/proofs.jsonl';
    expect((withTiles.get(proofs) as Buffer).toString()).toBe((without.get(proofs) as Buffer).toString());
    expect((await verifyPack(path.join(root, 'tiled.tar.gz'), { keys: [keys.verifier], witnessKeys: [] })).exit).toBe(0);
  });

  it('a selection matching nothing is LLMAUDIT_E_EXPORT_EMPTY and writes no file; a bad --seq is a usage error', async () => {
    const r = await llmaudit('export', 'vol', '--conversation', 'no-such-conversation', '--out', 'none.tar.gz');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^llmaudit: LLMAUDIT_E_EXPORT_EMPTY: /);
    await expect(readFile(path.join(root, 'none.tar.gz'))).rejects.toMatchObject({ code: 'ENOENT' });
    const u = await llmaudit('export', 'vol', '--seq', '9-3', '--out', 'x.tar.gz');
    expect(u.stderr).toMatch(/LLMAUDIT_E_USAGE: .*--seq 9-3/);
  });
});

describe('pack verification failures', () => {
  it('an entry changed in a partial pack, manifest digest updated to match, fails its proof: exit 3', async () => {
    const m = await members(path.join(root, 'conv.tar.gz'));
    const name = 'chains/prod/agent-a_0001/entries.jsonl';
    const changed = Buffer.from((m.get(name) as Buffer).toString('utf8').replace('"status":200', '"status":201'), 'utf8');
    m.set(name, changed);
    const manifest = JSON.parse((m.get('manifest.json') as Buffer).toString('utf8')) as PackManifest;
    for (const f of manifest.files) if (f.path === name) Object.assign(f, { sha256: createHash('sha256').update(changed).digest('hex'), bytes: changed.length });
    m.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    await writePack(path.join(root, 'tampered.tar.gz'), m);
    const report = await verifyPack(path.join(root, 'tampered.tar.gz'), keysOf(a));
    expect(report.exit).toBe(3);
    expect(report.chains[1]?.failure?.code).toBe('LLMAUDIT_E_PROOF_INVALID');
  });

  it('a segment changed in a whole pack without touching the manifest: exit 3 for the file and the chain', async () => {
    const m = await members(path.join(root, 'full.tar.gz'));
    const name = [...m.keys()].find((n) => n.endsWith('agent-a_0001/seg-000001.jsonl')) as string;
    m.set(name, Buffer.from((m.get(name) as Buffer).toString('utf8').replace('Paris', 'Parus'), 'utf8'));
    await writePack(path.join(root, 'tampered-full.tar.gz'), m);
    const report = await verifyPack(path.join(root, 'tampered-full.tar.gz'), { keys: [a.keys.verifier, b.keys.verifier], witnessKeys: [] });
    expect(report.chains[0]?.failure?.code).toBe('LLMAUDIT_E_PACK_TAMPERED');
    expect(report.chains[1]?.exit).toBe(3);
    expect(report.exit).toBe(3);
  });

  it('a file missing is exit 2, a truncated pack exit 4, a member escaping the pack exit 4', async () => {
    const m = await members(path.join(root, 'seq.tar.gz'));
    m.delete('chains/prod/agent-a_0001/proofs.jsonl');
    await writePack(path.join(root, 'missing.tar.gz'), m);
    const missing = await verifyPack(path.join(root, 'missing.tar.gz'), keysOf(a));
    expect(missing.chains[0]?.failure?.code).toBe('LLMAUDIT_E_PACK_INCOMPLETE');
    expect(missing.exit).toBe(2);

    const whole = await readFile(path.join(root, 'seq.tar.gz'));
    await writeFile(path.join(root, 'cut.tar.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(verifyPack(path.join(root, 'cut.tar.gz'), keysOf(a))).rejects.toMatchObject({ code: 'LLMAUDIT_E_PACK_INVALID', exitCode: 4 });

    await writePack(path.join(root, 'evil.tar.gz'), new Map([['../outside.txt', Buffer.from('x')]]));
    await expect(verifyPack(path.join(root, 'evil.tar.gz'), keysOf(a))).rejects.toMatchObject({ code: 'LLMAUDIT_E_PACK_INVALID' });
    await expect(readFile(path.join(root, '..', 'outside.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('verified with another key: exit 5', async () => {
    const other = testKeys('llmaudit.dev/prod/agent-a/0001');
    const report = await verifyPack(path.join(root, 'conv.tar.gz'), { keys: [other.verifier], witnessKeys: [] });
    expect(report.exit).toBe(5);
  });
});

describe('llmaudit verify PACK (the CLI)', () => {
  it('verifies a whole pack and a partial pack in place: one line per part, a summary, exit 0', async () => {
    const full = await llmaudit('verify', 'full.tar.gz', '--key', a.vkeyFile, '--key', b.vkeyFile);
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^manifest\.json {6}manifest: every file listed with its SHA-256 {2}intact \(0\)$/m);
    expect(full.stdout).toMatch(/^prod\/agent-a_0001 {2}llmaudit.dev\/prod\/agent-a\/0001 {2}full {2}11 entries {2}intact \(0\)$/m);
    expect(full.stdout).toMatch(/^pack: 2 chains, 13 entries verified, \d+ files; exit 0 \(intact\)$/m);
    const part = await llmaudit('verify', 'seq.tar.gz', '--key', a.vkeyFile, '--json');
    expect(part.code).toBe(0);
    expect(JSON.parse(part.stdout)).toMatchObject({ ok: true, exit: 0, manifest: { partial: true }, chains: [{ kind: 'files' }, { kind: 'partial', entries: 4, exit: 0 }] });
  });

  it('a tampered pack exits 3 with the code on stderr; a wrong key 5; --since is refused for a pack', async () => {
    const t = await llmaudit('verify', 'tampered.tar.gz', '--key', a.vkeyFile);
    expect(t.code).toBe(3);
    expect(t.stdout).toMatch(/prod\/agent-a_0001 .*tampered \(3 LLMAUDIT_E_PROOF_INVALID\)/);
    expect(t.stderr).toMatch(/^llmaudit: LLMAUDIT_E_PROOF_INVALID: /);
    expect((await llmaudit('verify', 'conv.tar.gz', '--key', b.vkeyFile)).code).toBe(5);
    const since = await llmaudit('verify', 'conv.tar.gz', '--key', a.vkeyFile, '--since', 'x');
    expect(since.stderr).toMatch(/LLMAUDIT_E_USAGE: .*--since/);
  });

  it('a checkpoint a witness cosigned travels in the pack with its cosignature; --witness-key checks it (another witness: exit 5)', async () => {
    const witness = generateCosignerKey('witness.example/prod');
    const cosigner = parseCosignerKey(witness.signerKey);
    const name = path.join(a.dir, 'checkpoints', '000000000011');
    const note = await readFile(name, 'utf8');
    const cosigned = appendCosignatures(note, [cosigner.cosign(note.slice(0, note.indexOf('\n\n') + 1), 1_790_000_000)]);
    await writeFile(name, cosigned);
    await writeFile(path.join(a.dir, 'checkpoint'), cosigned);
    await writeFile(path.join(root, 'w.vkey'), `${witness.verifierKey}\n`);
    const e = await llmaudit('export', 'vol', '--origin', a.origin, '--seq', '1-2', '--out', 'witnessed.tar.gz', '--key', a.vkeyFile, '--witness-key', 'w.vkey');
    expect(e.code, e.stderr).toBe(0);
    const m = await members(path.join(root, 'witnessed.tar.gz'));
    expect((m.get('chains/prod/agent-a_0001/checkpoints/000000000011') as Buffer).toString('utf8')).toBe(cosigned);
    expect([...m.keys()]).toContain('keys/2-witness.example_prod.witness.vkey');
    const v = await llmaudit('verify', 'witnessed.tar.gz', '--key', a.vkeyFile, '--witness-key', 'w.vkey');
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('witnessed by witness.example/prod @ 2026-09-21T');
    const other = generateCosignerKey('witness.example/other');
    const w = await llmaudit('verify', 'witnessed.tar.gz', '--key', a.vkeyFile, '--witness-key', other.verifierKey);
    expect(w.code).toBe(5);
  });
});

afterAll(async () => {
  await rm(path.join(root, 'none.tar.gz'), { force: true });
});
