// Reads an audit pack into a private temporary directory, hashing every file on the way, so the
// verifier works on files whose digests are known. Only regular files with safe relative names
// are accepted (no absolute paths, no `..`, no links, no duplicates): a pack is untrusted input.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { logError } from '../auditlog/log-errors.ts';
import { auditToolError } from './errors.ts';

export interface UnpackedPack {
  dir: string;
  /** path → digest and size of every file in the pack. */
  files: Map<string, { sha256: string; bytes: number }>;
  close(): Promise<void>;
}

const SAFE_NAME = /^(?:[A-Za-z0-9._@+=:,-]+\/)*[A-Za-z0-9._@+=:,-]+$/;

function safeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.split('/').some((p) => p === '.' || p === '..');
}

/** True when `file` starts with the gzip magic bytes. */
export async function looksLikePack(file: string): Promise<boolean> {
  try {
    for await (const chunk of createReadStream(file, { start: 0, end: 1 })) return (chunk as Buffer)[0] === 0x1f && (chunk as Buffer)[1] === 0x8b;
  } catch {
    return false;
  }
  return false;
}

export async function unpack(file: string, onBytes?: (n: number) => void): Promise<UnpackedPack> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmaudit-pack-'));
  const files = new Map<string, { sha256: string; bytes: number }>();
  const close = (): Promise<void> => rm(dir, { recursive: true, force: true, maxRetries: 3 });
  let read: Promise<void> | null = null;
  let stop: () => void = () => undefined;
  const input = createReadStream(file);
  const opened = once(input, 'open').catch((err: unknown) => {
    throw logError('LLMAUDIT_E_VERIFY_FILE', `${file}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err });
  });
  try {
    await opened;
    if (onBytes !== undefined) input.on('data', (c) => onBytes((c as Buffer).length));
    const gunzip = createGunzip();
    const extract = tarExtract();
    // Ends the tar stream where the input broke off: tar-stream then fails the member it was in
    // ("unexpected end of data") or ends, and the read loop below settles either way.
    stop = () => {
      gunzip.unpipe(extract);
      extract.end(() => undefined);
    };
    const fail = new Promise<never>((_, reject) => {
      const bad = (err: Error): void => reject(auditToolError('LLMAUDIT_E_PACK_INVALID', `${path.basename(file)}: ${err.message}`, { cause: err }));
      input.on('error', (err) => reject(logError('LLMAUDIT_E_VERIFY_FILE', `${file}: ${(err as { code?: string }).code ?? String(err)}`, { cause: err })));
      gunzip.on('error', bad);
      extract.on('error', bad);
    });
    fail.catch(() => undefined);
    input.pipe(gunzip).pipe(extract);
    read = (async () => {
      for await (const entry of extract) {
        const h = entry.header;
        if (h.type === 'directory') {
          entry.resume();
          continue;
        }
        if (h.type !== 'file' || !safeName(h.name) || files.has(h.name)) {
          throw auditToolError('LLMAUDIT_E_PACK_INVALID', `unsafe or duplicate member ${JSON.stringify(h.name)} (${h.type ?? 'unknown type'})`);
        }
        const abs = path.join(dir, h.name);
        await mkdir(path.dirname(abs), { recursive: true });
        const out = createWriteStream(abs, { flags: 'wx', mode: 0o600 });
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of entry) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
          if (!out.write(chunk)) await once(out, 'drain');
        }
        out.end();
        await once(out, 'close');
        files.set(h.name, { sha256: hash.digest('hex'), bytes });
      }
    })();
    await Promise.race([read, fail]);
    return { dir, files, close };
  } catch (err) {
    // Let the member being written finish or fail before the directory is removed.
    input.destroy();
    stop();
    await read?.catch(() => undefined);
    await close();
    throw err;
  }
}
