// The Merkle tree's hashes on disk as C2SP tlog-tiles hash tiles, so that inclusion and
// consistency proofs never rehash the log, also after a restart (docs/audit-log-format.md
// "Merkle tree and tiles").
//
// Layout under <chainDir>/tile/: `<L>/<N>`, N in 3-digit groups with an `x` on all but the last
// (1234067 -> x001/x234/067). A tile at level L holds 256 consecutive hashes of tree level 8·L;
// the 8 levels inside a tile are recomputed from them (C2SP tlog-tiles "Merkle Tree"). Full tiles
// (8192 bytes) are written as they fill; with each checkpoint the right edge is written too, as
// partial tiles `<N>.p/<W>` (writePartials), so that a reader never rebuilds it. Every file goes to
// a temporary name, is fsynced and renamed, so a crash leaves whole tiles or none. The writer's own
// right edge lives in memory and is rebuilt after a restart by re-appending the leaves past
// fullLeafCount() from the log itself (partial tiles are for readers; the writer never reads them).
import { mkdir, open as openFile, readFile, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { cryptoError } from './crypto-errors.ts';
import { EMPTY_ROOT, HASH_SIZE, consistencyProof, inclusionProof, rootFromReader, type HashReader } from './merkle.ts';
import { HASH_SIZE as HASH_BYTES } from './merkle-hash.ts';
import { TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, Tile, levelHashes, partialTilePath, tilePath, parseTileIndex } from './tile.ts';

export { TILE_HEIGHT, TILE_WIDTH, parseTileIndex, tilePath } from './tile.ts';

const CACHE_TILES = 64;

const key = (level: number, index: number): string => `${level}/${index}`;

function ioError(what: string, err: unknown): Error {
  return cryptoError('LLMAUDIT_E_TILE_IO', `${what}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
}

/** Writes `bytes` to a new file `tmp` (its directory created) and fsyncs it; a failed write leaves no `tmp`. */
async function writeSynced(tmp: string, bytes: Uint8Array): Promise<void> {
  try {
    await mkdir(path.dirname(tmp), { recursive: true });
    const fh = await openFile(tmp, 'w', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

export class TileStore {
  readonly dir: string;
  #size = 0;
  // Per tile level L: full tiles [0, full[L]) exist (on disk or waiting in #unflushed); partial[L] is the next one.
  #full: number[] = [];
  #partial: Tile[] = [];
  // Full tiles on disk per level: level 0's count is fullLeafCount() / 256.
  #onDisk: number[] = [];
  #unflushed = new Map<string, { level: number; index: number; tile: Tile }>();
  // Partial tiles this store wrote and has not deleted yet: "<level>/<index>" -> width.
  #partialsWritten = new Map<string, { level: number; index: number; width: number }>();
  #cache = new Map<string, Promise<Tile>>();
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #readOnly: boolean;

  private constructor(dir: string, readOnly: boolean) {
    this.dir = dir;
    this.#readOnly = readOnly;
  }

  /**
   * Opens (creating if needed) the tiles of the chain directory `dir` (tiles go under dir/tile/).
   * Reads only directory listings and the tiles needed to rebuild the in-memory right edge of
   * levels >= 1; size() is then fullLeafCount(), and the caller re-appends the leaves after it.
   * The writer (which holds the chain's lock) opens it read-write: stray temporary files and
   * tiles past the usable prefix are deleted, and flush() writes. Everyone else (CLI, verifier)
   * passes `{ readOnly: true }`: nothing on disk is touched and flush() does nothing.
   */
  static async open(dir: string, options: { readOnly?: boolean } = {}): Promise<TileStore> {
    const store = new TileStore(dir, options.readOnly === true);
    const counts: number[] = [];
    for (let level = 0; ; level++) {
      const n = await store.#contiguousOnDisk(level);
      if (n === 0) break;
      counts.push(n);
    }
    await store.#rebuild(counts);
    store.#onDisk = store.#full.map((n, level) => Math.min(n, counts[level] ?? 0));
    // Tiles beyond the usable prefix (a gap, or left over from before a truncation) would be
    // stale: drop them so they can never be served.
    await store.#deleteBeyond();
    // Partial tiles of tiles now full are superseded (C2SP tlog-tiles lets them go).
    await store.#deletePartials((level, index) => index < (store.#onDisk[level] ?? 0));
    return store;
  }

  get size(): number {
    return this.#size;
  }

  /** Leaves covered by full level-0 tiles on disk: the writer re-appends leaves from here on. */
  fullLeafCount(): number {
    return (this.#onDisk[0] ?? 0) * TILE_WIDTH;
  }

  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `leaf hash must be ${HASH_SIZE} bytes`);
    this.#push(0, leafHash, true);
    this.#size++;
  }

  /** Writes every full tile completed since the last flush (tmp + fsync + rename, then the directory fsync). */
  flush(): Promise<void> {
    if (this.#readOnly) return Promise.resolve();
    const run = this.#flushing.then(() => this.#flushNow());
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes the right edge of the tree at its current size as partial tiles (C2SP tlog-tiles
   * `tile/<L>/<N>.p/<W>`, W = floor(size / 256^L) mod 256), after every full tile completed so far:
   * the writer calls it before it stores a checkpoint at this size, so a reader of that checkpoint
   * finds every hash it needs in tiles. Lowest level first; each partial tile is a temporary file,
   * fsynced and renamed, then the directories are fsynced. Afterwards the partial tiles this one
   * supersedes are deleted: other widths of the same tile and those of tiles now full.
   */
  writePartials(): Promise<void> {
    if (this.#readOnly) return Promise.resolve();
    const run = this.#flushing.then(async () => {
      await this.#flushNow();
      await this.#writePartialsNow();
    });
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * Deletes partial tiles that reach past `size` leaves (recovery: entries they covered are not in
   * the log), so that they are never served.
   */
  prunePartials(size: number): Promise<void> {
    if (this.#readOnly) return Promise.resolve();
    const run = this.#flushing.then(() => this.#deletePartials((level, index, width) => index * TILE_WIDTH + width > levelHashes(level, size)));
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /** Flushes and releases caches; idempotent. The store stays readable from disk. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    this.#cache.clear();
  }

  /**
   * Forgets every leaf from `size` on (recovery after the log was truncated): in memory, in
   * unflushed tiles and on disk.
   */
  truncateTo(size: number): Promise<void> {
    // Queued behind (and ahead of) flushes: they must never interleave with a truncation.
    const run = this.#flushing.then(() => this.#truncateNow(size));
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #truncateNow(size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.#size) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `truncate to ${size} of ${this.#size}`);
    if (size === this.#size) return;
    const fullTiles = Math.floor(size / TILE_WIDTH);
    const tail = size % TILE_WIDTH;
    let tailLeaves: Buffer[] = [];
    if (tail > 0) {
      const t = fullTiles < (this.#full[0] ?? 0) ? await this.#tile(0, fullTiles) : (this.#partial[0] as Tile);
      tailLeaves = (t.rows[0] as Buffer[]).slice(0, tail).map((h) => Buffer.from(h));
    }
    const counts: number[] = [];
    for (let level = 0, span = TILE_WIDTH; Math.floor(size / span) > 0; level++, span *= TILE_WIDTH) {
      counts.push(Math.min(this.#full[level] ?? 0, Math.floor(size / span)));
    }
    for (const [k, u] of this.#unflushed) if (u.index >= (counts[u.level] ?? 0)) this.#unflushed.delete(k);
    this.#onDisk = this.#onDisk.map((n, level) => Math.min(n, counts[level] ?? 0));
    this.#full = [...counts];
    this.#cache.clear();
    await this.#deleteBeyond();
    await this.#deletePartials((level, index, width) => index * TILE_WIDTH + width > levelHashes(level, size));
    await this.#rebuild(counts);
    for (const h of tailLeaves) this.append(h);
  }

  /** Hash of a complete subtree inside the current tree (a HashReader). */
  readonly hashAt: HashReader = async (level, index) => {
    if (!Number.isSafeInteger(level) || !Number.isSafeInteger(index) || level < 0 || index < 0 || (index + 1) * 2 ** level > this.#size) {
      throw cryptoError('LLMAUDIT_E_TREE_RANGE', `no complete subtree at level ${level} index ${index} in a tree of size ${this.#size}`);
    }
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const k = level % TILE_HEIGHT;
    const perTile = TILE_WIDTH / 2 ** k;
    const n = Math.floor(index / perTile);
    const t = n < (this.#full[tileLevel] ?? 0) ? await this.#tile(tileLevel, n) : this.#partial[tileLevel];
    const h = t?.rows[k]?.[index - n * perTile];
    if (h === undefined) throw cryptoError('LLMAUDIT_E_TREE_RANGE', `hash at level ${level} index ${index} not available`);
    return h;
  };

  /** Root at `size` (default: the current size), from stored hashes only. */
  root(size = this.#size): Promise<Buffer> {
    if (size > this.#size) return Promise.reject(cryptoError('LLMAUDIT_E_TREE_RANGE', `tree size ${size} > ${this.#size}`));
    return size === 0 ? Promise.resolve(EMPTY_ROOT) : rootFromReader(size, this.hashAt);
  }

  inclusionProof(index: number, size: number): Promise<Buffer[]> {
    if (size > this.#size) return Promise.reject(cryptoError('LLMAUDIT_E_TREE_RANGE', `tree size ${size} > ${this.#size}`));
    return inclusionProof(index, size, this.hashAt);
  }

  consistencyProof(m: number, n: number): Promise<Buffer[]> {
    if (n > this.#size) return Promise.reject(cryptoError('LLMAUDIT_E_TREE_RANGE', `tree size ${n} > ${this.#size}`));
    return consistencyProof(m, n, this.hashAt);
  }

  #push(level: number, h: Uint8Array, cascade: boolean): void {
    const t = (this.#partial[level] ??= new Tile());
    t.push(h);
    if (t.width < TILE_WIDTH) return;
    const index = this.#full[level] ?? 0;
    this.#full[level] = index + 1;
    this.#unflushed.set(key(level, index), { level, index, tile: t });
    this.#partial[level] = new Tile();
    if (cascade) this.#push(level + 1, t.root(), true);
  }

  /**
   * Rebuilds the in-memory right edge from `counts[L]` full tiles per level: level L+1's
   * partial tile holds the roots of level L's full tiles that no full level-(L+1) tile covers.
   * A level whose full tile is missing on disk (crash between two tile writes) gets it rebuilt
   * and queued for the next flush.
   */
  async #rebuild(counts: number[]): Promise<void> {
    this.#full = [counts[0] ?? 0];
    this.#partial = [new Tile()];
    for (let level = 1; (this.#full[level - 1] ?? 0) > 0; level++) {
      const below = this.#full[level - 1] as number;
      const full = Math.min(counts[level] ?? 0, Math.floor(below / TILE_WIDTH));
      this.#full[level] = full;
      this.#partial[level] = new Tile();
      for (let j = full * TILE_WIDTH; j < below; j++) this.#push(level, (await this.#tile(level - 1, j)).root(), false);
    }
    this.#size = (this.#full[0] ?? 0) * TILE_WIDTH;
  }

  #tile(level: number, index: number): Promise<Tile> {
    const u = this.#unflushed.get(key(level, index));
    if (u !== undefined) return Promise.resolve(u.tile);
    const k = key(level, index);
    let p = this.#cache.get(k);
    if (p === undefined) {
      p = this.#readTile(level, index);
      p.catch(() => this.#cache.delete(k));
      if (this.#cache.size >= CACHE_TILES) this.#cache.delete(this.#cache.keys().next().value as string);
    } else {
      this.#cache.delete(k); // re-insert: most recently used last
    }
    this.#cache.set(k, p);
    return p;
  }

  async #readTile(level: number, index: number): Promise<Tile> {
    const file = path.join(this.dir, tilePath(level, index));
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw ioError(`read ${file}`, err);
    }
    if (bytes.length !== TILE_BYTES) throw cryptoError('LLMAUDIT_E_TILE_INVALID', `${file} has ${bytes.length} bytes, a full tile has ${TILE_BYTES}`);
    return Tile.fromBytes(bytes);
  }

  async #flushNow(): Promise<void> {
    if (this.#unflushed.size === 0) return;
    const batch = [...this.#unflushed.values()].sort((a, b) => a.level - b.level || a.index - b.index);
    const dirs = new Set<string>();
    await Promise.all(
      batch.map(async ({ level, index, tile }) => {
        const file = path.join(this.dir, tilePath(level, index));
        const tmp = `${file}.tmp-${process.pid}`;
        try {
          await writeSynced(tmp, tile.bytes);
        } catch (err) {
          throw ioError(`write ${tmp}`, err);
        }
        dirs.add(path.dirname(file));
      }),
    );
    // Rename level by level, lowest first: a level-(L+1) tile never appears before the tiles it covers.
    for (const { level, index, tile } of batch) {
      const file = path.join(this.dir, tilePath(level, index));
      try {
        await rename(`${file}.tmp-${process.pid}`, file);
      } catch (err) {
        throw ioError(`rename ${file}`, err);
      }
      this.#unflushed.delete(key(level, index));
      this.#cache.set(key(level, index), Promise.resolve(tile));
      if (this.#cache.size > CACHE_TILES) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#onDisk[level] = Math.max(this.#onDisk[level] ?? 0, index + 1);
    }
    for (const d of dirs) await fsyncDir(d);
  }

  async #writePartialsNow(): Promise<void> {
    const size = this.#size;
    const edge: Array<{ level: number; index: number; width: number; bytes: Buffer }> = [];
    for (let level = 0; levelHashes(level, size) > 0; level++) {
      const width = levelHashes(level, size) % TILE_WIDTH;
      const t = this.#partial[level];
      if (width === 0 || t === undefined || t.width !== width) continue;
      edge.push({ level, index: Math.floor(levelHashes(level, size) / TILE_WIDTH), width, bytes: t.bytes.subarray(0, width * HASH_BYTES) });
    }
    const dirs = new Set<string>();
    for (const p of edge) {
      const file = path.join(this.dir, partialTilePath(p.level, p.index, p.width));
      if (this.#partialsWritten.get(key(p.level, p.index))?.width === p.width) continue;
      const tmp = `${file}.tmp-${process.pid}`;
      try {
        await writeSynced(tmp, p.bytes);
        await rename(tmp, file);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw ioError(`write ${file}`, err);
      }
      dirs.add(path.dirname(file));
      dirs.add(path.dirname(path.dirname(file)));
    }
    for (const d of dirs) await fsyncDir(d);
    const current = new Map(edge.map((p) => [key(p.level, p.index), p.width]));
    const tiles = [...edge, ...this.#partialsWritten.values()];
    for (const p of edge) this.#partialsWritten.set(key(p.level, p.index), p);
    await this.#deletePartials((level, index, width) => current.get(key(level, index)) !== width, tiles);
  }

  /** Partial tiles of the tiles of `only`, or of every tile on disk. */
  async #partialsOnDisk(only?: Array<{ level: number; index: number }>): Promise<Array<{ level: number; index: number; width: number }>> {
    if (only === undefined) {
      const all: Array<{ level: number; index: number; width: number }> = [];
      for (let level = 0; level < this.#full.length + 1; level++) all.push(...(await this.#listPartials(level)));
      return all;
    }
    const out: Array<{ level: number; index: number; width: number }> = [];
    for (const { level, index } of only) {
      let names: string[];
      try {
        names = await readdir(path.join(this.dir, `${tilePath(level, index)}.p`));
      } catch {
        continue;
      }
      for (const name of names) if (/^[1-9]\d{0,2}$/.test(name) && Number(name) < TILE_WIDTH) out.push({ level, index, width: Number(name) });
    }
    return out;
  }

  /**
   * Deletes the partial tiles `stale(level, index, width)` selects: those of tiles this store
   * wrote partial tiles for (`only`), or every one on disk.
   */
  async #deletePartials(stale: (level: number, index: number, width: number) => boolean, only?: Array<{ level: number; index: number }>): Promise<void> {
    if (this.#readOnly) return;
    for (const p of await this.#partialsOnDisk(only)) {
      if (!stale(p.level, p.index, p.width)) continue;
      const file = path.join(this.dir, partialTilePath(p.level, p.index, p.width));
      await unlink(file).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'ENOENT') throw ioError(`delete ${file}`, err);
      });
      await rmdir(path.dirname(file)).catch(() => undefined); // only once empty
      if (this.#partialsWritten.get(key(p.level, p.index))?.width === p.width) this.#partialsWritten.delete(key(p.level, p.index));
    }
  }

  /** Every path under tile/<level>/, relative to it (none if the level does not exist). */
  async #levelNames(level: number): Promise<{ root: string; names: string[] }> {
    const root = path.join(this.dir, 'tile', String(level));
    try {
      return { root, names: await readdir(root, { recursive: true }) };
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return { root, names: [] };
      throw ioError(`list ${root}`, err);
    }
  }

  /** Partial tiles on disk at `level` (tile/<L>/<N>.p/<W>). */
  async #listPartials(level: number): Promise<Array<{ level: number; index: number; width: number }>> {
    const { names } = await this.#levelNames(level);
    const out: Array<{ level: number; index: number; width: number }> = [];
    for (const name of names) {
      const m = /^(.+)\.p\/([1-9]\d{0,2})$/.exec(name.split(path.sep).join('/'));
      const index = m === null ? undefined : parseTileIndex(m[1] as string);
      const width = Number(m?.[2]);
      if (index !== undefined && width < TILE_WIDTH) out.push({ level, index, width });
    }
    return out;
  }

  /** Number of tiles 0, 1, 2, ... present at `level` without a gap; removes stray temporary files. */
  async #contiguousOnDisk(level: number): Promise<number> {
    const found = new Set<number>();
    for (const rel of await this.#listLevel(level)) {
      const n = parseTileIndex(rel);
      if (n !== undefined) found.add(n);
    }
    let n = 0;
    while (found.has(n)) n++;
    return n;
  }

  async #listLevel(level: number): Promise<string[]> {
    const { root, names } = await this.#levelNames(level);
    const out: string[] = [];
    for (const name of names) {
      const rel = name.split(path.sep).join('/');
      if (rel.includes('.tmp-')) {
        if (!this.#readOnly) await unlink(path.join(root, name)).catch(() => undefined);
      }
      else if (!rel.includes('.p/')) out.push(rel);
    }
    return out;
  }

  async #deleteBeyond(): Promise<void> {
    if (this.#readOnly) return;
    for (let level = 0; ; level++) {
      const rels = await this.#listLevel(level);
      if (rels.length === 0 && level >= this.#full.length) return;
      const keep = this.#onDisk[level] ?? 0;
      for (const rel of rels) {
        const n = parseTileIndex(rel);
        if (n !== undefined && n >= keep) {
          this.#cache.delete(key(level, n));
          await unlink(path.join(this.dir, 'tile', String(level), rel)).catch((err: unknown) => {
            if ((err as { code?: string }).code !== 'ENOENT') throw ioError(`delete tile ${level}/${rel}`, err);
          });
        }
      }
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await openFile(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some file systems refuse fsync on a directory; the data files themselves were synced.
    if ((err as { code?: string }).code !== 'EINVAL' && (err as { code?: string }).code !== 'EISDIR') throw ioError(`fsync ${dir}`, err);
  } finally {
    await fh.close();
  }
}
