// The reader's entry lookup against logs the real writer wrote: segments bisected by byte offset,
// lines skimmed by their seq, and every answer the entry with that seq, across segments.
import { appendFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLog } from './log-writer.ts';
import { findEntry, openLogReader, segmentStartsOf } from './log-reader.ts';
import { listSegments } from './layout.ts';
import { verifyProofBundle } from './proof-bundle.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN, type TestKeys } from './test-support.ts';
import type { EntryPayload } from './types.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: TestKeys;

beforeEach(async () => {
  tmp = await tempDir('llmaudit-reader-');
  keys = testKeys();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** Every 7th request body holds a member named seq and a string that reads like one. */
function payload(i: number): EntryPayload {
  const p = samplePayload(i, 1200);
  if (i % 7 === 0) p.request.body = { seq: 999_999, note: '"seq":0, "seq":999999', messages: [] };
  return p;
}

async function writeMany(dir: string, count: number): Promise<void> {
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 1024 * 1024 });
  // In runs of 100: a segment rolls between batches.
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, k) => log.append(payload(i + k))));
  await log.close();
}

describe('findEntry', () => {
  it('finds every entry of a log of several segments larger than one bisection step, bodies naming seq included', async () => {
    const dir = path.join(tmp.dir, 'chain');
    const count = 2500;
    await writeMany(dir, count);
    const segments = await listSegments(dir);
    expect(segments.length).toBeGreaterThan(2);
    const starts = await segmentStartsOf(segments);
    const probe = new Set<number>([0, count - 1, ...starts.filter((s): s is number => s !== null).flatMap((s) => [s, s - 1, s + 1])]);
    for (let s = 0; s < count; s += 37) probe.add(s);
    for (const seq of [...probe].filter((s) => s >= 0 && s < count)) {
      const e = await findEntry(dir, starts, seq);
      expect(e.seq).toBe(seq);
      expect(e.id).toBe(`req-${seq}`);
    }
    await expect(findEntry(dir, starts, count)).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_NOT_FOUND' });
    const reader = await openLogReader(dir);
    // The reader's own lookup bisects the segments by their first seq instead of reading each first line.
    for (const seq of [...probe].filter((s) => s >= 0 && s < count)) expect((await reader.entry(seq)).id).toBe(`req-${seq}`);
    await expect(reader.entry(count)).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_NOT_FOUND' });
    const b = await reader.prove(count - 3);
    expect(verifyProofBundle(b, [keys.verifier]).index).toBe(count - 3);
  });

  it('finds every entry when line lengths vary widely (the interpolated search misses, bisection finishes)', async () => {
    const dir = path.join(tmp.dir, 'chain');
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 1024 * 1024 });
    // Runs of short entries between entries 100–200 times longer.
    for (let i = 0; i < 1200; i++) await log.append(samplePayload(i, i % 97 === 0 ? 150_000 : i % 13 === 0 ? 20_000 : 50));
    await log.close();
    expect((await listSegments(dir)).length).toBeGreaterThan(2);
    const reader = await openLogReader(dir);
    for (let seq = 0; seq < 1200; seq += 7) expect((await reader.entry(seq)).id).toBe(`req-${seq}`);
    for (const seq of [0, 96, 97, 98, 1199]) expect(verifyProofBundle(await reader.prove(seq), [keys.verifier]).index).toBe(seq);
  });

  it('still finds an entry when a line after it is not in the writer\'s form (the segment is read from its start)', async () => {
    const dir = path.join(tmp.dir, 'chain');
    await writeMany(dir, 400);
    const seg = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort().at(-1) as string;
    // A line appended by hand, reformatted, whose seq hint is far off.
    await appendFile(path.join(dir, seg), `${JSON.stringify({ seq: 10, v: 1 }, null, 1).replace(/\n/g, ' ')}\n`);
    const starts = await segmentStartsOf(await listSegments(dir));
    for (const seq of [0, 133, 399]) expect((await findEntry(dir, starts, seq)).seq).toBe(seq);
  });
});

/** Every `.p` directory (partial tiles) under the chain's tile/ directory. */
async function partialTileDirs(dir: string): Promise<string[]> {
  const all = await readdir(path.join(dir, 'tile'), { recursive: true });
  return all.filter((f) => f.endsWith('.p')).map((f) => path.join(dir, 'tile', f));
}

describe('openLogReader().prove', () => {
  it('proves every sampled entry from the tiles alone, the right edge read from partial tiles', async () => {
    const dir = path.join(tmp.dir, 'chain');
    await writeMany(dir, 700);
    expect((await partialTileDirs(dir)).length).toBeGreaterThan(0);
    const reader = await openLogReader(dir);
    for (const seq of [0, 255, 256, 511, 512, 699]) expect(verifyProofBundle(await reader.prove(seq), [keys.verifier]).index).toBe(seq);
  });

  it('proves from a log written before partial tiles: the leaves past the full tiles read from the segments', async () => {
    const dir = path.join(tmp.dir, 'chain');
    await writeMany(dir, 700);
    for (const d of await partialTileDirs(dir)) await rm(d, { recursive: true });
    const reader = await openLogReader(dir);
    for (const seq of [0, 300, 511, 512, 699]) expect(verifyProofBundle(await reader.prove(seq), [keys.verifier]).index).toBe(seq);
  });

  it('a partial tile that disagrees with the signed root is not used', async () => {
    // Partial tiles left past the log's end by a crash (or damaged) must never make a wrong proof.
    const dir = path.join(tmp.dir, 'chain');
    await writeMany(dir, 700); // 700 = 2·256 + 188
    await writeFile(path.join(dir, 'tile', '0', '002.p', '188'), Buffer.alloc(188 * 32, 7));
    const reader = await openLogReader(dir);
    for (const seq of [600, 699, 10]) expect(verifyProofBundle(await reader.prove(seq), [keys.verifier]).index).toBe(seq);
  });
});
