// Disk full and read-only volumes are typed errors, never a crash or a half-written chain.
// Two ways: (1) an injected LogFs adapter whose segment writes fail with ENOSPC/EROFS after a
// partial write, which works everywhere; (2) a real 256 KiB tmpfs that fills up and is remounted
// read-only, which needs mount(2) (root, not in every CI container): it runs only where mounting works.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLog } from './log-writer.ts';
import { verifyLog } from './verifier.ts';
import { nodeLogFs, type LogFileHandle, type LogFs } from './log-fs.ts';
import { faultySegmentFs, samplePayload, tempDir, testKeys, TEST_ORIGIN, type TestKeys } from './test-support.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: TestKeys;
beforeEach(async () => {
  tmp = await tempDir('llmaudit-faults-');
  keys = testKeys();
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('disk full / read-only (injected fs adapter)', () => {
  for (const [code, expected] of [
    ['ENOSPC', 'LLMAUDIT_E_LOG_DISK_FULL'],
    ['EROFS', 'LLMAUDIT_E_LOG_READONLY'],
  ] as const) {
    it(`${code}: the failed appends reject ${expected}, no partial line stays, the chain continues`, async () => {
      let broken = false;
      const dir = path.join(tmp.dir, code);
      const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict', fs: faultySegmentFs(code, () => broken, { shortWrite: true }) });
      await log.append(samplePayload(0));
      broken = true;
      const failing = [log.append(samplePayload(1)), log.append(samplePayload(2))];
      for (const p of failing) await expect(p).rejects.toMatchObject({ code: expected });
      const text = await readFile(path.join(dir, 'seg-000001.jsonl'), 'utf8');
      expect(text.split('\n').filter((l) => l !== '')).toHaveLength(1);
      expect(text.endsWith('\n')).toBe(true);
      broken = false; // space freed / volume writable again
      expect((await log.append(samplePayload(3))).seq).toBe(1);
      await log.close();
      expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
    });
  }
});

describe('fdatasync failure (injected fs adapter)', () => {
  it('EIO on fdatasync stops the writer: that append rejects typed, later ones LLMAUDIT_E_LOG_FAILED, reported once; a reopen continues', async () => {
    let failSync = false;
    const dir = path.join(tmp.dir, 'eio');
    const fs: LogFs = {
      rename: nodeLogFs.rename,
      open: async (file, flags, mode) => {
        const fh = await nodeLogFs.open(file, flags, mode);
        if (!path.basename(file).startsWith('seg-')) return fh;
        return {
          write: (b, o, l) => fh.write(b, o, l),
          sync: () => fh.sync(),
          truncate: (n) => fh.truncate(n),
          stat: () => fh.stat(),
          close: () => fh.close(),
          datasync: () => (failSync ? Promise.reject(Object.assign(new Error('EIO: injected'), { code: 'EIO' })) : fh.datasync()),
        };
      },
    };
    const reported: string[] = [];
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict', fs, onBackgroundError: (e) => reported.push(e.code) });
    await log.append(samplePayload(0));
    failSync = true;
    await expect(log.append(samplePayload(1))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_WRITE' });
    await expect(log.append(samplePayload(2))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_FAILED' });
    expect(reported).toEqual(['LLMAUDIT_E_LOG_FAILED']);
    await log.close();
    const again = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await again.append(samplePayload(3));
    await again.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
  });
});

describe('fdatasync failure, blocking (the writer thread\'s path, blockingSync)', () => {
  it('a batch of one syncs with the blocking call, a group through the pool; a failed blocking fdatasync stops the writer as the asynchronous one does', async () => {
    const dir = path.join(tmp.dir, 'blocking');
    // fdatasync(2) of a FIFO fails with EINVAL: the handle hands the writer one while failSync is set
    // (the batch's write then goes into the FIFO, the segment file is left alone).
    const fifo = path.join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fifoFd = openSync(fifo, 'r+');
    let failSync = false;
    let poolSyncs = 0;
    const fs: LogFs = {
      rename: nodeLogFs.rename,
      open: async (file, flags, mode) => {
        // node:fs/promises' FileHandle: the blocking path reads its descriptor.
        const fh = (await nodeLogFs.open(file, flags, mode)) as LogFileHandle & { fd: number };
        if (!path.basename(file).startsWith('seg-')) return fh;
        return {
          get fd() {
            return failSync ? fifoFd : fh.fd;
          },
          write: (b, o, l) => fh.write(b, o, l),
          sync: () => fh.sync(),
          truncate: (n) => fh.truncate(n),
          stat: () => fh.stat(),
          close: () => fh.close(),
          datasync: () => {
            poolSyncs++;
            return fh.datasync();
          },
        };
      },
    };
    const reported: string[] = [];
    try {
      const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict', fs, blockingSync: true, onBackgroundError: (e) => reported.push(e.code) });
      // 20 appends in one turn: one batch, one fdatasync, through the thread pool (a group commit).
      const first = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(samplePayload(i))));
      expect(first.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(log.stats().syncs).toBe(1);
      expect(poolSyncs).toBe(1);
      // A batch of one: the blocking call.
      expect((await log.append(samplePayload(20))).seq).toBe(20);
      expect(log.stats().syncs).toBe(2);
      expect(poolSyncs).toBe(1);
      // It fails on the FIFO.
      failSync = true;
      await expect(log.append(samplePayload(21))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_WRITE', message: expect.stringMatching(/fdatasync of seg-000001\.jsonl: EINVAL/) });
      await expect(log.append(samplePayload(22))).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_FAILED' });
      expect(reported).toEqual(['LLMAUDIT_E_LOG_FAILED']);
      expect(poolSyncs).toBe(1);
      await log.close();
    } finally {
      closeSync(fifoFd);
    }
    const again = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    expect(again.size).toBe(21);
    await again.append(samplePayload(21));
    await again.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
  });
});

function canMount(): boolean {
  const probe = path.join('/tmp', `llmaudit-mount-probe-${process.pid}`);
  try {
    mkdirSync(probe, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

describe.runIf(canMount())('disk full / read-only (a real 256 KiB tmpfs)', () => {
  it('fills up: appends reject LLMAUDIT_E_LOG_DISK_FULL and the chain on disk verifies; remounted read-only: LLMAUDIT_E_LOG_READONLY', async () => {
    const mnt = path.join(tmp.dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    try {
      const dir = path.join(mnt, 'chain');
      const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'strict' });
      let full: unknown = null;
      let written = 0;
      for (let i = 0; i < 1000 && full === null; i++) {
        try {
          await log.append(samplePayload(i, 4000));
          written++;
        } catch (err) {
          full = err;
        }
      }
      expect(full).toMatchObject({ code: 'LLMAUDIT_E_LOG_DISK_FULL' });
      expect(log.size).toBe(written);
      // The writer is still usable: a smaller entry may still fit or fail typed, never crash.
      await log.append(samplePayload(9999, 10)).catch((err: unknown) => expect(err).toMatchObject({ code: 'LLMAUDIT_E_LOG_DISK_FULL' }));
      await log.close().catch(() => undefined); // the final checkpoint may not fit either
      const report = await verifyLog(dir, { keys: [keys.verifier] });
      expect(report.failure).toBeNull();
      expect(report.entries).toBeGreaterThanOrEqual(written);

      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      await expect(openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_READONLY' });
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('a chain directory that does not exist yet on a read-only file system: LLMAUDIT_E_LOG_READONLY, EROFS', async () => {
    // Regression: Node's recursive mkdir reports ENOENT there, so this was LLMAUDIT_E_LOG_WRITE "ENOENT".
    const mnt = path.join(tmp.dir, 'mnt-ro');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,ro', 'tmpfs', mnt]);
    try {
      const dir = path.join(mnt, 'ns', 'pod_uid');
      await expect(openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_READONLY', message: expect.stringContaining('EROFS') });
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
