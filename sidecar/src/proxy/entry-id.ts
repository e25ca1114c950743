/**
 * Entry ids are UUIDv7 (RFC 9562 §5.7): 48-bit Unix ms timestamp, version 7, 74 random bits.
 * Time-ordered, so ids sort like the log, and generated before forwarding so the client's
 * `x-llmaudit-id` names the entry that will be written.
 */
import { randomFillSync } from 'node:crypto';

// Random bytes are drawn in batches: one syscall per 512 ids instead of one per id.
const POOL = Buffer.allocUnsafe(16 * 512);
let poolOffset = POOL.length;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function uuidv7(nowMs: number = Date.now()): string {
  if (poolOffset + 10 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const r = POOL;
  const o = poolOffset;
  poolOffset += 10;
  const ms = Math.max(0, Math.floor(nowMs));
  const hi = Math.floor(ms / 0x1000000); // upper 24 bits of the 48
  const lo = ms % 0x1000000;
  const h = (n: number): string => HEX[n & 0xff] as string;
  return (
    h(hi >>> 16) + h(hi >>> 8) + h(hi) + h(lo >>> 16) + '-' + h(lo >>> 8) + h(lo) + '-' +
    h(0x70 | ((r[o] as number) & 0x0f)) + h(r[o + 1] as number) + '-' +
    h(0x80 | ((r[o + 2] as number) & 0x3f)) + h(r[o + 3] as number) + '-' +
    h(r[o + 4] as number) + h(r[o + 5] as number) + h(r[o + 6] as number) + h(r[o + 7] as number) + h(r[o + 8] as number) + h(r[o + 9] as number)
  );
}
