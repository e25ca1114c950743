import { closeSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { gatheredLines as openGatheredLines, LOG_LINES_MIN_WRITE, type LineDestination } from './log-lines.ts';

const fds: number[] = [];
const dests: LineDestination[] = [];
function logFile(): { file: string; fd: number } {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'llmaudit-log-lines-')), 'out.log');
  const fd = openSync(file, 'w');
  fds.push(fd);
  return { file, fd };
}
/** A destination the cleanup flushes before its descriptor closes: a write still in flight must not meet a closed fd. */
function gatheredLines(fd: number): LineDestination {
  const d = openGatheredLines(fd);
  dests.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dests.splice(0)) await flushed(d);
  for (const fd of fds.splice(0)) closeSync(fd);
});

const flushed = (d: { flush(cb?: (err?: Error) => unknown): void }): Promise<void> => new Promise((resolve, reject) => d.flush((err) => (err ? reject(err) : resolve())));

describe('gatheredLines: the sidecar pino destination', () => {
  it('holds lines until 32 KiB are gathered or it is flushed, then writes them whole and in order', async () => {
    const { file, fd } = logFile();
    const dest = gatheredLines(fd);
    const logger = pino({ base: null, timestamp: false }, dest);
    for (let i = 0; i < 10; i++) logger.info({ i, text: 'é€😀 ünïcödé' }, 'exchange');
    expect(statSync(file).size).toBe(0); // under LOG_LINES_MIN_WRITE: nothing written yet
    await flushed(dest);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { i: number; text: string; msg: string });
    expect(lines.map((l) => l.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(lines.every((l) => l.text === 'é€😀 ünïcödé' && l.msg === 'exchange')).toBe(true);
  });

  it('writes past 32 KiB without a flush, and a line longer than a whole write arrives intact', async () => {
    const { file, fd } = logFile();
    const dest = gatheredLines(fd);
    const long = 'x'.repeat(3 * LOG_LINES_MIN_WRITE);
    const written: string[] = [];
    for (let i = 0; i < 200; i++) {
      const line = `${JSON.stringify({ i, pad: i === 100 ? long : 'y'.repeat(400) })}\n`;
      written.push(line);
      dest.write(line);
    }
    await flushed(dest);
    expect(readFileSync(file, 'utf8')).toBe(written.join(''));
  });

  it('flushSync writes what is gathered before it returns', () => {
    const { file, fd } = logFile();
    const dest = gatheredLines(fd);
    dest.write('{"a":1}\n');
    dest.write('{"b":"ß"}\n');
    dest.flushSync();
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"b":"ß"}\n');
  });

  it('never measures the gathered text, only each line', () => {
    // Regression: in sonic-boom's default mode every line took the UTF-8 length of all the text gathered so far, copying up to 64 KiB per line.
    const { fd } = logFile();
    const dest = gatheredLines(fd);
    const original = Buffer.byteLength;
    let longest = 0;
    Buffer.byteLength = ((s: Parameters<typeof Buffer.byteLength>[0], enc?: BufferEncoding) => {
      if (typeof s === 'string') longest = Math.max(longest, s.length);
      return original(s, enc);
    }) as typeof Buffer.byteLength;
    try {
      const line = `${JSON.stringify({ pad: 'z'.repeat(500) })}\n`;
      for (let i = 0; i < 150; i++) dest.write(line);
      expect(longest).toBeLessThanOrEqual(line.length);
    } finally {
      Buffer.byteLength = original;
    }
  });
});
