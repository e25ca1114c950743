// Retention mode delete-segments on logs the real writer wrote: the oldest sealed segments are
// deleted after a signed prune record; the log verifies from the cut, proofs of kept entries and
// consistency proofs from old checkpoints still verify, a pack exported before still verifies, the
// writer reopens and continues the pruned chain; a forged or altered record, or one more deleted
// segment, fails verification.
import { createHash } from 'node:crypto';
import { access, appendFile, cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { openLog, type AuditLog } from '../auditlog/log-writer.ts';
import { openLogReader } from '../auditlog/log-reader.ts';
import { openLogInThread } from '../auditlog/log-thread.ts';
import { verifyLog } from '../auditlog/verifier.ts';
import { verifyConsistencyBundle, verifyProofBundle } from '../auditlog/proof-bundle.ts';
import { listCheckpoints, listSegments } from '../auditlog/layout.ts';
import { parseSignerKey } from '../auditlog/signed-note.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from '../auditlog/test-support.ts';
import { exportPack } from '../audit-tools/export-pack.ts';
import { verifyPack } from '../audit-tools/pack-verify.ts';
import { runCli } from '../cli/program.ts';
import { createRetentionMetrics, pruneRetention, startRetention } from './sweep.ts';
import { buildEntry } from '../auditlog/entry.ts';
import { TileStore } from '../auditlog/tiles.ts';
import type { Entry, EntryPayload } from '../auditlog/types.ts';
import type { PruneRecord } from './prune.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const keys = testKeys();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

/** 600 entries on day 0 and 100 on day 40, ~60 per 60 KB segment (12 segments); the clock then reads `at`. */
async function agedLog(): Promise<{ dir: string; root: string; log: AuditLog; clock: { now: number } }> {
  const tmp = await tempDir('llmaudit-prune-');
  cleanups.push(tmp.cleanup);
  const dir = path.join(tmp.dir, 'chain');
  const clock = { now: T0 };
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000, now: () => clock.now });
  cleanups.push(() => log.close());
  for (let i = 0; i < 600; i++) await log.append(samplePayload(i, 20));
  await log.seal();
  clock.now = T0 + 40 * DAY;
  for (let i = 600; i < 700; i++) await log.append(samplePayload(i, 20));
  await log.checkpoint();
  return { dir, root: tmp.dir, log, clock };
}

async function entries(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const s of await listSegments(dir)) {
    for (const l of (await readFile(s.path, 'utf8')).split('\n')) if (l !== '') out.push(JSON.parse(l) as Entry);
  }
  return out;
}

const verify = (dir: string): ReturnType<typeof verifyLog> => verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });

describe('retention mode delete-segments', () => {
  it('maxAgeDays: deletes the day-0 segments up to the last full tile, after a signed prune record; verifies from the cut', async () => {
    const { dir, log, clock } = await agedLog();
    const before = await listSegments(dir);
    clock.now = T0 + 45 * DAY;
    const r = await pruneRetention(log, { maxAgeDays: 30, mode: 'delete-segments' }, { now: () => clock.now });
    // The cut is the start of a segment, at most 512 (the last full tile of 700 entries).
    expect(r.firstKept).toBeGreaterThan(256);
    expect(r.firstKept).toBeLessThanOrEqual(512);
    expect(r.segmentsDeleted).toBeGreaterThan(4);
    expect(r.entriesDeleted).toBe(r.firstKept);
    const after = await listSegments(dir);
    expect(after[0]?.number).toBe((before[0]?.number ?? 0) + r.segmentsDeleted);
    const es = await entries(dir);
    expect(es[0]?.seq).toBe(r.firstKept);
    const rec = es.find((e) => e.seq === r.recordSeq) as unknown as PruneRecord & Entry;
    expect(rec.kind).toBe('prune');
    expect(rec.prune).toMatchObject({ reason: 'retention', by: 'llmaudit retention', firstKept: r.firstKept, treeSize: r.firstKept, prevHash: es[0]?.prevHash, entries: [0, (r.firstKept as number) - 1], segments: [1, r.segmentsDeleted] });
    // Day-40 entries all kept.
    expect(es.filter((e) => e.kind === undefined).at(-1)?.seq).toBe(699);
    await log.close();
    const v = await verify(dir);
    expect(v.failure).toBeNull();
    expect(v.from).toBe(r.firstKept);
    expect(v.pruned).toEqual({ records: [r.recordSeq], recordSeq: r.recordSeq, firstSeq: r.firstKept });
    expect(v.checkpointsChecked).toBeGreaterThan(5);
    expect(v.warnings).toEqual([]);
  });

  it('maxTotalBytes: deletes the oldest sealed segments; the writer reopens the pruned chain and continues it', async () => {
    const { dir, log } = await agedLog();
    const r = await pruneRetention(log, { maxTotalBytes: 300_000, mode: 'delete-segments' });
    expect(r.segmentsDeleted).toBeGreaterThan(0);
    expect(r.bytesFreed).toBeGreaterThan(200_000);
    await log.close();
    const again = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000 });
    cleanups.push(() => again.close());
    expect(again.size).toBe(701);
    for (let i = 0; i < 300; i++) await again.append(samplePayload(700 + i, 20));
    // A second prune on the pruned log: a second record, the log starts at the new cut.
    const r2 = await pruneRetention(again, { maxTotalBytes: 300_000, mode: 'delete-segments' });
    expect(r2.firstKept).toBeGreaterThan(r.firstKept as number);
    await again.close();
    const v = await verify(dir);
    expect(v.failure).toBeNull();
    expect(v.from).toBe(r2.firstKept);
    expect(v.pruned?.recordSeq).toBe(r2.recordSeq);
    expect(v.pruned?.records).toContain(r2.recordSeq);
  });

  it('a log written without entry signatures: the prune record is authenticated by the checkpoint of the seal after it', async () => {
    const tmp = await tempDir('llmaudit-prune-unsigned-');
    cleanups.push(tmp.cleanup);
    const log = await openLog({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000, signEntries: false });
    cleanups.push(() => log.close());
    for (let i = 0; i < 600; i++) await log.append(samplePayload(i, 20));
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    expect(r.segmentsDeleted).toBeGreaterThan(0);
    const rec = (await entries(tmp.dir)).find((e) => e.seq === r.recordSeq);
    expect(rec?.sig).toBeUndefined();
    await log.close();
    const v = await verify(tmp.dir);
    expect(v.failure).toBeNull();
    expect(v.from).toBe(r.firstKept);
  });

  // Regression: finishing an interrupted prune deleted segments before a checkpoint covered its unsigned record (verify exit 3).
  it('without entry signatures, a prune stopped right after its record: verifies (the record not yet authenticated is a warning), and the next prune covers it by a checkpoint before it deletes', async () => {
    const tmp = await tempDir('llmaudit-prune-stopped-');
    cleanups.push(tmp.cleanup);
    const log = await openLog({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000, signEntries: false });
    cleanups.push(() => log.close());
    for (let i = 0; i < 600; i++) await log.append(samplePayload(i, 20));
    const stop = new Error('stopped after the record');
    await expect(
      pruneRetention(log, {
        maxTotalBytes: 1,
        mode: 'delete-segments',
      }, {
        onStep: (step) => {
          if (step === 'recorded') throw stop;
        },
      }),
    ).rejects.toBe(stop);
    const mid = await verify(tmp.dir);
    expect(mid.failure).toBeNull();
    expect(mid.warnings.join(' ')).toContain('not authenticated');
    expect(mid.warnings.join(' ')).toContain('is incomplete');
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    expect(r.segmentsDeleted).toBeGreaterThan(0);
    // Verified while the writer is still open: the checkpoint the prune signed covers the record.
    const v = await verify(tmp.dir);
    expect(v.failure).toBeNull();
    expect(v.from).toBeGreaterThan(0);
  });

  it('a chain in entry format v1 (whose content cannot be erased) is pruned all the same', async () => {
    const tmp = await tempDir('llmaudit-prune-v1-');
    cleanups.push(tmp.cleanup);
    const log = await openLog({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000, formatVersion: 1 });
    cleanups.push(() => log.close());
    for (let i = 0; i < 600; i++) await log.append(samplePayload(i, 20));
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    expect(r.segmentsDeleted).toBeGreaterThan(0);
    await log.close();
    const es = await entries(tmp.dir);
    expect(es.every((e) => e.v === 1)).toBe(true);
    const v = await verify(tmp.dir);
    expect(v.failure).toBeNull();
    expect(v.from).toBe(r.firstKept);
  });

  it('through the writer on its own thread (as the sidecar runs it): prunes, and proves a kept entry live', async () => {
    const tmp = await tempDir('llmaudit-prune-thread-');
    cleanups.push(tmp.cleanup);
    const log = await openLogInThread({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000 });
    cleanups.push(() => log.close());
    for (let i = 0; i < 600; i++) await log.append(samplePayload(i, 20));
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    expect(r.segmentsDeleted).toBeGreaterThan(0);
    const kept = (r.firstKept as number) + 1;
    expect(verifyProofBundle(await log.inclusionProof(kept), [keys.verifier]).entry.seq).toBe(kept);
    await log.append(samplePayload(600, 20));
    await log.close();
    const v = await verify(tmp.dir);
    expect(v.failure).toBeNull();
    expect(v.from).toBe(r.firstKept);
  });

  it('a kept entry proves against the newest checkpoint, live and from disk; an old checkpoint is consistent with the new one', async () => {
    const { dir, log } = await agedLog();
    const old = (await listCheckpoints(dir))[1];
    const oldNote = await readFile(old?.path as string, 'utf8');
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    const kept = (r.firstKept as number) + 3;
    // The live writer: its segment list predates the prune.
    const live = await log.inclusionProof(kept);
    expect(verifyProofBundle(live, [keys.verifier]).entry.seq).toBe(kept);
    expect(verifyConsistencyBundle(oldNote, await log.consistencyProof(old?.size as number), [keys.verifier])).toBe(true);
    await log.close();
    const reader = await openLogReader(dir);
    const b = await reader.prove(kept);
    expect(verifyProofBundle(b, [keys.verifier]).entry.seq).toBe(kept);
    await expect(reader.prove(3)).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_NOT_FOUND' });
    // --since an old checkpoint (below the cut): checked by a consistency proof from the tiles.
    const v = await verifyLog(dir, { keys: [keys.verifier], since: oldNote });
    expect(v.failure).toBeNull();
    expect(v.since?.size).toBe(old?.size);
  });

  it('an audit pack exported before the prune still verifies; one exported after it verifies from the cut', async () => {
    const { dir, root, log } = await agedLog();
    await log.close();
    const pack = path.join(root, 'before.tar.gz');
    await exportPack({ source: dir, out: pack, selection: {}, keys: [{ text: keys.verifierKey, name: TEST_ORIGIN, kind: 'log' }] });
    const again = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    cleanups.push(() => again.close());
    expect((await pruneRetention(again, { maxTotalBytes: 1, mode: 'delete-segments' })).segmentsDeleted).toBeGreaterThan(0);
    await again.close();
    const report = await verifyPack(pack, { keys: [keys.verifier], witnessKeys: [] });
    expect(report.exit).toBe(0);
    // A pack of the pruned chain carries its hash tiles and verifies from the cut.
    const after = path.join(root, 'after.tar.gz');
    await exportPack({ source: dir, out: after, selection: {}, keys: [{ text: keys.verifierKey, name: TEST_ORIGIN, kind: 'log' }] });
    const a = await verifyPack(after, { keys: [keys.verifier], witnessKeys: [] });
    expect(a.chains.map((c) => [c.kind, c.exit, c.failure?.message ?? null])).toEqual([['files', 0, null], ['full', 0, null]]);
  });

  it('tampering after a prune: an altered, forged or foreign-signed record is tampering (3); one more deleted segment, or deleting without a record, is a broken chain (2)', async () => {
    const { dir, root, log } = await agedLog();
    // A log pruned by hand, without a record: missing leading segments stay an error.
    const bare0 = path.join(root, 'bare0');
    await log.flush();
    await cp(dir, bare0, { recursive: true });
    const bare = path.join(root, 'bare');
    await cp(dir, bare, { recursive: true });
    await rm((await listSegments(bare))[0]?.path as string);
    const b = await verify(bare);
    expect(b.exit).toBe(2);
    expect(b.failure).toMatchObject({ code: 'LLMAUDIT_E_CHAIN_BROKEN', segment: 'seg-000002.jsonl' });
    expect(b.failure?.message).toContain('no prune record');

    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    await log.close();
    expect((await verify(dir)).exit).toBe(0);
    const copy = async (name: string): Promise<string> => {
      const d = path.join(root, name);
      await cp(dir, d, { recursive: true });
      return d;
    };
    const editRecord = async (d: string, edit: (e: Record<string, unknown>) => void): Promise<void> => {
      for (const s of await listSegments(d)) {
        const lines = (await readFile(s.path, 'utf8')).split('\n');
        const i = lines.findIndex((l) => l.includes('"kind":"prune"'));
        if (i === -1) continue;
        const e = JSON.parse(lines[i] as string) as Record<string, unknown>;
        edit(e);
        lines[i] = JSON.stringify(e);
        await writeFile(s.path, lines.join('\n'));
      }
    };

    const altered = await copy('altered');
    await editRecord(altered, (e) => ((e.prune as { firstKept: number }).firstKept -= 1));
    expect((await verify(altered)).exit).toBe(3);

    // Without its signature the record is still covered by the checkpoint of the seal after it.
    const unsigned = await copy('unsigned');
    await editRecord(unsigned, (e) => delete e.sig);
    expect((await verifyLog(unsigned, { keys: [keys.verifier] })).exit).toBe(0);

    // A record made up without the key, chained at the end of a log pruned by hand: not authenticated.
    const forged = path.join(root, 'forged');
    await cp(bare0, forged, { recursive: true });
    const segs = await listSegments(forged);
    const tail = (await readFile((segs.at(-1) as { path: string }).path, 'utf8')).trimEnd().split('\n');
    const last = JSON.parse(tail.at(-1) as string) as Entry;
    const cut = (JSON.parse((await readFile((segs[1] as { path: string }).path, 'utf8')).split('\n')[0] as string) as Entry);
    const tilesOf = await TileStore.open(forged, { readOnly: true });
    const fake = { kind: 'prune', prune: { at: last.ts, reason: 'retention', by: 'llmaudit retention', firstKept: cut.seq, treeSize: cut.seq, rootHash: (await tilesOf.root(cut.seq)).toString('base64'), prevHash: cut.prevHash, segments: [1, 1], entries: [0, cut.seq - 1], bytes: 0, media: { files: 0, bytes: 0 } } };
    const line = buildEntry(fake as unknown as EntryPayload, { seq: last.seq + 1, ts: last.ts, origin: last.origin, prevHash: last.hash }, null).line;
    await appendFile((segs.at(-1) as { path: string }).path, line);
    await rm((segs[0] as { path: string }).path);
    const f = await verifyLog(forged, { keys: [keys.verifier] });
    expect(f.exit).toBe(3);
    expect(f.failure?.message).toContain('not authenticated');

    const foreign = await copy('foreign');
    const other = parseSignerKey(testKeys().signerKey);
    await editRecord(foreign, (e) => (e.sig = Buffer.from(other.sign(Buffer.from(e.hash as string, 'hex'))).toString('base64')));
    expect((await verifyLog(foreign, { keys: [keys.verifier] })).exit).toBe(3);

    const oneMore = await copy('one-more');
    await rm((await listSegments(oneMore))[0]?.path as string);
    const m = await verify(oneMore);
    expect(m.exit).toBe(2);
    expect(m.failure?.message).toContain('the log starts at seq');

    // The tiles are evidence now: a changed tile below the cut fails (3).
    // Nor can the tiles be thrown away: the writer refuses a pruned chain without them.
    const noTiles = await copy('no-tiles');
    await rm(path.join(noTiles, 'tile'), { recursive: true });
    await rm(path.join(noTiles, 'LOCK'), { force: true });
    expect((await verify(noTiles)).exit).toBe(2);
    await expect(openLog({ dir: noTiles, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_CORRUPT' });

    const tiles = await copy('tiles');
    const t0 = path.join(tiles, 'tile', '0', '000');
    const bytes = await readFile(t0);
    bytes[5] = (bytes[5] as number) ^ 1;
    await writeFile(t0, bytes);
    expect((await verify(tiles)).exit).toBe(3);
    expect(r.recordSeq).not.toBeNull();
  });

  it('verify --from-seq starts at a seq of an unpruned log, checking the tree there by the checkpoints', async () => {
    const { dir, log } = await agedLog();
    await log.close();
    const v = await verifyLog(dir, { keys: [keys.verifier], fromSeq: 300 });
    expect(v.failure).toBeNull();
    expect(v.from).toBe(300);
    expect(v.entries).toBe(700);
    // Past the tiles' reach (512, the last full tile): from there.
    const late = await verifyLog(dir, { keys: [keys.verifier], fromSeq: 600 });
    expect(late.failure).toBeNull();
    expect(late.from).toBe(512);
  });

  it('the scheduled sweep in mode delete-segments counts segments, entries and bytes and logs one line', async () => {
    const { dir, log } = await agedLog();
    const registry = new Registry();
    const lines: Array<{ obj: object; msg: string }> = [];
    const r = startRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' }, { metrics: createRetentionMetrics(registry), logger: { info: (obj, msg) => lines.push({ obj, msg }), error: (obj, msg) => lines.push({ obj, msg }) } });
    await r.idle();
    await r.stop();
    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string): number => metrics.find((m) => m.name === name)?.values[0]?.value ?? 0;
    const segs = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort();
    expect(value('llmaudit_retention_segments_deleted_total')).toBe(Number(/\d+/.exec(segs[0] as string)?.[0]) - 1);
    expect(value('llmaudit_retention_pruned_entries_total')).toBeGreaterThan(256);
    expect(value('llmaudit_retention_bytes_freed_total')).toBeGreaterThan(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.obj).toMatchObject({ event: 'RetentionPruned' });
    expect(lines[0]?.msg).toMatch(/^retention: deleted \d+ sealed segments/);
  });

  it('media: a file only deleted entries reference is deleted; one a kept entry, or an entry appended during the prune, references too stays and is checked', async () => {
    const tmp = await tempDir('llmaudit-prune-media-');
    cleanups.push(tmp.cleanup);
    const dir = path.join(tmp.dir, 'chain');
    await mkdir(path.join(dir, 'media'), { recursive: true });
    const file = async (fill: number): Promise<{ sha256: string; path: string; mediaType: string; bytes: number; pointer: string }> => {
      const data = Buffer.alloc(3000, fill);
      const sha256 = createHash('sha256').update(data).digest('hex');
      await writeFile(path.join(dir, 'media', `${sha256}.png`), data);
      return { sha256, path: `media/${sha256}.png`, mediaType: 'image/png', bytes: data.length, pointer: '/request/body/messages/0/content' };
    };
    const only = await file(1);
    const shared = await file(2);
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000 });
    cleanups.push(() => log.close());
    const late = await file(3);
    for (let i = 0; i < 700; i++) await log.append({ ...samplePayload(i, 20), media: i === 1 ? [only] : i === 2 || i === 690 ? [shared] : i === 3 ? [late] : [] });
    // An exchange carrying `late` again is recorded while the segments are being deleted.
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' }, {
      onStep: async (step) => {
        if (step === 'sealed') await log.append({ ...samplePayload(700, 20), media: [late] });
      },
    });
    expect(r.mediaDeleted).toBe(1);
    await log.close();
    await expect(access(path.join(dir, only.path))).rejects.toMatchObject({ code: 'ENOENT' });
    await access(path.join(dir, shared.path));
    await access(path.join(dir, late.path));
    const v = await verify(dir);
    expect(v.failure).toBeNull();
    expect(v.media).toEqual({ files: 2, bytes: 6000, missing: 0 });
    const es = await entries(dir);
    // The record counted `late` as deleted: it was, when the record was written.
    expect((es.find((e) => e.kind === 'prune') as unknown as PruneRecord).prune.media).toEqual({ files: 2, bytes: 6000 });
  });

  it('llmaudit verify: "intact from seq N (pruned before: record at seq M)", exit 0; --from-seq; a bad --from-seq is a usage error', async () => {
    const { root, log } = await agedLog();
    await writeFile(path.join(root, 'log.pub'), keys.verifierKey);
    const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
      let out = '';
      let err = '';
      const code = await runCli(args, { stdout: (x) => (out += x), stderr: (x) => (err += x), stderrIsTTY: false, cwd: root, env: {} });
      return { code, out, err };
    };
    // --from-seq before the prune (after it, the cut and the tile --from-seq 600 starts at may coincide).
    const from = await cli('verify', 'chain', '--key', 'log.pub', '--from-seq', '600');
    expect(from.code).toBe(0);
    expect(from.out).toMatch(/^intact from seq 512 \(entries before it not read: --from-seq\): /);
    const r = await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' });
    await log.close();
    const ok = await cli('verify', 'chain', '--key', 'log.pub');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(new RegExp(`^intact from seq ${r.firstKept} \\(pruned before: record at seq ${r.recordSeq}\\): ${701 - (r.firstKept as number)} entries \\(seq ${r.firstKept} to 700\\) in `));
    // A tree of chains: the pruned one's line says where it is verified from.
    const tree = await cli('verify', '.', '--key', 'log.pub');
    expect(tree.code).toBe(0);
    expect(tree.out).toContain(`chain  ${TEST_ORIGIN}  ${701 - (r.firstKept as number)} entries from seq ${r.firstKept}  checkpoint 701 @ `);
    expect((await cli('verify', '.', '--key', 'log.pub', '--from-seq', '5')).code).toBe(1);
    const bad = await cli('verify', 'chain', '--key', 'log.pub', '--from-seq', 'x1');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^llmaudit: LLMAUDIT_E_USAGE: .*--from-seq x1 is not a seq/);
  });
});
