/**
 * Writes media blobs to `<chainDir>/media/<sha256>.<ext>`: content-addressed, so a blob sent twice
 * is stored once. Written to a temp name, fsynced and renamed (POSIX rename is atomic), so a
 * crash never leaves a partial file under a final name; done before the entry that references it
 * is appended.
 */
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { MediaBlob, MediaRef } from './media.ts';

export interface MediaStore {
  put(blobs: readonly MediaBlob[]): Promise<MediaRef[]>;
}

export function createMediaStore(chainDir: string): MediaStore {
  const dir = join(chainDir, 'media');
  let ready: Promise<unknown> | null = null;
  const writeOne = async (b: MediaBlob): Promise<MediaRef> => {
    const rel = `media/${b.sha256}.${b.ext}`;
    const final = join(chainDir, rel);
    const exists = await stat(final).then(() => true, () => false);
    if (!exists) {
      const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
      const fh = await open(tmp, 'w', 0o640);
      try {
        await fh.writeFile(b.data);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final).catch(async (err: unknown) => {
        await unlink(tmp).catch(() => {});
        throw err;
      });
    }
    return { sha256: b.sha256, path: rel, mediaType: b.mediaType, bytes: b.data.length, pointer: b.pointer };
  };
  return {
    async put(blobs) {
      if (blobs.length === 0) return [];
      ready ??= mkdir(dir, { recursive: true, mode: 0o750 });
      await ready;
      return Promise.all(blobs.map(writeOne));
    },
  };
}
