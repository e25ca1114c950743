// Writes an audit pack: a gzip-compressed POSIX tar (tar-stream) whose files are hashed as they
// are added, so the manifest lists every file with its SHA-256 and size. Files keep mode 0644 and
// the pack's creation time, so a pack does not leak the owner or times of the source volume.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';

export interface PackedFile {
  path: string;
  sha256: string;
  bytes: number;
}

export class PackWriter {
  readonly files: PackedFile[] = [];
  readonly #pack = tarPack();
  readonly #done: Promise<void>;
  readonly #mtime: Date;

  constructor(out: string, mtime: Date) {
    this.#mtime = mtime;
    this.#done = pipeline(this.#pack, createGzip({ level: 6 }), createWriteStream(out, { mode: 0o644 }));
    // Surfaced by finish(); without a handler an early failure would be unhandled.
    this.#done.catch(() => undefined);
  }

  #header(name: string, size: number): Partial<Header> & Pick<Header, 'name'> {
    return { name, size, mode: 0o644, mtime: this.#mtime, type: 'file', uname: '', gname: '', uid: 0, gid: 0 };
  }

  async addBuffer(name: string, data: Buffer): Promise<void> {
    this.files.push({ path: name, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length });
    await new Promise<void>((resolve, reject) => this.#pack.entry(this.#header(name, data.length), data, (err) => (err ? reject(err) : resolve())));
  }

  /** Streams a file that does not change while it is read (media are content-addressed). */
  async addFile(name: string, abs: string, size: number): Promise<void> {
    const h = createHash('sha256');
    let entry!: ReturnType<Pack["entry"]>;
    const done = new Promise<void>((resolve, reject) => {
      entry = this.#pack.entry(this.#header(name, size), (err) => (err ? reject(err) : resolve()));
    });
    for await (const chunk of createReadStream(abs)) {
      h.update(chunk as Buffer);
      if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
    }
    entry.end(() => undefined);
    await done;
    this.files.push({ path: name, sha256: h.digest('hex'), bytes: size });
  }

  /** Adds manifest.json (last, so it can list every other file) and closes the archive. */
  async finish(manifest: (files: PackedFile[]) => Buffer): Promise<void> {
    const m = manifest(this.files);
    await new Promise<void>((resolve, reject) => this.#pack.entry(this.#header('manifest.json', m.length), m, (err) => (err ? reject(err) : resolve())));
    this.#pack.finalize();
    await this.#done;
  }

  /** Stops writing after a failure (the partial file is the caller's to remove). */
  abort(err: Error): void {
    this.#pack.destroy(err);
  }
}
