/**
 * Random trace and span ids from a pooled buffer: one `randomBytes` call per 512 span ids
 * instead of one per id. Each synchronous `randomBytes` call costs a trip into the C++ binding
 * (about a microsecond) whatever its size, so batching takes that off the path before forwarding.
 * The bytes are the same CSPRNG output the per-id calls returned; every byte is used once.
 *
 * W3C Trace Context ("trace-id" / "parent-id" sections) forbids all-zero ids; the chance of
 * drawing one is 2^-64 or less, but it costs nothing to redraw.
 */
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;

export interface RandomIds {
  traceId(): string; // 32 hex
  spanId(): string; // 16 hex
}

export interface RandomIdsOptions {
  poolBytes?: number;
  /** The byte source (tests pass a fixed one); node:crypto randomBytes by default. */
  source?: (n: number) => Buffer;
}

export function createRandomIds(options: RandomIdsOptions = {}): RandomIds {
  const poolBytes = options.poolBytes ?? POOL_BYTES;
  const source = options.source ?? randomBytes;
  let pool: Buffer | null = null;
  let offset = 0;
  const hex = (n: number): string => {
    for (;;) {
      if (pool === null || offset + n > pool.length) {
        pool = source(Math.max(poolBytes, n));
        offset = 0;
      }
      const start = offset;
      offset += n;
      let zero = true;
      for (let i = start; i < offset; i++) {
        if (pool[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (!zero) return pool.toString('hex', start, offset);
    }
  };
  return { traceId: () => hex(16), spanId: () => hex(8) };
}
