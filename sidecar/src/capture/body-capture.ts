/**
 * The bounded copy of one body (docs/architecture.md "Data flow of one exchange": capture is bounded, the excess is digested,
 * not stored). Every chunk is hashed as it passes, so the digest covers the whole body however
 * large; chunks are kept by reference (no copy) only while the total stays under the cap.
 * While every chunk is still kept and the body is small, hashing waits for finish(): a body that
 * stays whole (most do) is hashed by one crypto.hash call, without a Hash object per body (two per
 * exchange). Past EAGER_HASH_BYTES each chunk is hashed as it arrives, in its own turn of the
 * event loop, so a large prompt's digest is not one long pause of every other exchange at its end.
 */
import { createHash, hash, type Hash } from 'node:crypto';

export interface CapturedBody {
  /** The whole body, or null when it exceeded the cap. */
  buf: Buffer | null;
  sha256: string;
  bytes: number;
  truncated: boolean;
}

/** Kept bytes past which chunks are hashed as they arrive (SHA-256 of 64 KiB: ~0.1 ms). */
export const EAGER_HASH_BYTES = 64 * 1024;

export class BodyCapture {
  /**
   * Created once a chunk is let go (over the cap, digest only) or the kept bytes pass
   * EAGER_HASH_BYTES; it has then seen every chunk so far.
   */
  private hash: Hash | null = null;
  private chunks: Buffer[] = [];
  private kept = 0;
  private over = false;
  private keep = true;
  bytes = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.hash !== null && (this.over || !this.keep)) {
      // Over the cap or digest only: nothing is kept any more, but truncation is still noted.
      this.hash.update(chunk);
      if (!this.over && this.bytes > this.cap) this.over = true;
      return;
    }
    if (this.bytes > this.cap) {
      this.streamHash().update(chunk);
      this.over = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
    this.kept += chunk.length;
    if (this.hash !== null) this.hash.update(chunk);
    else if (this.kept > EAGER_HASH_BYTES) this.streamHash();
  }

  /** The running hash, fed with every chunk kept so far when it is created. */
  private streamHash(): Hash {
    if (this.hash === null) {
      this.hash = createHash('sha256');
      for (const c of this.chunks) this.hash.update(c);
    }
    return this.hash;
  }

  /**
   * Digest and size only from now on: for a stream the adapter reconstructs, the raw frames are
   * not needed, and not keeping them halves the memory of a long-lived stream.
   */
  digestOnly(): void {
    if (!this.over) this.streamHash();
    this.keep = false;
    this.chunks = [];
    this.kept = 0;
  }

  get truncated(): boolean {
    return this.over;
  }

  /**
   * The whole body as one buffer its reader already made of the same chunks, in order (the proxy
   * concatenates a request body to forward it): kept instead of the chunks, so that peek() and
   * finish() give it back rather than copying the body a second time. Ignored unless every byte
   * pushed is still kept and `whole` is as long.
   */
  adoptWhole(whole: Buffer): void {
    if (this.over || !this.keep || this.kept !== this.bytes || this.kept !== whole.length) return;
    this.chunks = [whole];
  }

  /** The bytes kept so far (whole body while under the cap). */
  peek(): Buffer | null {
    if (this.over || !this.keep) return null;
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.kept);
  }

  finish(): CapturedBody {
    const buf = this.peek();
    this.chunks = [];
    const sha256 = this.hash !== null ? this.hash.digest('hex') : hash('sha256', buf ?? Buffer.alloc(0), 'hex');
    return { buf, sha256, bytes: this.bytes, truncated: this.over };
  }
}
