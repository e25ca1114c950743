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

/**
 * `tile/<L>/<N>.p/<W>` relative path of a partial tile: the first W (1..255) hashes of tile N
 * (C2SP tlog-tiles), as they stand at a tree size whose level-L width is W.
 */
export function partialTilePath(level: number, index: number, width: number): string {
  return `${tilePath(level, index)}.p/${width}`;
}

/** Hashes of tree level 8·L in a tree of `size` leaves: floor(size / 256^L). */
export function levelHashes(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/**
 * Root of the `count` hashes (a power of two, at most 256) of `row` that start at hash `from`:
 * only those are hashed (count − 1 node hashes), not the whole tile.
 */
export function subtreeOfRow(row: Buffer, from: number, count: number): Buffer {
  if (count === 1) return row.subarray(from * HASH_SIZE, (from + 1) * HASH_SIZE);
  const level: Buffer[] = [];
  for (let i = 0; i < count; i += 2) {
    const at = (from + i) * HASH_SIZE;
    level.push(nodeHash(row.subarray(at, at + HASH_SIZE), row.subarray(at + HASH_SIZE, at + 2 * HASH_SIZE)));
  }
  for (let n = level.length; n > 1; n /= 2) for (let i = 0; i < n; i += 2) level[i / 2] = nodeHash(level[i] as Buffer, level[i + 1] as Buffer);
  return level[0] as Buffer;
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
