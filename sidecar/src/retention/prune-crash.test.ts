// Crash safety of a prune (retention mode delete-segments): a process pruning a log (append the
// record, seal, delete segments oldest first, delete media) is SIGKILLed at each step in turn;
// after each kill the log verifies, and the next prune finishes the interrupted one.
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../auditlog/verifier.ts';
import { listSegments } from '../auditlog/layout.ts';
import { openLog } from '../auditlog/log-writer.ts';
import { tempDir, testKeys, writeLog, TEST_ORIGIN, type TestKeys } from '../auditlog/test-support.ts';
import { bundleWriterChild, spawnWriter } from '../auditlog/test-children/spawn-writer.ts';
import { pruneRetention } from './sweep.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let bundle: string;
let keys: TestKeys;
let pristine: string;

beforeAll(async () => {
  tmp = await tempDir('llmaudit-prune-crash-');
  bundle = await bundleWriterChild(tmp.dir);
  keys = testKeys();
  pristine = path.join(tmp.dir, 'pristine');
  // ~1.3 KB per entry, 60 KB segments: 600 entries in 13 segments; tiles cover 512.
  await writeLog(pristine, keys, 600, { segmentMaxBytes: 60_000 });
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('prune: SIGKILL at any step', () => {
  it('the log verifies after a kill at each step, and the next prune finishes the interrupted one', { timeout: 180_000 }, async () => {
    const killedAt: string[] = [];
    let warnedIncomplete = 0;
    for (let i = 0; i < 10; i++) {
      const dir = path.join(tmp.dir, `prune-${i}`);
      await cp(pristine, dir, { recursive: true });
      const w = spawnWriter(bundle, [dir, TEST_ORIGIN, keys.signerKey, 'prune', 'strict', '60000']);
      // Line 0 is "locked"; then "recorded", "sealed", "deleted seg-..." per segment, "done".
      await w.waitFor((l) => l.length > i);
      w.child.kill('SIGKILL');
      const lines = await w.exited;
      killedAt.push(lines[i] ?? '');
      const r = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
      expect(r.failure, `kill after "${lines[i] ?? ''}"`).toBeNull();
      if (r.warnings.some((x) => x.includes('is incomplete'))) warnedIncomplete++;

      const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 60_000 });
      while ((await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' })).segmentsDeleted > 0);
      await log.close();
      const done = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
      expect(done.failure).toBeNull();
      expect(done.warnings.filter((x) => x.includes('is incomplete'))).toEqual([]);
      // Every sealed segment below the last full tile is gone.
      expect(done.from).toBeGreaterThan(400);
      expect((await listSegments(dir))[0]?.number).toBeGreaterThan(9);
    }
    // Kills landed after the record, after the seal and between deletions.
    expect(killedAt.filter((l) => l.startsWith('recorded'))).toHaveLength(1);
    expect(killedAt.filter((l) => l.startsWith('sealed'))).toHaveLength(1);
    expect(killedAt.filter((l) => l.startsWith('deleted')).length).toBeGreaterThan(4);
    expect(warnedIncomplete).toBeGreaterThan(4);
  });
});
