// Streams the lines of one segment file with their byte offsets, in constant memory (one read
// buffer plus the longest line). Used by the verifier, the recovery on open and the reader.
import { open } from 'node:fs/promises';

export interface SegmentLine {
  /** 1-based line number within the segment. */
  lineNo: number;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** The line without its \n, decoded as UTF-8. */
  text: string;
  /** Bytes of the line including the \n (if any). */
  bytes: number;
  /** false for a last line without \n: a torn write or a truncation. */
  terminated: boolean;
}

export class LineTooLongError extends Error {
  constructor(readonly lineNo: number, readonly offset: number) {
    super(`line ${lineNo} is longer than the limit`);
  }
}

const CHUNK = 1 << 20;

/** `chunkBytes`: the size of each read (default 1 MiB); a reader after one line or two reads less. */
export async function* readLines(file: string, options: { start?: number; maxLineBytes?: number; chunkBytes?: number } = {}): AsyncGenerator<SegmentLine> {
  // Each batch's views stay valid while its lines are yielded: the next read waits for the next batch.
  for await (const batch of readLineBatches(file, options)) {
    for (const l of batch) yield { lineNo: l.lineNo, offset: l.offset, text: l.data.toString('utf8'), bytes: l.bytes, terminated: l.terminated };
  }
}

/** A line as bytes: `data` is a view of the reader's buffer, valid until the next batch is asked for. */
export interface SegmentLineBytes {
  lineNo: number;
  offset: number;
  /** The line without its \n. */
  data: Buffer;
  bytes: number;
  terminated: boolean;
}

/**
 * The lines of each read as bytes (the verifier reads these; readLines decodes them), as views of the
 * read buffer (no decoding, no copy unless a line spans reads), one batch per read, so a caller
 * pays one await per read rather than per line. A batch's `data` views are overwritten by the
 * next read: use them before asking for the next batch.
 */
export async function* readLineBatches(file: string, options: { start?: number; maxLineBytes?: number; chunkBytes?: number } = {}): AsyncGenerator<SegmentLineBytes[]> {
  const maxLine = options.maxLineBytes ?? 256 * 1024 * 1024;
  const fh = await open(file, 'r');
  try {
    let pos = options.start ?? 0;
    let lineNo = 0;
    let carry: Buffer[] = [];
    let carryLen = 0;
    let carryStart = pos;
    const size = options.chunkBytes ?? CHUNK;
    const buf = Buffer.allocUnsafe(size);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, size, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      const batch: SegmentLineBytes[] = [];
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(10, from);
        if (nl === -1) break;
        lineNo++;
        if (carryLen > 0) {
          carry.push(chunk.subarray(from, nl));
          batch.push({ lineNo, offset: carryStart, data: Buffer.concat(carry), bytes: pos + nl + 1 - carryStart, terminated: true });
          carry = [];
          carryLen = 0;
        } else batch.push({ lineNo, offset: pos + from, data: chunk.subarray(from, nl), bytes: nl + 1 - from, terminated: true });
        from = nl + 1;
      }
      if (from < bytesRead) {
        if (carryLen === 0) carryStart = pos + from;
        // Copy: `buf` is reused by the next read.
        carry.push(Buffer.from(chunk.subarray(from)));
        carryLen += bytesRead - from;
        if (carryLen > maxLine) {
          if (batch.length > 0) yield batch;
          throw new LineTooLongError(lineNo + 1, carryStart);
        }
      }
      pos += bytesRead;
      if (batch.length > 0) yield batch;
    }
    if (carryLen > 0) yield [{ lineNo: lineNo + 1, offset: carryStart, data: Buffer.concat(carry), bytes: carryLen, terminated: false }];
  } finally {
    await fh.close();
  }
}

/** The first line of a file (or null when it has no complete first line). */
export async function readFirstLine(file: string): Promise<string | null> {
  for await (const l of readLines(file, { chunkBytes: 64 * 1024 })) return l.terminated ? l.text : null;
  return null;
}
