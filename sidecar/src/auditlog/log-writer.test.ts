// The writer against the real file system: chain fields, rolling and sealing, durability modes,
// recovery on open, proofs from the writer. Every written log is checked by the real verifier.
import { appendFile, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nacl from 'tweetnacl';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLog } from './log-writer.ts';
import { verifyLog } from './verifier.ts';
import { genesisPrevHash } from './hash.ts';
import { openLogReader } from './log-reader.ts';
import { verifyConsistencyBundle, verifyProofBundle, parseProof } from './proof-bundle.ts';
import { samplePayload, tempDir, testKeys, writeLog, TEST_ORIGIN, type TestKeys } from './test-support.ts';
import type { Entry } from './types.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: TestKeys;
let dir: string;

beforeEach(async () => {
  tmp = await tempDir('llmaudit-writer-');
  keys = testKeys();
  dir = path.join(tmp.dir, 'chain');
});
afterEach(async () => {
  await tmp.cleanup();
});

async function entries(d = dir): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const f of (await readdir(d)).filter((x) => x.startsWith('seg-')).sort()) {
    for (const l of (await readFile(path.join(d, f), 'utf8')).split('\n')) if (l !== '') out.push(JSON.parse(l) as Entry);
  }
  return out;
}

async function verifiesIntact(d = dir): Promise<void> {
  // Every entry signature too: the writer signs each entry as it builds it.
  const r = await verifyLog(d, { keys: [keys.verifier], entrySignatures: 'all' });
  expect(r.failure).toBeNull();
  expect(r.exit).toBe(0);
}

describe('openLog / append', () => {
  it('writes v2 entries with seq, ts, origin, the genesis prevHash, hash and an Ed25519 sig tweetnacl accepts', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict' });
    const r0 = await log.append(samplePayload(0));
    const r1 = await log.append(samplePayload(1));
    expect([r0.seq, r1.seq]).toEqual([0, 1]);
    await log.close();
    const [e0, e1] = (await entries()) as [Entry, Entry];
    expect(e0).toMatchObject({ v: 2, seq: 0, origin: TEST_ORIGIN, prevHash: genesisPrevHash(TEST_ORIGIN), hash: r0.hash, ts: r0.ts });
    expect(e1.prevHash).toBe(e0.hash);
    expect(e0.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const ok = nacl.sign.detached.verify(Buffer.from(e0.hash, 'hex'), Buffer.from(e0.sig as string, 'base64'), keys.verifier.publicKey);
    expect(ok).toBe(true);
    await verifiesIntact();
  });

  it('a chain keeps the format of its first entry: a v1 chain reopened goes on in v1, a new chain is v2', async () => {
    await writeLog(dir, keys, 2, { formatVersion: 1 });
    await writeLog(dir, keys, 2);
    expect((await entries()).map((e) => e.v)).toEqual([1, 1, 1, 1]);
    await verifiesIntact();
    await writeLog(path.join(dir, 'new-chain'), keys, 1);
    const [v2] = (await readFile(path.join(dir, 'new-chain', 'seg-000001.jsonl'), 'utf8')).split('\n');
    expect(JSON.parse(v2 as string)).toMatchObject({ v: 2 });
  });

  it('signEntries: false writes no sig; the log still verifies through its checkpoints', async () => {
    await writeLog(dir, keys, 3, { signEntries: false });
    expect((await entries()).every((e) => e.sig === undefined)).toBe(true);
    await verifiesIntact();
  });

  it('refuses a payload that sets a chain field, without breaking the chain', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await expect(log.append({ ...samplePayload(0), seq: 7 })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' });
    await expect(log.append({ ...samplePayload(0), extra: 10n })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_PAYLOAD_INVALID' });
    // undefined members are dropped as JSON drops them.
    const r = await log.append({ ...samplePayload(1), parentSpanId: undefined });
    expect(r.seq).toBe(0);
    await log.close();
    await verifiesIntact();
  });

  it('after close: append rejects LLMAUDIT_E_LOG_CLOSED and close is idempotent', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    const pending = log.append(samplePayload(0));
    const c1 = log.close();
    await expect(log.append(samplePayload(1))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_CLOSED' });
    await Promise.all([c1, log.close()]);
    expect((await pending).seq).toBe(0); // queued before close: written
    expect(await readdir(dir)).not.toContain('LOCK');
  });

  it('group commit: concurrent appends keep call order and all resolve (batched and strict)', async () => {
    for (const durability of ['batched', 'strict'] as const) {
      const d = path.join(tmp.dir, durability);
      const log = await openLog({ dir: d, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability });
      const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(samplePayload(i))));
      expect(rs.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i));
      await log.close();
      expect((await entries(d)).map((e) => e.id)).toEqual(Array.from({ length: 200 }, (_, i) => `req-${i}`));
      await verifiesIntact(d);
    }
  });

  it('a batch of small and long-context lines, multi-byte text among them, is written in call order, byte for byte (the outbox)', async () => {
    // Lines of 16 Ki characters and more get buffers of their own and the rest share the outbox,
    // which grows when a line of multi-byte text outruns it: the file must still hold every line in order.
    const sizes = [200, 40_000, 300, 17_000, 100, 70_000, 50, 30_000, 20_000, 10];
    const payloads = sizes.map((n, i) => {
      const p = samplePayload(i, n);
      (p.response.body as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content = `☀️ ${'é'.repeat(n % 5000)} 日本語 ${i}`;
      return p;
    });
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'batched' });
    for (let round = 0; round < 3; round++) {
      const rs = await Promise.all(payloads.map((p) => log.append(p)));
      expect(rs.map((r) => r.seq)).toEqual(sizes.map((_, i) => round * sizes.length + i));
    }
    await log.close();
    const got = await entries();
    expect(got.map((e) => e.id)).toEqual([0, 1, 2].flatMap(() => sizes.map((_, i) => `req-${i}`)));
    expect(got.map((e) => (e.response.body as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content)).toEqual(
      [0, 1, 2].flatMap(() => payloads.map((p) => (p.response.body as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content)),
    );
    await verifiesIntact(dir);
  });

  it('batched: a written entry is fdatasynced within the sync interval (flush() forces it)', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'batched', syncIntervalMs: 20 });
    await log.append(samplePayload(0));
    await log.flush();
    expect((await stat(path.join(dir, 'seg-000001.jsonl'))).size).toBeGreaterThan(0);
    await log.close();
  });
});

describe('segments and checkpoints', () => {
  it('rolls by size; every sealed segment ends at a signed checkpoint', async () => {
    await writeLog(dir, keys, 10, { segmentMaxBytes: 4096 });
    const segs = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort();
    expect(segs.length).toBeGreaterThanOrEqual(4);
    expect(segs[0]).toBe('seg-000001.jsonl');
    const cps = (await readdir(path.join(dir, 'checkpoints'))).map(Number);
    let end = 0;
    for (const s of segs.slice(0, -1)) {
      end += (await readFile(path.join(dir, s), 'utf8')).split('\n').length - 1;
      expect(cps).toContain(end);
    }
    await verifiesIntact();
  });

  it('rolls by age, also when idle (the age timer seals the segment)', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxAgeMs: 1000, now: () => now });
    await log.append(samplePayload(0));
    now += 1500; // older than the max age: the next batch goes to a new segment
    await log.append(samplePayload(1));
    await log.flush();
    expect((await readdir(dir)).filter((f) => f.startsWith('seg-'))).toEqual(['seg-000001.jsonl', 'seg-000002.jsonl']);
    await log.seal();
    expect(await readdir(path.join(dir, 'checkpoints'))).toEqual(['000000000001', '000000000002']);
    await log.close();
    await verifiesIntact();
  });

  it('checkpoint() signs the current size; `checkpoint` holds the newest one', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await log.append(samplePayload(0));
    const note = await log.checkpoint();
    expect(note.split('\n').slice(0, 2)).toEqual([TEST_ORIGIN, '1']);
    expect(await readFile(path.join(dir, 'checkpoint'), 'utf8')).toBe(note);
    expect(log.latestCheckpoint()).toBe(note);
    await log.close();
  });

  it('checkpointIntervalMs writes checkpoints while the log grows', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, checkpointIntervalMs: 10 });
    await log.append(samplePayload(0));
    await expect.poll(async () => (await readdir(path.join(dir, 'checkpoints')).catch(() => [])).length, { timeout: 5000 }).toBe(1);
    await log.close();
  });
});

describe('recovery on open', () => {
  it('continues the chain after a restart', async () => {
    await writeLog(dir, keys, 3);
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    expect(log.size).toBe(3);
    expect((await log.append(samplePayload(3))).seq).toBe(3);
    await log.close();
    await verifiesIntact();
  });

  it('cuts a torn last line and continues', async () => {
    await writeLog(dir, keys, 3);
    await rm(path.join(dir, 'checkpoint'));
    await rm(path.join(dir, 'checkpoints'), { recursive: true });
    const seg = path.join(dir, 'seg-000001.jsonl');
    const before = (await stat(seg)).size;
    await appendFile(seg, '{"api":"openai.chat","endpoint":"ope');
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    expect((await stat(seg)).size).toBe(before);
    expect((await log.append(samplePayload(3))).seq).toBe(3);
    await log.close();
    await verifiesIntact();
  });

  it('rebuilds deleted hash tiles from the log (proofs work after a restart)', async () => {
    await writeLog(dir, keys, 600, { segmentMaxBytes: 256 * 1024 });
    // Two full tiles and the right edge of the last checkpoint (600 = 2·256 + 88) as a partial tile.
    expect(await readdir(path.join(dir, 'tile', '0'))).toEqual(['000', '001', '002.p']);
    expect(await readdir(path.join(dir, 'tile', '0', '002.p'))).toEqual(['88']);
    await rm(path.join(dir, 'tile'), { recursive: true });
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    const b = await log.inclusionProof(300);
    expect(verifyProofBundle(b, [keys.verifier]).index).toBe(300);
    await log.close();
    expect(await readdir(path.join(dir, 'tile', '0'))).toEqual(['000', '001']);
  });

  it('refuses a log shorter than its own checkpoint (entries lost): LLMAUDIT_E_LOG_CORRUPT', async () => {
    await writeLog(dir, keys, 3);
    const seg = path.join(dir, 'seg-000001.jsonl');
    const text = await readFile(seg, 'utf8');
    await writeFile(seg, text.slice(0, text.indexOf('\n') + 1));
    await expect(openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_CORRUPT' });
    expect(await readdir(dir)).not.toContain('LOCK');
  });

  it('refuses a damaged entry inside the log rather than continuing it', async () => {
    await writeLog(dir, keys, 3);
    const seg = path.join(dir, 'seg-000001.jsonl');
    const text = await readFile(seg, 'utf8');
    await writeFile(seg, text.replace('question 1', 'question X'));
    await expect(openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_CORRUPT' });
  });

  it('refuses a directory that holds another origin', async () => {
    await writeLog(dir, keys, 1);
    await expect(openLog({ dir, origin: 'llmaudit.dev/other', signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_ORIGIN_MISMATCH' });
  });

  it('an empty tail after a crash between segment creation and the first write is continued', async () => {
    await writeLog(dir, keys, 2);
    await writeFile(path.join(dir, 'seg-000002.jsonl'), '');
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await log.append(samplePayload(2));
    await log.close();
    await verifiesIntact();
    await truncate(path.join(dir, 'seg-000002.jsonl'), 0);
  });
});

describe('proofs', () => {
  it('inclusion proofs from the writer and from a reader verify offline; tlog-proof text too', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 8192 });
    for (let i = 0; i < 40; i++) await log.append(samplePayload(i));
    const b = await log.inclusionProof(17);
    // Proven against the newest checkpoint that covers it (here a segment seal).
    expect(b.index).toBe(17);
    expect(b.treeSize).toBeGreaterThan(17);
    expect(b.checkpoint.split('\n')[1]).toBe(String(b.treeSize));
    expect(verifyProofBundle(b, [keys.verifier]).entryHash).toBe(b.entryHash);
    expect(verifyProofBundle(parseProof(b.tlogProof as string), [keys.verifier]).index).toBe(17);
    const tampered = { ...b, entry: { ...b.entry, model: 'other' } };
    expect(() => verifyProofBundle(tampered, [keys.verifier])).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_PROOF_INVALID' }));
    expect(() => verifyProofBundle(b, [testKeys().verifier])).toThrow(expect.objectContaining({ code: 'LLMAUDIT_E_SIGNATURE_INVALID' }));
    await log.close();
    const reader = await openLogReader(dir);
    const rb = await reader.prove(39);
    expect(verifyProofBundle(rb, [keys.verifier])).toMatchObject({ index: 39, treeSize: 40 });
  });

  it('a reader opened beside a live writer leaves the tile directory untouched', async () => {
    // Bug: openLogReader opened the TileStore read-write, which deletes in-flight tile temp files,
    // so `llmaudit prove` next to a running sidecar could break the writer's tile flush.
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    for (let i = 0; i < 300; i++) await log.append(samplePayload(i));
    await log.checkpoint();
    const inFlight = path.join(dir, 'tile', '0', '001.tmp-writer');
    await writeFile(inFlight, 'partial');
    const reader = await openLogReader(dir);
    expect(verifyProofBundle(await reader.prove(260), [keys.verifier]).index).toBe(260);
    expect(await readFile(inFlight, 'utf8')).toBe('partial');
    await log.close();
  });

  it('consistency proofs between a kept checkpoint and the grown log verify', async () => {
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    for (let i = 0; i < 7; i++) await log.append(samplePayload(i));
    const old = await log.checkpoint();
    for (let i = 7; i < 300; i++) await log.append(samplePayload(i));
    const c = await log.consistencyProof(7);
    expect(c).toMatchObject({ fromSize: 7, toSize: 300 });
    expect(verifyConsistencyBundle(old, c, [keys.verifier])).toBe(true);
    expect(verifyConsistencyBundle(old, { ...c, proof: c.proof.slice(1) }, [keys.verifier])).toBe(false);
    await log.close();
  });
});
