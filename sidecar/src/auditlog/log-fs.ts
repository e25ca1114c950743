// The few file operations the writer performs on its write path, behind an interface so a test can
// inject ENOSPC/EROFS where a real full or read-only volume is not available (log-writer-fault
// tests say which they use). Production uses node:fs/promises directly.
import { open as fsOpen, rename, mkdir, unlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';

export interface LogFileHandle {
  write(buffer: Uint8Array, offset?: number, length?: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(len: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export interface LogFs {
  /** flags as for fs.open ('a' = O_APPEND|O_CREAT|O_WRONLY). */
  open(file: string, flags: string | number, mode?: number): Promise<LogFileHandle>;
  rename(from: string, to: string): Promise<void>;
}

export const nodeLogFs: LogFs = {
  open: (file, flags, mode) => fsOpen(file, flags, mode),
  rename: (from, to) => rename(from, to),
};

/** Writes all bytes, looping over short writes (write(2) may write less than asked). */
export async function writeAll(fh: LogFileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    if (bytesWritten <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/** fsync a directory so a create/rename in it survives a power loss (POSIX rename is not durable alone). */
export async function syncDir(fs: LogFs, dir: string): Promise<void> {
  const fh = await fs.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Atomically replaces `file` with `data`: write a temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic(fs: LogFs, file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fh = await fs.open(tmp, 'w', 0o644);
  try {
    await writeAll(fh, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await fs.rename(tmp, file);
  await syncDir(fs, dir);
}
