/**
 * The bounded copy of one body (DESIGN.md "Data flow": capture is bounded, the excess is digested,
 * not stored). Every chunk is hashed as it passes, so the digest covers the whole body however
 * large; chunks are kept by reference (no copy) only while the total stays under the cap.
 */
import { createHash, type Hash } from 'node:crypto';

export interface CapturedBody {
  /** The whole body, or null when it exceeded the cap. */
  buf: Buffer | null;
  sha256: string;
  bytes: number;
  truncated: boolean;
}

export class BodyCapture {
  private readonly hash: Hash = createHash('sha256');
  private chunks: Buffer[] = [];
  private kept = 0;
  private over = false;
  private keep = true;
  bytes = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.over) return;
    if (this.bytes > this.cap) {
      this.over = true;
      this.chunks = [];
      return;
    }
    if (!this.keep) return;
    this.chunks.push(chunk);
    this.kept += chunk.length;
  }

  /**
   * Digest and size only from now on: for a stream the adapter reconstructs, the raw frames are
   * not needed, and not keeping them halves the memory of a long-lived stream.
   */
  digestOnly(): void {
    this.keep = false;
    this.chunks = [];
    this.kept = 0;
  }

  get truncated(): boolean {
    return this.over;
  }

  /** The bytes kept so far (whole body while under the cap). */
  peek(): Buffer | null {
    if (this.over || !this.keep) return null;
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.kept);
  }

  finish(): CapturedBody {
    const buf = this.peek();
    this.chunks = [];
    return { buf, sha256: this.hash.digest('hex'), bytes: this.bytes, truncated: this.over };
  }
}
