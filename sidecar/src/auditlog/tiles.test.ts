import { mkdtemp, readFile, readdir, rm, truncate, unlink, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MerkleAccumulator, consistencyProof, inclusionProof, leafHash, memoryHashReader, verifyConsistency, verifyInclusion, type HashReader } from './merkle.ts';
import { TileStore, parseTileIndex, tilePath } from './tiles.ts';
import { TileReader, TilesIncomplete } from './tile-reader.ts';
import { partialTilePath } from './tile.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'llmaudit-tiles-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const N = 100_000;
let leaves: Buffer[] = [];
let reference: HashReader;
const refRoots = new Map<number, Buffer>();
function refRoot(size: number): Buffer {
  let r = refRoots.get(size);
  if (r === undefined) {
    const acc = new MerkleAccumulator();
    for (let i = 0; i < size; i++) acc.push(leaves[i] as Buffer);
    refRoots.set(size, (r = acc.root()));
  }
  return r;
}

beforeAll(() => {
  leaves = Array.from({ length: N }, (_, i) => leafHash(createHash('sha256').update(`entry ${i}`).digest()));
  reference = memoryHashReader(leaves);
});

async function build(dir: string, count: number, flushEvery = 10_000): Promise<TileStore> {
  const store = await TileStore.open(dir);
  for (let i = store.size; i < count; i++) {
    store.append(leaves[i] as Buffer);
    if ((i + 1) % flushEvery === 0) await store.flush();
  }
  await store.flush();
  return store;
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

const SAMPLE_INDICES = [0, 1, 255, 256, 257, 65_535, 65_536, 70_000, 99_839, 99_840, 99_999];

describe('tile paths (C2SP tlog-tiles)', () => {
  it('encodes N in x-prefixed 3-digit groups and decodes it back', () => {
    expect(tilePath(0, 0)).toBe('tile/0/000');
    expect(tilePath(1, 5)).toBe('tile/1/005');
    expect(tilePath(0, 999)).toBe('tile/0/999');
    expect(tilePath(0, 1000)).toBe('tile/0/x001/000');
    expect(tilePath(2, 1_234_067)).toBe('tile/2/x001/x234/067');
    for (const n of [0, 7, 999, 1000, 1_234_067, 98_765_432_101]) expect(parseTileIndex(tilePath(0, n).slice('tile/0/'.length))).toBe(n);
    expect(parseTileIndex('x001')).toBeUndefined();
    expect(parseTileIndex('001/x234')).toBeUndefined();
    expect(parseTileIndex('67')).toBeUndefined();
  });

  it('a tree of 70,000 leaves has 273 full level-0 tiles and one full level-1 tile (the spec example)', async () => {
    const dir = await tempDir();
    const store = await build(dir, 70_000);
    const files = await filesUnder(path.join(dir, 'tile'));
    expect(files.filter((f) => f.startsWith(`0${path.sep}`))).toHaveLength(273);
    expect(files.filter((f) => f.startsWith(`1${path.sep}`))).toEqual([`1${path.sep}000`]);
    expect(files).toHaveLength(274);
    expect(store.fullLeafCount()).toBe(273 * 256);
    // A level-1 tile is the 256 roots of level-0 tiles 0..255.
    const t1 = await readFile(path.join(dir, 'tile/1/000'));
    expect(t1.subarray(0, 32)).toEqual(await reference(8, 0));
    expect(t1.subarray(255 * 32)).toEqual(await reference(8, 255));
    expect((await readFile(path.join(dir, 'tile/0/272'))).length).toBe(8192);
  });
});

/** Every sampled inclusion proof and the root of the tree of `size`, read by a TileReader, equal the reference. */
async function expectReaderServes(dir: string, size: number): Promise<void> {
  const r = new TileReader(dir, size);
  const { rootFromReader } = await import('./merkle.ts');
  expect(await rootFromReader(size, r.hashAt), `root at ${size}`).toEqual(refRoot(size));
  for (const index of [0, size - 1, Math.floor(size / 2), ...SAMPLE_INDICES.filter((i) => i < size)]) {
    expect(await inclusionProof(index, size, r.hashAt), `leaf ${index} of ${size}`).toEqual(await inclusionProof(index, size, reference));
  }
}

describe('partial tiles (C2SP tlog-tiles .p/<W>)', () => {
  it('writes the right edge of the spec example (70,000 leaves) as partial tiles, each the first W hashes of its tile', async () => {
    const dir = await tempDir();
    const store = await build(dir, 70_000);
    await store.writePartials();
    const files = (await filesUnder(path.join(dir, 'tile'))).map((f) => f.split(path.sep).join('/'));
    expect(files.filter((f) => f.includes('.p/')).sort()).toEqual(['0/273.p/112', '1/001.p/17', '2/000.p/1']);
    expect(await readFile(path.join(dir, partialTilePath(0, 273, 112)))).toEqual(Buffer.concat(leaves.slice(273 * 256, 70_000)));
    const l1 = await readFile(path.join(dir, partialTilePath(1, 1, 17)));
    expect(l1.length).toBe(17 * 32);
    expect(l1.subarray(16 * 32)).toEqual(await reference(8, 272));
    expect(await readFile(path.join(dir, partialTilePath(2, 0, 1)))).toEqual(await reference(16, 0));
    await store.close();
  });

  it('a wider partial tile replaces the narrower one, and the full tile replaces both', async () => {
    const dir = await tempDir();
    const store = await build(dir, 70_000);
    await store.writePartials();
    for (let i = 70_000; i < 70_100; i++) store.append(leaves[i] as Buffer);
    await store.writePartials();
    expect(await readdir(path.join(dir, 'tile/0/273.p'))).toEqual(['212']);
    for (let i = 70_100; i < 70_144; i++) store.append(leaves[i] as Buffer); // 70,144 = 274 full tiles
    await store.writePartials();
    const files = (await filesUnder(path.join(dir, 'tile'))).map((f) => f.split(path.sep).join('/'));
    expect(files).toContain('0/273');
    expect(files.filter((f) => f.includes('.p/')).sort()).toEqual(['1/001.p/18', '2/000.p/1']);
    await expectReaderServes(dir, 70_144);
    await store.close();
  });

  it('a reader proves from the tiles alone at every sampled size, reading only full and partial tiles', async () => {
    const dir = await tempDir();
    const store = await TileStore.open(dir);
    for (const size of [1, 2, 255, 256, 257, 65_536, 70_000, N]) {
      for (let i = store.size; i < size; i++) store.append(leaves[i] as Buffer);
      await store.writePartials();
      await expectReaderServes(dir, size);
    }
    await store.close();
  });

  it('a partial tile wider than the checkpoint (a crash between the partial tile write and the checkpoint) serves the smaller tree', async () => {
    const dir = await tempDir();
    const store = await build(dir, 70_000);
    await store.writePartials();
    for (let i = 70_000; i < 70_050; i++) store.append(leaves[i] as Buffer);
    await store.writePartials(); // the checkpoint at 70,050 was never stored
    expect(await readdir(path.join(dir, 'tile/0/273.p'))).toEqual(['162']);
    await expectReaderServes(dir, 70_000);
    await store.close();
  });

  it('reads tiles written without partial tiles: higher levels recomputed from the full tiles, the leaf tail reported missing', async () => {
    const dir = await tempDir();
    await (await build(dir, N)).close(); // full tiles only, as before partial tiles
    expect((await filesUnder(path.join(dir, 'tile'))).some((f) => f.includes('.p'))).toBe(false);
    await expectReaderServes(dir, 99_840); // 390 full level-0 tiles: levels 1 and 2 are recomputed
    const r = new TileReader(dir, N);
    await expect(r.hashAt(0, N - 1)).rejects.toBeInstanceOf(TilesIncomplete);
    expect(await r.hashAt(0, 99_839)).toEqual(leaves[99_839]);
  });

  it('recovery deletes partial tiles past the log\'s end, so they are never served', async () => {
    const dir = await tempDir();
    const store = await build(dir, 1000);
    await store.writePartials();
    await store.close();
    const reopened = await TileStore.open(dir);
    await reopened.prunePartials(900); // the log holds 900 entries: 3·256 + 132
    // Level 0's 003.p/232 covered leaves up to 1000; level 1's three hashes are still in the tree.
    expect((await filesUnder(path.join(dir, 'tile'))).filter((f) => f.includes('.p')).map((f) => f.split(path.sep).join('/'))).toEqual(['1/000.p/3']);
    for (let i = reopened.size; i < 900; i++) reopened.append(leaves[i] as Buffer);
    await reopened.writePartials();
    expect(await readdir(path.join(dir, 'tile/0/003.p'))).toEqual(['132']);
    await expectReaderServes(dir, 900);
    await reopened.close();
  });
});

describe('TileStore', () => {
  it('serves every complete subtree hash and the root at every sampled size', async () => {
    const dir = await tempDir();
    const store = await build(dir, 5000, 700);
    for (const [level, index] of [[0, 0], [0, 4999], [3, 17], [8, 0], [8, 18], [9, 8], [12, 0]] as const) {
      expect(await store.hashAt(level, index), `${level}/${index}`).toEqual(await reference(level, index));
    }
    await expect(store.hashAt(13, 0)).rejects.toMatchObject({ code: 'LLMAUDIT_E_TREE_RANGE' });
    await expect(store.hashAt(0, 5000)).rejects.toMatchObject({ code: 'LLMAUDIT_E_TREE_RANGE' });
    for (const size of [0, 1, 2, 255, 256, 257, 4096, 4999, 5000]) expect(await store.root(size), `size ${size}`).toEqual(refRoot(size));
  });

  it('after 100k leaves, close, reopen and re-append of the tail, proofs equal a fresh in-memory computation', async () => {
    const dir = await tempDir();
    const first = await build(dir, N);
    await first.close();
    await first.close(); // idempotent

    const store = await TileStore.open(dir);
    expect(store.fullLeafCount()).toBe(Math.floor(N / 256) * 256);
    expect(store.size).toBe(store.fullLeafCount());
    for (let i = store.size; i < N; i++) store.append(leaves[i] as Buffer);
    expect(store.size).toBe(N);
    expect(await store.root()).toEqual(refRoot(N));

    for (const index of SAMPLE_INDICES) {
      const proof = await store.inclusionProof(index, N);
      expect(proof).toEqual(await inclusionProof(index, N, reference));
      expect(verifyInclusion(index, N, leaves[index] as Buffer, proof, refRoot(N))).toBe(true);
    }
    // Older sizes: inclusion in, and consistency from, trees the log had before.
    for (const [m, n] of [[1, N], [256, 65_536], [1000, 70_001], [65_536, N], [99_839, 99_840], [12_345, 54_321]] as const) {
      const proof = await store.consistencyProof(m, n);
      expect(proof).toEqual(await consistencyProof(m, n, reference));
      expect(verifyConsistency(m, n, await store.root(m), await store.root(n), proof)).toBe(true);
      expect(await store.root(m)).toEqual(refRoot(m));
      const index = m - 1;
      expect(await store.inclusionProof(index, n)).toEqual(await inclusionProof(index, n, reference));
    }
    await store.close();
  });

  it('rebuilds a level-1 tile lost in a crash between two tile writes, and rewrites it on the next flush', async () => {
    const dir = await tempDir();
    await (await build(dir, 70_000)).close();
    const level1 = path.join(dir, 'tile/1/000');
    const bytes = await readFile(level1);
    await unlink(level1);
    await writeFile(path.join(dir, 'tile/0/stray.tmp-1'), 'partial write'); // a temporary file from the crash

    const store = await TileStore.open(dir);
    expect(store.size).toBe(273 * 256);
    expect(await store.root()).toEqual(refRoot(273 * 256));
    expect(await store.inclusionProof(3, store.size)).toEqual(await inclusionProof(3, store.size, reference));
    await store.flush();
    expect(await readFile(level1)).toEqual(bytes);
    expect((await filesUnder(path.join(dir, 'tile'))).some((f) => f.includes('.tmp-'))).toBe(false);
  });

  it('ignores and deletes tiles after a gap, so stale hashes are never served', async () => {
    const dir = await tempDir();
    await (await build(dir, 3000)).close();
    await unlink(path.join(dir, 'tile/0/005'));
    const store = await TileStore.open(dir);
    expect(store.fullLeafCount()).toBe(5 * 256);
    expect(await filesUnder(path.join(dir, 'tile', '0'))).toHaveLength(5);
    for (let i = store.size; i < 3000; i++) store.append(leaves[i] as Buffer);
    expect(await store.root()).toEqual(refRoot(3000));
  });

  it('read-only: a reader beside the live writer never deletes, truncates or writes anything', async () => {
    const dir = await tempDir();
    await (await build(dir, 3000)).close();
    await unlink(path.join(dir, 'tile/0/005'));
    await writeFile(path.join(dir, 'tile/0/011.tmp-999'), 'the writer is writing this');
    const before = (await filesUnder(path.join(dir, 'tile'))).sort();
    const reader = await TileStore.open(dir, { readOnly: true });
    expect(reader.size).toBe(5 * 256);
    for (let i = reader.size; i < 3000; i++) reader.append(leaves[i] as Buffer);
    expect(await reader.root()).toEqual(refRoot(3000));
    await reader.truncateTo(2000);
    await reader.flush();
    await reader.close();
    expect((await filesUnder(path.join(dir, 'tile'))).sort()).toEqual(before);
  });

  it('reports a corrupt tile as LLMAUDIT_E_TILE_INVALID', async () => {
    const dir = await tempDir();
    await (await build(dir, 70_000)).close();
    await truncate(path.join(dir, 'tile/0/000'), 100);
    const store = await TileStore.open(dir); // tile 0/000 is covered by level-1 tile 0: not read on open
    await expect(store.inclusionProof(0, store.size)).rejects.toMatchObject({ code: 'LLMAUDIT_E_TILE_INVALID' });
  });

  it('truncateTo forgets leaves in memory and on disk; re-appending gives the same tree', async () => {
    const dir = await tempDir();
    const store = await build(dir, 70_000);
    for (let i = 70_000; i < 70_100; i++) store.append(leaves[i] as Buffer); // unflushed tail
    await store.truncateTo(65_000);
    expect(store.size).toBe(65_000);
    expect(await store.root()).toEqual(refRoot(65_000));
    const files = await filesUnder(path.join(dir, 'tile'));
    expect(files.filter((f) => f.startsWith(`0${path.sep}`))).toHaveLength(Math.floor(65_000 / 256));
    expect(files.filter((f) => f.startsWith(`1${path.sep}`))).toHaveLength(0);
    await expect(store.truncateTo(65_001)).rejects.toMatchObject({ code: 'LLMAUDIT_E_TREE_RANGE' });

    for (let i = 65_000; i < 70_500; i++) store.append(leaves[i] as Buffer);
    expect(await store.root()).toEqual(refRoot(70_500));
    await store.truncateTo(70_300); // inside the partial tile only
    expect(await store.root()).toEqual(refRoot(70_300));
    await store.close();

    const reopened = await TileStore.open(dir);
    for (let i = reopened.size; i < 70_300; i++) reopened.append(leaves[i] as Buffer);
    expect(await reopened.root()).toEqual(refRoot(70_300));
    await reopened.truncateTo(0);
    expect(await reopened.root()).toEqual(refRoot(0));
    expect(await filesUnder(path.join(dir, 'tile'))).toEqual([]);
  });

  it('a store copied without its unflushed tail resumes from its full tiles', async () => {
    const src = await tempDir();
    const store = await build(src, 1000);
    for (let i = 1000; i < 1300; i++) store.append(leaves[i] as Buffer); // tile 3 (768..1023) and 4 (1024..1279) not flushed
    const dst = await tempDir();
    for (const f of await filesUnder(path.join(src, 'tile'))) {
      await mkdir(path.dirname(path.join(dst, 'tile', f)), { recursive: true });
      await copyFile(path.join(src, 'tile', f), path.join(dst, 'tile', f));
    }
    const copy = await TileStore.open(dst);
    expect(copy.fullLeafCount()).toBe(768);
    for (let i = copy.size; i < 1300; i++) copy.append(leaves[i] as Buffer);
    expect(await copy.root()).toEqual(await store.root());
  });

  it('any sequence of appends, flushes, truncations, reopenings and crashes keeps the tree right (fast-check)', async () => {
    type Op = { kind: 'append'; n: number } | { kind: 'flush' } | { kind: 'truncate'; frac: number } | { kind: 'reopen' } | { kind: 'crash' } | { kind: 'checkpoint' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 700 }) }),
      fc.constant({ kind: 'flush' as const }),
      fc.record({ kind: fc.constant('truncate' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.constant({ kind: 'reopen' as const }),
      fc.constant({ kind: 'crash' as const }), // reopen without close: unflushed tiles are lost
      fc.constant({ kind: 'checkpoint' as const }), // partial tiles written, as before a checkpoint
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), fc.nat(), async (ops, salt) => {
        const dir = await tempDir();
        let store = await TileStore.open(dir);
        let logSize = 0; // what "the log" holds: the writer re-appends up to here after a reopen
        let cpSize: number | undefined; // the newest "checkpoint": a reader of it must find every hash in tiles
        let partialsAt = 0;
        for (const o of ops) {
          if (o.kind === 'append') {
            const end = Math.min(logSize + o.n, 3000);
            for (let i = logSize; i < end; i++) store.append(leaves[i] as Buffer);
            logSize = end;
          } else if (o.kind === 'flush') {
            await store.flush();
          } else if (o.kind === 'truncate') {
            logSize = Math.floor(logSize * o.frac);
            await store.truncateTo(logSize);
            if (logSize < partialsAt) cpSize = undefined; // the log lost entries its checkpoint covered
          } else if (o.kind === 'checkpoint') {
            await store.writePartials();
            cpSize = partialsAt = logSize;
          } else {
            if (o.kind === 'reopen') await store.close();
            store = await TileStore.open(dir);
            expect(store.size).toBeLessThanOrEqual(logSize);
            for (let i = store.size; i < logSize; i++) store.append(leaves[i] as Buffer);
          }
          expect(store.size).toBe(logSize);
          expect(await store.root()).toEqual(refRoot(logSize));
          if (logSize > 0) {
            const index = salt % logSize;
            expect(await store.inclusionProof(index, logSize)).toEqual(await inclusionProof(index, logSize, reference));
          }
          if (cpSize !== undefined && cpSize > 0) {
            const r = new TileReader(dir, cpSize);
            const index = salt % cpSize;
            expect(await inclusionProof(index, cpSize, r.hashAt)).toEqual(await inclusionProof(index, cpSize, reference));
          }
        }
        await store.close();
      }),
      { numRuns: 25 },
    );
  });
});
