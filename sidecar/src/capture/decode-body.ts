/**
 * Decodes a gzip / deflate / br body for the stored copy only (the client gets the bytes as sent).
 * The decoded size is capped with zlib's `maxOutputLength`, so a decompression bomb stops at the
 * cap instead of filling memory (Node zlib docs, "Class: Options" maxOutputLength). Runs on the
 * libuv thread pool, off the event loop.
 */
import { brotliDecompress, gunzip, inflate, inflateRaw, type InputType, type ZlibOptions, type BrotliOptions } from 'node:zlib';

import type { MemoryBudget } from './memory-budget.ts';

export type DecodeResult = { ok: true; buf: Buffer } | { ok: false; reason: 'decoded_cap' | 'decode_error' | 'unsupported' | 'memory_budget' };

type Fn = (buf: InputType, opts: ZlibOptions & BrotliOptions, cb: (err: Error | null, out: Buffer) => void) => void;

function run(fn: Fn, buf: Buffer, max: number): Promise<DecodeResult> {
  return new Promise((resolve) => {
    fn(buf, { maxOutputLength: Math.max(1, max) }, (err, out) => {
      if (err === null) resolve({ ok: true, buf: out });
      else resolve({ ok: false, reason: (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'decoded_cap' : 'decode_error' });
    });
  });
}

/**
 * `encoding` is the Content-Encoding value; identity/empty returns the buffer unchanged. With a
 * `budget`, the output may only grow to what the budget has left (memory-budget.ts): a decode
 * stopped there says `memory_budget`, as does one the budget has no room for at all. The bytes
 * taken are given back when the decode ends.
 */
export async function decodeBody(buf: Buffer, encoding: string | undefined, maxDecoded: number, budget?: MemoryBudget): Promise<DecodeResult> {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return { ok: true, buf };
  if (budget === undefined) return decodeWithin(buf, enc, maxDecoded);
  const granted = budget.takeUpTo(maxDecoded);
  if (granted === 0) return { ok: false, reason: 'memory_budget' };
  try {
    const r = await decodeWithin(buf, enc, granted);
    return !r.ok && r.reason === 'decoded_cap' && granted < maxDecoded ? { ok: false, reason: 'memory_budget' } : r;
  } finally {
    budget.give(granted);
  }
}

async function decodeWithin(buf: Buffer, enc: string, maxDecoded: number): Promise<DecodeResult> {
  switch (enc) {
    case 'gzip':
    case 'x-gzip':
      return run(gunzip as Fn, buf, maxDecoded);
    case 'br':
      return run(brotliDecompress as Fn, buf, maxDecoded);
    case 'deflate': {
      // RFC 9110 §8.4.1.2 says zlib-wrapped; some servers send raw deflate anyway.
      const r = await run(inflate as Fn, buf, maxDecoded);
      return r.ok || r.reason === 'decoded_cap' ? r : run(inflateRaw as Fn, buf, maxDecoded);
    }
    default:
      return { ok: false, reason: 'unsupported' }; // zstd, stacked codings: kept as digest + size
  }
}
