// Crash safety of erasure: a process erasing a log (append the record, seal, rewrite segments via
// temp file + fsync + rename + directory fsync, delete media) is SIGKILLed at random steps; after
// each kill the log verifies, and running the erasure again finishes it.
import { watch } from 'node:fs';
import { cp, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../auditlog/verifier.ts';
import { tempDir, testKeys, writeLog, TEST_ORIGIN, type TestKeys } from '../auditlog/test-support.ts';
import { bundleWriterChild, spawnWriter } from '../auditlog/test-children/spawn-writer.ts';
import { eraseOffline } from './offline.ts';
import { parseSignerKey } from '../auditlog/signed-note.ts';
import { REWRITE_SUFFIX } from './erase.ts';
import { openLog } from '../auditlog/log-writer.ts';
import { sweepRetention } from '../retention/sweep.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let bundle: string;
let keys: TestKeys;
let pristine: string;

beforeAll(async () => {
  tmp = await tempDir('llmaudit-erase-crash-');
  bundle = await bundleWriterChild(tmp.dir);
  keys = testKeys();
  pristine = path.join(tmp.dir, 'pristine');
  // ~1.8 KB per entry, 12 KB segments: 40 entries in 7 sealed segments and the open one.
  await writeLog(pristine, keys, 40, { segmentMaxBytes: 12_000 });
});
afterAll(async () => {
  await tmp.cleanup();
});

/**
 * Runs the child in `mode` on 10 copies of the pristine log, kills it at a different step each
 * time (every other case inside a segment rewrite), checks the log verifies, then runs `finish`
 * in this process and checks the erasure is complete.
 */
async function killAtEverySteps(mode: 'erase' | 'retention', finish: (dir: string) => Promise<void>): Promise<number> {
  let sawTemp = 0;
  for (let i = 0; i < 10; i++) {
    const dir = path.join(tmp.dir, `${mode}-${i}`);
    await cp(pristine, dir, { recursive: true });
    // Temp files of rewrites as they appear, to kill inside a rewrite (between open and rename).
    let temps = 0;
    let onTemp: (() => void) | null = null;
    const watcher = watch(dir, (_event, f) => {
      if (f?.endsWith(REWRITE_SUFFIX) === true) {
        temps++;
        onTemp?.();
      }
    });
    const w = spawnWriter(bundle, [dir, TEST_ORIGIN, keys.signerKey, mode, 'strict', '12000']);
    // 0: right after the lock, 1: after the record, 2: after the seal, 3+: after some rewrites.
    const after = i % 6;
    await w.waitFor((l) => l.length > after);
    if (i % 2 === 1 && after >= 2) {
      const seen = temps;
      await new Promise<void>((resolve) => {
        onTemp = () => {
          if (temps > seen) resolve();
        };
        onTemp();
      });
    }
    w.child.kill('SIGKILL');
    await w.exited;
    watcher.close();
    if ((await readdir(dir)).some((f) => f.endsWith(REWRITE_SUFFIX))) sawTemp++;
    const r = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
    expect(r.failure, `${mode}: kill ${i} after ${after} steps`).toBeNull();
    await finish(dir);
  }
  return sawTemp;
}

describe('erase: SIGKILL at any step', () => {
  it('the log verifies after each of 10 kills, and erasing again completes the erasure', { timeout: 120_000 }, async () => {
    const sawTemp = await killAtEverySteps('erase', async (dir) => {
      await eraseOffline(dir, parseSignerKey(keys.signerKey), { select: (e) => (e.seq as number) % 2 === 0, reason: 'crash test', by: 'test' });
      const done = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
      expect(done.failure).toBeNull();
      expect(done.erased).toMatchObject({ entries: 20, parts: 80 });
    });
    // Kills landed inside a rewrite (a temp file left behind) at least once.
    expect(sawTemp).toBeGreaterThan(0);
  });

  it('a retention sweep killed at any step leaves a verifying log, and the next sweep completes it', { timeout: 120_000 }, async () => {
    const sawTemp = await killAtEverySteps('retention', async (dir) => {
      const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
      // The seal of the killed sweep may have closed the segment with the last entries: sweep until nothing is left.
      while ((await sweepRetention(log, { maxTotalBytes: 1 })).entries > 0);
      await log.close();
      const done = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
      expect(done.failure).toBeNull();
      expect(done.erased.entries).toBe(40);
    });
    expect(sawTemp).toBeGreaterThan(0);
  });
});
