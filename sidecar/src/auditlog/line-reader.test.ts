// readLineBatches (the verifier's reader: lines as views of each read) against readLines: the same
// lines, numbers, offsets and sizes whatever the read size, lines spanning reads included.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineTooLongError, readLineBatches, readLines } from './line-reader.ts';
import { tempDir } from './test-support.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('llmaudit-lines-'));
});
afterAll(async () => cleanup());

async function both(file: string, options: { chunkBytes: number; maxLineBytes?: number }): Promise<[unknown[], unknown[]]> {
  const a: unknown[] = [];
  for await (const l of readLines(file, options)) a.push(l);
  const b: unknown[] = [];
  for await (const batch of readLineBatches(file, options)) {
    // Each view is read before the next batch is asked for, as the verifier does.
    for (const l of batch) b.push({ lineNo: l.lineNo, offset: l.offset, text: l.data.toString('utf8'), bytes: l.bytes, terminated: l.terminated });
  }
  return [a, b];
}

describe('readLineBatches', () => {
  it('gives the lines readLines gives, at every read size, multi-byte characters and lines across reads included', async () => {
    const file = path.join(dir, 'seg.jsonl');
    await writeFile(file, '{"a":1}\n\n{"b":"é€😀"}\n' + `{"c":"${'x'.repeat(40)}"}\n` + '{"torn":');
    for (let chunkBytes = 1; chunkBytes <= 64; chunkBytes++) {
      const [a, b] = await both(file, { chunkBytes });
      expect(b, `chunkBytes ${chunkBytes}`).toEqual(a);
    }
    const [a] = await both(file, { chunkBytes: 1 << 20 });
    expect(a).toHaveLength(5);
    expect(a.at(-1)).toMatchObject({ lineNo: 5, text: '{"torn":', terminated: false });
  });

  it('stops at a line longer than the limit with the line it is at, as readLines does', async () => {
    const file = path.join(dir, 'long.jsonl');
    await writeFile(file, `{"a":1}\n{"b":"${'y'.repeat(100)}"}\n`);
    const lines: number[] = [];
    const err = await (async () => {
      try {
        for await (const batch of readLineBatches(file, { chunkBytes: 16, maxLineBytes: 50 })) for (const l of batch) lines.push(l.lineNo);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(lines).toEqual([1]);
    expect(err).toBeInstanceOf(LineTooLongError);
    expect((err as LineTooLongError).lineNo).toBe(2);
    expect((err as LineTooLongError).offset).toBe(8);
  });
});
