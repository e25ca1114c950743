// The digest of a captured body covers every byte once, however it was cut into chunks and
// whichever way it was hashed (at the end, as the chunks arrived, or after letting them go).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BodyCapture, EAGER_HASH_BYTES } from './body-capture.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
function body(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}
function capture(whole: Buffer, chunk: number, cap: number, digestOnlyAt = -1) {
  const c = new BodyCapture(cap);
  for (let off = 0; off < whole.length; off += chunk) {
    if (off === digestOnlyAt) c.digestOnly();
    c.push(whole.subarray(off, off + chunk));
  }
  return c.finish();
}

describe('BodyCapture', () => {
  it('keeps a body under the cap whole, hashed at the end or as it came', () => {
    for (const n of [0, 1000, EAGER_HASH_BYTES, EAGER_HASH_BYTES + 1, 1 << 20]) {
      const whole = body(n);
      const r = capture(whole, 16 * 1024, 2 << 20);
      expect(r).toMatchObject({ bytes: n, truncated: false, sha256: sha(whole) });
      expect(n === 0 ? true : r.buf?.equals(whole)).toBe(true);
    }
  });

  it('digests all of a body over the cap, past the eager threshold first or not', () => {
    for (const cap of [1000, EAGER_HASH_BYTES * 2]) {
      const whole = body(EAGER_HASH_BYTES * 4 + 123);
      expect(capture(whole, 10_000, cap)).toEqual({ buf: null, sha256: sha(whole), bytes: whole.length, truncated: true });
    }
  });

  it('digests all of a body that became digest-only after the eager threshold', () => {
    const whole = body(EAGER_HASH_BYTES * 3);
    expect(capture(whole, 8192, 1 << 20, EAGER_HASH_BYTES + 8192 * 2)).toEqual({ buf: null, sha256: sha(whole), bytes: whole.length, truncated: false });
  });

  it('gives back the whole body its reader already concatenated, instead of a second copy', () => {
    // A 1 MiB request body was copied twice on the event loop: once to forward it, once more for the record.
    const whole = body(EAGER_HASH_BYTES * 3 + 17);
    for (const eager of [false, true]) {
      const c = new BodyCapture(1 << 20);
      const chunks = [];
      for (let off = 0; off < whole.length; off += 8192) chunks.push(whole.subarray(off, off + 8192));
      for (const ch of eager ? chunks : chunks.slice(0, 2)) c.push(ch);
      const joined = Buffer.concat(eager ? chunks : chunks.slice(0, 2));
      c.adoptWhole(joined);
      expect(c.peek()).toBe(joined);
      expect(c.finish()).toEqual({ buf: joined, sha256: sha(joined), bytes: joined.length, truncated: false });
    }
    // Not when the capture no longer holds every byte, nor when the lengths differ.
    const over = new BodyCapture(1000);
    over.push(whole.subarray(0, 600));
    over.push(whole.subarray(600, 1200));
    over.adoptWhole(whole.subarray(0, 1200));
    expect(over.finish()).toEqual({ buf: null, sha256: sha(whole.subarray(0, 1200)), bytes: 1200, truncated: true });
    const other = new BodyCapture(1 << 20);
    other.push(whole.subarray(0, 100));
    other.push(whole.subarray(100, 200));
    other.adoptWhole(whole.subarray(0, 150));
    const kept = other.peek();
    expect(kept?.equals(whole.subarray(0, 200))).toBe(true);
  });
});
