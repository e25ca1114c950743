// One writer per chain directory: a second writer is refused; a lock left by a killed writer is
// taken over (ADR 0004 "Lock").
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, isStale, processStartTime, type LockInfo } from './lock.ts';
import { openLog } from './log-writer.ts';
import { verifyLog } from './verifier.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from './test-support.ts';
import { bundleWriterChild, spawnWriter } from './test-children/spawn-writer.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let bundle: string;

beforeAll(async () => {
  tmp = await tempDir('llmaudit-lock-');
  bundle = await bundleWriterChild(tmp.dir);
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('isStale', () => {
  const holder: LockInfo = { pid: 42, startTime: '1000', host: 'pod-a', createdAt: '' };
  it('a live holder on this host keeps its lock', () => {
    expect(isStale(holder, 'pod-a', () => true, () => '1000')).toBe(false);
  });
  it('a dead holder on this host is stale', () => {
    expect(isStale(holder, 'pod-a', () => false, () => null)).toBe(true);
  });
  it('a reused pid (same pid, other start time, e.g. pid 1 of a restarted container) is stale', () => {
    expect(isStale(holder, 'pod-a', () => true, () => '2000')).toBe(true);
  });
  it('a holder on another host is never taken over', () => {
    expect(isStale(holder, 'pod-b', () => false, () => null)).toBe(false);
  });
  it('reads its own start time from /proc', () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
  });
});

describe('writer lock', () => {
  it('refuses a second writer on the same directory, in this process and in another', async () => {
    const keys = testKeys();
    const dir = path.join(tmp.dir, 'two-writers');
    const first = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await expect(openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_LOCKED' });
    await expect(acquireLock(dir)).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_LOCKED' });
    await first.close();
    const again = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await again.close();
  });

  it('a live writer process holds the lock; after SIGKILL its stale lock is taken over', async () => {
    const keys = testKeys();
    const dir = path.join(tmp.dir, 'killed');
    const w = spawnWriter(bundle, [dir, TEST_ORIGIN, keys.signerKey, 'hold', 'strict', '65536']);
    await w.waitFor((l) => l.includes('locked'));
    const held = JSON.parse(await readFile(path.join(dir, 'LOCK'), 'utf8')) as LockInfo;
    expect(held.pid).toBe(w.child.pid);
    await expect(openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_LOCKED' });
    w.child.kill('SIGKILL');
    await w.exited;
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await log.append(samplePayload(0));
    await log.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
  });

  it('an unparseable lock file (debris) is taken over', async () => {
    const dir = path.join(tmp.dir, 'debris');
    const keys = testKeys();
    await writeLog0(dir, keys.signerKey);
    await writeFile(path.join(dir, 'LOCK'), 'garbage');
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
    await log.close();
  });
});

async function writeLog0(dir: string, signerKey: string): Promise<void> {
  const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey });
  await log.close();
}
