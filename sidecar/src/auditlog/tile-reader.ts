// Read-only hashes of the tree of one size, straight from the tiles on disk (docs/audit-log-format.md
// "Merkle tree and tiles"): what `llmaudit prove` needs, read lazily. A hash is served from the one
// tile that holds its row, hashing only the hashes under it; the right edge comes from the partial
// tiles the writer stores with each checkpoint. Nothing is rebuilt up front, and nothing on disk
// is touched, so a reader may run beside a live writer.
//
// Tiles written before partial tiles existed (or a partial tile deleted since) are still read:
// a missing tile of level L ≥ 1 is recomputed from the full level-(L−1) tiles under it, and the
// leaf hashes past the last full level-0 tile come from `leaves` (the entries, read from the
// segments and hashed); without it `hashAt` rejects with a TilesIncomplete.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { cryptoError } from './crypto-errors.ts';
import { HASH_SIZE, type HashReader } from './merkle.ts';
import { TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, levelHashes, partialTilePath, subtreeOfRow, tilePath } from './tile.ts';

function ioError(what: string, err: unknown): Error {
  return cryptoError('LLMAUDIT_E_TILE_IO', `${what}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
}

/** Leaf hashes [from, from + count) as one buffer of count·32 bytes. */
export type LeafSource = (from: number, count: number) => Promise<Buffer>;

/** The tiles do not hold a hash the tree of this size needs (never leaves the reader's caller). */
export class TilesIncomplete extends Error {}

const isMissing = (err: unknown): boolean => (err as { code?: string }).code === 'ENOENT' || (err as { code?: string }).code === 'ENOTDIR';

export class TileReader {
  readonly dir: string;
  readonly size: number;
  // Per tile: its first `width` hashes (the width it has in a tree of `size`), or null if they cannot be read from tiles.
  readonly #rows = new Map<string, Promise<Buffer | null>>();

  readonly #leaves: LeafSource | undefined;
  readonly #partials: boolean;

  /**
   * The tree of the first `size` leaves of the chain directory `dir` (tiles under dir/tile/).
   * `leaves`: where leaf hashes no tile holds come from. `partials: false` ignores partial tiles
   * (a reader that found them disagreeing with a signed root).
   */
  constructor(dir: string, size: number, options: { leaves?: LeafSource; partials?: boolean } = {}) {
    this.dir = dir;
    this.size = size;
    this.#leaves = options.leaves;
    this.#partials = options.partials ?? true;
  }

  /** Hash of a complete subtree of the tree of `size` leaves (a HashReader). */
  readonly hashAt: HashReader = async (level, index) => {
    if (!Number.isSafeInteger(level) || !Number.isSafeInteger(index) || level < 0 || index < 0 || (index + 1) * 2 ** level > this.size) {
      throw cryptoError('LLMAUDIT_E_TREE_RANGE', `no complete subtree at level ${level} index ${index} in a tree of size ${this.size}`);
    }
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level % TILE_HEIGHT);
    const pos = index * span; // first hash of tree level 8·tileLevel under the subtree
    const n = Math.floor(pos / TILE_WIDTH);
    const row = await this.#row(tileLevel, n);
    if (row === null) throw new TilesIncomplete(`leaf hashes from ${n * TILE_WIDTH} are in no tile`);
    return subtreeOfRow(row, pos - n * TILE_WIDTH, span);
  };

  /** The hashes of tile `n` of `level` as far as the tree of `size` has them (memoized). */
  #row(level: number, n: number): Promise<Buffer | null> {
    const k = `${level}/${n}`;
    let p = this.#rows.get(k);
    if (p === undefined) {
      p = this.#load(level, n, Math.min(TILE_WIDTH, levelHashes(level, this.size) - n * TILE_WIDTH));
      this.#rows.set(k, p);
    }
    return p;
  }

  async #load(level: number, n: number, width: number): Promise<Buffer | null> {
    // A full tile serves every width (hashes never change); a partial one of this width or wider
    // serves this width (the writer replaces a partial tile by a wider one, then by the full tile).
    const full = await this.#read(tilePath(level, n), TILE_BYTES);
    if (full !== null) return full.subarray(0, width * HASH_SIZE);
    if (width < TILE_WIDTH && this.#partials) {
      const exact = await this.#read(partialTilePath(level, n, width), width * HASH_SIZE);
      if (exact !== null) return exact;
      for (const w of await this.#partialWidths(level, n)) {
        if (w <= width) continue;
        const wider = await this.#read(partialTilePath(level, n, w), w * HASH_SIZE);
        if (wider !== null) return wider.subarray(0, width * HASH_SIZE);
      }
    }
    if (level === 0) return this.#leaves === undefined ? null : this.#leaves(n * TILE_WIDTH, width);
    // Recomputed from below: hash j of this tile is the root of full tile n·256 + j one level down.
    const below = await Promise.all(Array.from({ length: width }, (_, j) => this.#row(level - 1, n * TILE_WIDTH + j)));
    if (below.some((r) => r === null)) return null;
    return Buffer.concat(below.map((r) => subtreeOfRow(r as Buffer, 0, TILE_WIDTH)));
  }

  /** The file's bytes (exactly `bytes` long, else LLMAUDIT_E_TILE_INVALID), or null when it does not exist. */
  async #read(rel: string, bytes: number): Promise<Buffer | null> {
    const file = path.join(this.dir, rel);
    let b: Buffer;
    try {
      b = await readFile(file);
    } catch (err) {
      if (isMissing(err)) return null;
      throw ioError(`read ${file}`, err);
    }
    if (b.length !== bytes) throw cryptoError('LLMAUDIT_E_TILE_INVALID', `${file} has ${b.length} bytes, expected ${bytes}`);
    return b;
  }

  /** Widths of the partial tiles of tile `n` of `level` on disk, ascending. */
  async #partialWidths(level: number, n: number): Promise<number[]> {
    const dir = path.join(this.dir, `${tilePath(level, n)}.p`);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isMissing(err)) return [];
      throw ioError(`list ${dir}`, err);
    }
    return names
      .filter((name) => /^[1-9]\d{0,2}$/.test(name))
      .map(Number)
      .filter((w) => w < TILE_WIDTH)
      .sort((a, b) => a - b);
  }
}
