import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  MerkleAccumulator,
  consistencyProof,
  inclusionProof,
  leafHash,
  memoryHashReader,
  nodeHash,
  rootFromReader,
  rootOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';
import { sha256, sha256HexAndBytes } from './hash.ts';

interface Vectors {
  leafInputs: string[];
  rootsBySize: string[];
  nodeHashes: string[][];
  inclusion: { index: number; size: number; proof: string[] }[];
  consistency: { size1: number; size2: number; proof: string[] }[];
}
const V = JSON.parse(readFileSync(new URL('./testdata/merkle-vectors.json', import.meta.url), 'utf8')) as Vectors;
const hx = (s: string): Buffer => Buffer.from(s, 'hex');
const leaves = V.leafInputs.map((l) => leafHash(hx(l)));
const hexes = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex'));

/** Distinct 32-byte leaf hashes for property tests, derived from the index. */
function syntheticLeaves(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(leafHash(createHash('sha256').update(`leaf ${i}`).digest()));
  return out;
}

describe('RFC 6962 hashing', () => {
  it('empty root is SHA-256("")', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe(V.rootsBySize[0]);
    expect(rootOfLeaves([])).toEqual(EMPTY_ROOT);
  });

  it('leaf and node hashes match the reference tree', () => {
    expect(hexes(leaves)).toEqual(V.nodeHashes[0]);
    const l1 = V.nodeHashes[1] as string[];
    expect(nodeHash(leaves[0] as Buffer, leaves[1] as Buffer).toString('hex')).toBe(l1[0]);
    expect(nodeHash(hx(l1[2] as string), hx(l1[3] as string)).toString('hex')).toBe((V.nodeHashes[2] as string[])[1]);
  });

  it('the digests copied out of latin1 strings are the bytes node:crypto computes (any input)', () => {
    const ref = (...xs: Array<Uint8Array | string>): Buffer => {
      const h = createHash('sha256');
      for (const x of xs) h.update(x);
      return h.digest();
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ unit: 'binary', maxLength: 200 }), (bytes, a, b, text) => {
        expect(sha256(bytes)).toEqual(ref(bytes));
        expect(sha256(text)).toEqual(ref(Buffer.from(text, 'utf8')));
        const both = sha256HexAndBytes(text);
        expect(both.bytes).toEqual(ref(Buffer.from(text, 'utf8')));
        expect(both.hex).toBe(both.bytes.toString('hex'));
        expect(leafHash(bytes)).toEqual(ref(Uint8Array.of(0), bytes));
        expect(nodeHash(a, b)).toEqual(ref(Uint8Array.of(1), a, b));
      }),
      { numRuns: 300 },
    );
  });

  it('the reference recursion, the accumulator and the hash reader agree with every published root', async () => {
    const acc = new MerkleAccumulator();
    expect(acc.root().toString('hex')).toBe(V.rootsBySize[0]);
    for (let size = 1; size <= 8; size++) {
      acc.push(leaves[size - 1] as Buffer);
      const want = V.rootsBySize[size];
      expect(rootOfLeaves(leaves.slice(0, size)).toString('hex')).toBe(want);
      expect(acc.root().toString('hex')).toBe(want);
      expect(acc.size).toBe(size);
      expect((await rootFromReader(size, memoryHashReader(leaves))).toString('hex')).toBe(want);
      expect(MerkleAccumulator.fromPeaks(size, acc.peaks()).root().toString('hex')).toBe(want);
      expect((await MerkleAccumulator.fromReader(size, memoryHashReader(leaves))).root().toString('hex')).toBe(want);
    }
  });
});

describe('inclusion proofs (RFC 9162 §2.1.3)', () => {
  const reader = memoryHashReader(leaves);
  it.each(V.inclusion)('leaf $index in size $size: generated proof equals the vector and verifies', async ({ index, size, proof }) => {
    const got = await inclusionProof(index, size, reader);
    expect(hexes(got)).toEqual(proof);
    const root = hx(V.rootsBySize[size] as string);
    expect(verifyInclusion(index, size, leaves[index] as Buffer, proof.map(hx), root)).toBe(true);
  });

  it.each(V.inclusion.filter((v) => v.proof.length > 0))('corruptions of leaf $index in size $size fail (transparency-dev corruptInclusionProof)', ({ index, size, proof }) => {
    const root = hx(V.rootsBySize[size] as string);
    const leaf = leaves[index] as Buffer;
    const p = proof.map(hx);
    const someHash = hx('abacaba000000000000000000000000000000000000000000060061e00123456');
    const probes: [number, number, Buffer, Buffer, Buffer[]][] = [
      [index - 1, size, root, leaf, p],
      [index + 1, size, root, leaf, p],
      [index ^ 2, size, root, leaf, p],
      [index, size * 2, root, leaf, p],
      [index, Math.floor(size / 2), root, leaf, p],
      [index, size, root, leafHash(Buffer.from('WrongLeaf')), p],
      [index, size, EMPTY_ROOT, leaf, p],
      [index, size, someHash, leaf, p],
      [index, size, root, leaf, [...p, Buffer.alloc(0)]],
      [index, size, root, leaf, [...p, root]],
      [index, size, root, leaf, [Buffer.alloc(0), ...p]],
      [index, size, root, leaf, [root, ...p]],
      [index, size, root, leaf, p.slice(0, -1)],
    ];
    p.forEach((_, i) => {
      const q = p.map((x) => Buffer.from(x));
      (q[i] as Buffer)[0] = ((q[i] as Buffer)[0] as number) ^ 8;
      probes.push([index, size, root, leaf, q]);
    });
    if (p.length > 1) probes.push([index, size, root, leaf, [p[0] as Buffer, someHash, ...p.slice(1)]]);
    for (const [i, s, r, l, q] of probes) expect(verifyInclusion(i, s, l, q, r), `${i}/${s}`).toBe(false);
  });

  it('rejects an index outside the tree', async () => {
    await expect(inclusionProof(8, 8, reader)).rejects.toMatchObject({ code: 'LLMAUDIT_E_TREE_RANGE' });
    expect(verifyInclusion(0, 0, leaves[0] as Buffer, [], EMPTY_ROOT)).toBe(false);
  });
});

describe('consistency proofs (RFC 9162 §2.1.4)', () => {
  const reader = memoryHashReader(leaves);
  it.each(V.consistency)('$size1 → $size2: generated proof equals the vector and verifies', async ({ size1, size2, proof }) => {
    expect(hexes(await consistencyProof(size1, size2, reader))).toEqual(proof);
    const r1 = hx(V.rootsBySize[size1] as string);
    const r2 = hx(V.rootsBySize[size2] as string);
    expect(verifyConsistency(size1, size2, r1, r2, proof.map(hx))).toBe(true);
  });

  it.each(V.consistency.filter((v) => v.proof.length > 0))('corruptions of $size1 → $size2 fail (transparency-dev corruptConsistencyProof)', ({ size1, size2, proof }) => {
    const r1 = hx(V.rootsBySize[size1] as string);
    const r2 = hx(V.rootsBySize[size2] as string);
    const p = proof.map(hx);
    const wrong = Buffer.from('WrongRoot');
    const probes: [number, number, Buffer, Buffer, Buffer[]][] = [
      [size1 - 1, size2, r1, r2, p],
      [size1 + 1, size2, r1, r2, p],
      [size1 ^ 2, size2, r1, r2, p],
      [size1, size2 * 2, r1, r2, p],
      [size1, Math.floor(size2 / 2), r1, r2, p],
      [size1, size2, wrong, r2, p],
      [size1, size2, r1, wrong, p],
      [size1, size2, r2, r1, p],
      [size1, size2, r1, r2, []],
      [size1, size2, r1, r2, [...p, Buffer.alloc(0)]],
      [size1, size2, r1, r2, [...p, r1]],
      [size1, size2, r1, r2, [...p, r2]],
      [size1, size2, r1, r2, [Buffer.alloc(0), ...p]],
      [size1, size2, r1, r2, [r1, ...p]],
      [size1, size2, r1, r2, [r2, ...p]],
      [size1, size2, r1, r2, [p[0] as Buffer, ...p]],
      [size1, size2, r1, r2, p.slice(0, -1)],
    ];
    p.forEach((_, i) => {
      const q = p.map((x) => Buffer.from(x));
      (q[i] as Buffer)[0] = ((q[i] as Buffer)[0] as number) ^ 16;
      probes.push([size1, size2, r1, r2, q]);
    });
    for (const [a, b, x, y, q] of probes) expect(verifyConsistency(a, b, x, y, q), `${a}→${b}`).toBe(false);
  });

  it('edge cases of transparency-dev TestVerifyConsistency', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    expect(verifyConsistency(0, 0, a, b, [])).toBe(false);
    expect(verifyConsistency(1, 1, a, b, [])).toBe(false);
    expect(verifyConsistency(0, 0, a, a, [])).toBe(true);
    expect(verifyConsistency(0, 1, a, b, [])).toBe(true);
    expect(verifyConsistency(1, 1, b, b, [])).toBe(true);
    expect(verifyConsistency(1, 0, a, b, [])).toBe(false);
    expect(verifyConsistency(2, 1, a, b, [])).toBe(false);
    expect(verifyConsistency(1, 2, a, b, [])).toBe(false);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false);
    expect(verifyConsistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false);
    expect(verifyConsistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false);
  });
});

describe('property tests (fast-check)', () => {
  const pool = syntheticLeaves(2000);
  const reader = memoryHashReader(pool);
  const roots = new Map<number, Buffer>();
  const rootAt = (n: number): Buffer => {
    let r = roots.get(n);
    if (r === undefined) roots.set(n, (r = rootOfLeaves(pool.slice(0, n))));
    return r;
  };
  const sizeAndIndex = fc.integer({ min: 1, max: 2000 }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })));

  it('generated inclusion proofs verify; a wrong index, size, leaf, root or proof hash fails', async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, fc.nat(), async ([size, index], salt) => {
        const proof = await inclusionProof(index, size, reader);
        const root = rootAt(size);
        const leaf = pool[index] as Buffer;
        expect(verifyInclusion(index, size, leaf, proof, root)).toBe(true);
        const other = (index + 1 + (salt % Math.max(1, size - 1))) % size;
        if (other !== index) expect(verifyInclusion(other, size, leaf, proof, root)).toBe(false);
        expect(verifyInclusion(index, size, pool[(index + 1) % 2000] as Buffer, proof, root)).toBe(false);
        expect(verifyInclusion(index, size, leaf, proof, nodeHash(root, root))).toBe(false);
        if (proof.length > 0) {
          const bad = proof.map((p) => Buffer.from(p));
          const at = salt % bad.length;
          (bad[at] as Buffer)[salt % 32] = ((bad[at] as Buffer)[salt % 32] as number) ^ 1;
          expect(verifyInclusion(index, size, leaf, bad, root)).toBe(false);
          expect(verifyInclusion(index, size, leaf, proof.slice(1), root)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('generated consistency proofs between random m <= n verify; tampering fails', async () => {
    const sizes = fc.integer({ min: 1, max: 2000 }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(), async ([m, n], salt) => {
        const proof = await consistencyProof(m, n, reader);
        const rm = rootAt(m);
        const rn = rootAt(n);
        expect(verifyConsistency(m, n, rm, rn, proof)).toBe(true);
        if (m < n) {
          expect(verifyConsistency(m, n, rn, rm, proof)).toBe(false);
          expect(verifyConsistency(m, n, nodeHash(rm, rm), rn, proof)).toBe(false);
          const bad = proof.map((p) => Buffer.from(p));
          const at = salt % bad.length;
          (bad[at] as Buffer)[salt % 32] = ((bad[at] as Buffer)[salt % 32] as number) ^ 1;
          expect(verifyConsistency(m, n, rm, rn, bad)).toBe(false);
          if (m > 1) expect(verifyConsistency(m - 1, n, rootAt(m - 1), rn, proof)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the accumulator equals the reference root at every size', () => {
    const acc = new MerkleAccumulator();
    for (let i = 0; i < 300; i++) {
      acc.push(pool[i] as Buffer);
      expect(acc.root().equals(rootAt(i + 1)), `size ${i + 1}`).toBe(true);
    }
  });
});
