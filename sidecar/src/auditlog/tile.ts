// One C2SP tlog-tiles hash tile and its path (https://c2sp.org/tlog-tiles "Merkle Tree"): 256
// consecutive hashes of tree level 8·L, plus the 8 tree levels inside the tile recomputed from them.
import { HASH_SIZE, nodeHash } from './merkle-hash.ts';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const TILE_BYTES = TILE_WIDTH * HASH_SIZE;

/** `tile/<L>/<N>` relative path of a full tile (C2SP tlog-tiles). */
export function tilePath(level: number, index: number): string {
  let digits = String(index);
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 3) groups.push(digits.slice(i, i + 3));
  return ['tile', String(level), ...groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g))].join('/');
}

/** Inverse of the N encoding of tilePath: "x001/x234/067" -> 1234067; undefined if not one. */
export function parseTileIndex(rel: string): number | undefined {
  const parts = rel.split('/');
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    const last = i === parts.length - 1;
    const m = (last ? /^(\d{3})$/ : /^x(\d{3})$/).exec(p);
    if (m === null) return undefined;
    n = n * 1000 + Number(m[1]);
  }
  return parts.length > 0 ? n : undefined;
}

/** One tile and the 8 levels inside it: rows[k][i] is the hash at tile-internal level k. */
export class Tile {
  readonly bytes: Buffer;
  readonly rows: Buffer[][] = [[], [], [], [], [], [], [], [], []];

  constructor(bytes: Buffer = Buffer.alloc(TILE_BYTES)) {
    this.bytes = bytes;
  }

  get width(): number {
    return (this.rows[0] as Buffer[]).length;
  }

  push(h: Uint8Array): void {
    let i = this.width;
    const slot = this.bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
    if (slot.buffer !== h.buffer || slot.byteOffset !== h.byteOffset) slot.set(h);
    (this.rows[0] as Buffer[]).push(slot);
    // Complete every parent that this hash closes (i odd = right child).
    for (let k = 0; i % 2 === 1; k++) {
      const row = this.rows[k] as Buffer[];
      (this.rows[k + 1] as Buffer[]).push(nodeHash(row[i - 1] as Buffer, row[i] as Buffer));
      i = (i - 1) / 2;
    }
  }

  static fromBytes(bytes: Buffer): Tile {
    const t = new Tile(bytes);
    for (let i = 0; i < TILE_WIDTH; i++) t.push(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
    return t;
  }

  root(): Buffer {
    return (this.rows[TILE_HEIGHT] as Buffer[])[0] as Buffer;
  }
}
