// readLineBatches (the verifier's reader: lines as views of each read) and readLines (the same lines
// decoded) against the file's bytes split at each \n: the same lines, numbers, offsets and sizes
// whatever the read size, from any start, lines spanning reads included.
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

interface Line {
  lineNo: number;
  offset: number;
  text: string;
  bytes: number;
  terminated: boolean;
}

/** The lines of `content` from byte `start`, split at each \n by hand. */
function expected(content: Buffer, start = 0): Line[] {
  const out: Line[] = [];
  let at = start;
  while (at < content.length) {
    const nl = content.indexOf(10, at);
    const end = nl === -1 ? content.length : nl;
    out.push({ lineNo: out.length + 1, offset: at, text: content.toString('utf8', at, end), bytes: (nl === -1 ? end : nl + 1) - at, terminated: nl !== -1 });
    at = end + 1;
  }
  return out;
}

async function both(file: string, options: { chunkBytes: number; maxLineBytes?: number; start?: number }): Promise<[Line[], Line[]]> {
  const a: Line[] = [];
  for await (const l of readLines(file, options)) a.push(l);
  const b: Line[] = [];
  for await (const batch of readLineBatches(file, options)) {
    // Each view is read before the next batch is asked for, as the verifier does.
    for (const l of batch) b.push({ lineNo: l.lineNo, offset: l.offset, text: l.data.toString('utf8'), bytes: l.bytes, terminated: l.terminated });
  }
  return [a, b];
}

describe('readLineBatches', () => {
  it('gives every line with its number, offset and size, at every read size and from a start, multi-byte characters and lines across reads included', async () => {
    const file = path.join(dir, 'seg.jsonl');
    const content = Buffer.from('{"a":1}\n\n{"b":"é€😀"}\n' + `{"c":"${'x'.repeat(40)}"}\n` + '{"torn":');
    await writeFile(file, content);
    for (let chunkBytes = 1; chunkBytes <= 64; chunkBytes++) {
      for (const start of [0, 8]) {
        const [a, b] = await both(file, { chunkBytes, start });
        expect(b, `chunkBytes ${chunkBytes}, start ${start}`).toEqual(expected(content, start));
        expect(a, `chunkBytes ${chunkBytes}, start ${start}`).toEqual(b);
      }
    }
    const [a] = await both(file, { chunkBytes: 1 << 20 });
    expect(a).toHaveLength(5);
    expect(a.at(-1)).toMatchObject({ lineNo: 5, text: '{"torn":', terminated: false });
  });

  it('stops at a line longer than the limit with the line it is at, readLines too', async () => {
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
    await expect((async () => {
      for await (const l of readLines(file, { chunkBytes: 16, maxLineBytes: 50 })) void l;
    })()).rejects.toMatchObject({ lineNo: 2, offset: 8 });
  });
});
