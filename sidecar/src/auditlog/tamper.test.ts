// Tamper suite: a log written by the real writer, mutated one way at a time, must give
// the verifier's exit code for that mutation, and name where it is.
import { cp, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCheckpoint, parseCheckpointBody } from './checkpoint.ts';
import { parseSignerKey, parseVerifierKey } from './signed-note.ts';
import { verifyLog, type VerifyReport } from './verifier.ts';
import { tempDir, testKeys, writeLog, samplePayload, TEST_ORIGIN, type TestKeys } from './test-support.ts';
import { openLog } from './log-writer.ts';
import { hashEntryObject, isLineProblem } from './entry.ts';

let root: { dir: string; cleanup: () => Promise<void> };
let pristine: string;
let unsigned: string;
let keys: TestKeys;
let n = 0;

beforeAll(async () => {
  root = await tempDir('llmaudit-tamper-');
  keys = testKeys();
  pristine = path.join(root.dir, 'pristine');
  // ~2.1 KB per entry, 5000-byte segments: 3 entries per segment, 10 sealed segments + the last.
  await writeLog(pristine, keys, 32, { segmentMaxBytes: 5000 });
  unsigned = path.join(root.dir, 'unsigned');
  await writeLog(unsigned, keys, 12, { segmentMaxBytes: 5000, signEntries: false });
});

afterAll(async () => {
  await root.cleanup();
});

async function copyOf(src = pristine): Promise<string> {
  const dir = path.join(root.dir, `case-${n++}`);
  await cp(src, dir, { recursive: true });
  return dir;
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').slice(0, -1);
}

async function writeLines(file: string, ls: string[]): Promise<void> {
  await writeFile(file, ls.map((l) => `${l}\n`).join(''));
}

function seg(dir: string, k: number): string {
  return path.join(dir, `seg-${String(k).padStart(6, '0')}.jsonl`);
}

/** Recomputes `hash` as the format defines it (v2: over the hashed view), as an attacker would. */
function rehash(entry: Record<string, unknown>): void {
  const c = hashEntryObject(entry);
  if (isLineProblem(c)) throw new Error(c.message);
  entry.hash = c.computedHash.toString('hex');
}

async function verify(dir: string, since?: string, k: TestKeys = keys): Promise<VerifyReport> {
  return verifyLog(dir, { keys: [k.verifier], ...(since === undefined ? {} : { since }) });
}

describe('tamper suite', () => {
  it('an untouched log verifies (exit 0) with every segment sealed', async () => {
    const r = await verify(pristine);
    expect(r.failure).toBeNull();
    expect(r.exit).toBe(0);
    expect(r.entries).toBe(32);
    expect(r.segments).toBeGreaterThan(5);
    expect((await readdir(path.join(pristine, 'checkpoints'))).length).toBeGreaterThanOrEqual(r.segments);
  });

  it('flipping one byte in a body: entry tampered (3) at that line', async () => {
    const dir = await copyOf();
    const file = seg(dir, 2);
    const buf = await readFile(file);
    const at = buf.indexOf('question');
    buf[at + 1] = 'U'.charCodeAt(0); // "qUestion": still valid JSON, different content
    await writeFile(file, buf);
    const r = await verify(dir);
    expect(r.exit).toBe(3);
    expect(r.failure).toMatchObject({ segment: 'seg-000002.jsonl', line: 1, seq: 3 });
    expect(r.failure?.message).toContain('does not match its hash');
  });

  it('editing a field and re-hashing that entry only: tampered (3), the signature gives it away', async () => {
    const dir = await copyOf();
    const ls = await lines(seg(dir, 3));
    const e = JSON.parse(ls[1] as string) as Record<string, unknown>;
    e.model = 'gpt-5';
    rehash(e);
    ls[1] = JSON.stringify(e);
    await writeLines(seg(dir, 3), ls);
    const r = await verify(dir);
    expect(r.exit).toBe(3);
    expect(r.failure).toMatchObject({ segment: 'seg-000003.jsonl', line: 2, seq: 7 });
    expect(r.failure?.message).toContain('signature');
  });

  it('a damaged signature of an entry a checkpoint covers: intact by default (the signed root covers it), 3 with all signatures', async () => {
    const dir = await copyOf();
    const ls = await lines(seg(dir, 2));
    const e = JSON.parse(ls[0] as string) as Record<string, unknown>;
    e.sig = Buffer.alloc(64, 1).toString('base64');
    ls[0] = JSON.stringify(e);
    await writeLines(seg(dir, 2), ls);
    expect((await verify(dir)).exit).toBe(0);
    const all = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
    expect(all.exit).toBe(3);
    expect(all.failure).toMatchObject({ segment: 'seg-000002.jsonl', line: 1, seq: 3 });
  });

  it('editing and re-hashing an unsigned entry: tampered (3), the next link breaks', async () => {
    const dir = await copyOf(unsigned);
    const ls = await lines(seg(dir, 2));
    const e = JSON.parse(ls[0] as string) as Record<string, unknown>;
    e.model = 'gpt-5';
    rehash(e);
    ls[0] = JSON.stringify(e);
    await writeLines(seg(dir, 2), ls);
    const r = await verify(dir);
    expect(r.exit).toBe(3);
    expect(r.failure).toMatchObject({ segment: 'seg-000002.jsonl', line: 2, seq: 4 });
    expect(r.failure?.message).toContain('prevHash');
  });

  it('deleting an entry: chain broken (2)', async () => {
    const dir = await copyOf();
    const ls = await lines(seg(dir, 4));
    ls.splice(1, 1);
    await writeLines(seg(dir, 4), ls);
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.failure).toMatchObject({ segment: 'seg-000004.jsonl', line: 2, seq: 11 });
  });

  it('duplicating an entry: chain broken (2)', async () => {
    const dir = await copyOf();
    const ls = await lines(seg(dir, 4));
    ls.splice(1, 0, ls[1] as string);
    await writeLines(seg(dir, 4), ls);
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.failure?.message).toContain('duplicated or out of order');
  });

  it('swapping two entries: chain broken (2)', async () => {
    const dir = await copyOf();
    const ls = await lines(seg(dir, 5));
    [ls[0], ls[1]] = [ls[1] as string, ls[0] as string];
    await writeLines(seg(dir, 5), ls);
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.failure).toMatchObject({ segment: 'seg-000005.jsonl', line: 1, seq: 13 });
  });

  it('deleting a segment: chain broken (2)', async () => {
    const dir = await copyOf();
    await rm(seg(dir, 3));
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.failure?.segment).toBe('seg-000004.jsonl');
  });

  it('deleting the last segment: chain broken (2), the checkpoint covers missing entries', async () => {
    const dir = await copyOf();
    const all = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort();
    await rm(path.join(dir, all.at(-1) as string));
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.failure?.message).toContain('missing');
  });

  it('reordering two segments: chain broken (2)', async () => {
    const dir = await copyOf();
    await rename(seg(dir, 2), path.join(dir, 'tmp'));
    await rename(seg(dir, 3), seg(dir, 2));
    await rename(path.join(dir, 'tmp'), seg(dir, 3));
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.failure).toMatchObject({ segment: 'seg-000002.jsonl', line: 1, seq: 6 });
  });

  it('truncating the last segment mid-line: chain broken (2)', async () => {
    const dir = await copyOf();
    const all = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort();
    const file = path.join(dir, all.at(-1) as string);
    const buf = await readFile(file);
    await writeFile(file, buf.subarray(0, buf.length - 100));
    const r = await verify(dir);
    expect(r.exit).toBe(2);
    expect(r.warnings.join(' ')).toContain('incomplete last line');
  });

  it('replacing a checkpoint signature: signature invalid (5)', async () => {
    const dir = await copyOf();
    const cps = (await readdir(path.join(dir, 'checkpoints'))).sort();
    const file = path.join(dir, 'checkpoints', cps[2] as string);
    const note = await readFile(file, 'utf8');
    const m = /^(— \S+ )(\S+)$/m.exec(note) as RegExpExecArray;
    const sig = Buffer.from(m[2] as string, 'base64');
    randomBytes(64).copy(sig, 4); // keep the key hint, replace the signature
    await writeFile(file, note.replace(m[0], `${m[1]}${sig.toString('base64')}`));
    const r = await verify(dir);
    expect(r.exit).toBe(5);
    expect(r.failure?.message).toContain(`checkpoints/${cps[2]}`);
  });

  it('a log re-signed with another key: signature invalid or wrong key (5)', async () => {
    const dir = await copyOf();
    const other = parseSignerKey(testKeys().signerKey);
    for (const name of await readdir(path.join(dir, 'checkpoints'))) {
      const file = path.join(dir, 'checkpoints', name);
      const note = await readFile(file, 'utf8');
      await writeFile(file, signCheckpoint(note.slice(0, note.indexOf('\n\n') + 1), other));
    }
    await rm(path.join(dir, 'checkpoint'));
    for (const f of (await readdir(dir)).filter((x) => x.startsWith('seg-'))) {
      const ls = (await lines(path.join(dir, f))).map((l) => {
        const e = JSON.parse(l) as Record<string, unknown>;
        e.sig = other.sign(Buffer.from(e.hash as string, 'hex')).toString('base64');
        return JSON.stringify(e);
      });
      await writeLines(path.join(dir, f), ls);
    }
    const r = await verify(dir);
    expect(r.exit).toBe(5);
    // The same log verifies with the key it was signed with.
    expect((await verifyLog(dir, { keys: [parseVerifierKey(other.verifierKey)] })).exit).toBe(0);
  });

  it('verifying with a wrong key: 5', async () => {
    const r = await verify(pristine, undefined, testKeys());
    expect(r.exit).toBe(5);
  });

  it('a line that is not JSON: parse error (4)', async () => {
    const dir = await copyOf();
    const ls = await lines(seg(dir, 2));
    ls[1] = '{"seq": 4, this is not json';
    await writeLines(seg(dir, 2), ls);
    const r = await verify(dir);
    expect(r.exit).toBe(4);
    expect(r.failure).toMatchObject({ segment: 'seg-000002.jsonl', line: 2 });
  });

  it('an older checkpoint from a longer log (rollback): inconsistent (6); the same log verifies --since an older one', async () => {
    const dir = path.join(root.dir, 'rollback');
    await writeLog(dir, keys, 5);
    const snapshot = await copyOf(dir);
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    const early = (log.latestCheckpoint() as string);
    for (let i = 5; i < 9; i++) await log.append(samplePayload(i));
    const later = await log.checkpoint();
    await log.close();
    // The grown log is consistent with the checkpoint kept at size 5.
    expect((await verify(dir, early)).exit).toBe(0);
    // The snapshot (size 5) presented with the checkpoint at size 9: rolled back.
    const r = await verify(snapshot, later);
    expect(r.exit).toBe(6);
    expect(r.failure?.message).toContain('rolled back');
    expect(parseCheckpointBody(later.slice(0, later.indexOf('\n\n') + 1)).size).toBe(9);
  });

  it('a forked log (same size, other entries) against a kept checkpoint: inconsistent (6)', async () => {
    const a = path.join(root.dir, 'fork-a');
    const b = path.join(root.dir, 'fork-b');
    await writeLog(a, keys, 4);
    await writeLog(b, keys, 3);
    const log = await openLog({ dir: b, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await log.append(samplePayload(99));
    await log.close();
    const kept = await readFile(path.join(a, 'checkpoint'), 'utf8');
    const r = await verify(b, kept);
    expect(r.exit).toBe(6);
    expect(r.failure?.message).toContain('forked');
  });
});
