// Crash test: a writer process appending under load is SIGKILLed at random points, many
// times. After each kill the next open recovers the chain, the log verifies, and every append the
// child saw resolve is in the log with the hash it was given (strict: fdatasynced before resolve;
// batched: written before resolve, which survives a process kill though not a power loss), and
// proofs read from the tiles the killed writer left verify, before and after recovery.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLog } from './log-writer.ts';
import { verifyLog } from './verifier.ts';
import { openLogReader } from './log-reader.ts';
import { verifyProofBundle } from './proof-bundle.ts';
import { tempDir, testKeys, TEST_ORIGIN } from './test-support.ts';
import { bundleWriterChild, spawnWriter } from './test-children/spawn-writer.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let bundle: string;

beforeAll(async () => {
  tmp = await tempDir('llmaudit-crash-');
  bundle = await bundleWriterChild(tmp.dir);
});
afterAll(async () => {
  await tmp.cleanup();
});

async function hashesBySeq(dir: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const f of (await readdir(dir)).filter((x) => x.startsWith('seg-')).sort()) {
    for (const l of (await readFile(path.join(dir, f), 'utf8')).split('\n')) {
      if (l === '') continue;
      const e = JSON.parse(l) as { seq: number; hash: string };
      out.set(e.seq, e.hash);
    }
  }
  return out;
}

describe('crash: SIGKILL under load', () => {
  it('every resolved append survives and the chain verifies after each of 20 kills', { timeout: 120_000 }, async () => {
    const keys = testKeys();
    const dir = path.join(tmp.dir, 'chain');
    const resolved = new Map<number, string>();
    let kills = 0;
    for (let i = 0; i < 20; i++) {
      const durability = i % 4 === 3 ? 'batched' : 'strict';
      // Every other four kills the writer fdatasyncs with a blocking call, as on the sidecar's writer thread.
      const sync = Math.floor(i / 4) % 2 === 1 ? ['blocking'] : [];
      // Small segments so that kills also land in seals and segment rolls.
      const w = spawnWriter(bundle, [dir, TEST_ORIGIN, keys.signerKey, 'append', durability, '20000', ...sync]);
      const target = 1 + Math.floor(Math.random() * 60);
      await w.waitFor((l) => l.length > target);
      w.child.kill('SIGKILL');
      kills++;
      for (const line of await w.exited) {
        if (line === 'locked' || line === '') continue;
        const [seq, hash] = line.split(' ') as [string, string];
        resolved.set(Number(seq), hash);
      }
      // Before any recovery: a proof against the newest checkpoint the killed writer stored, from
      // the tiles it left (partial tiles of a later size, or a temporary file, when killed between
      // writing them and storing that checkpoint).
      const before = await openLogReader(dir);
      if (before.latestCheckpoint !== null && before.latestCheckpoint.size > 0) {
        const seq = Math.floor(Math.random() * before.latestCheckpoint.size);
        expect(verifyProofBundle(await before.prove(seq), [keys.verifier]).index, `after kill ${kills}`).toBe(seq);
      }
      // Restart: recovery on open (stale lock, torn tail), then an intact chain.
      const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey });
      await log.close();
      const after = await openLogReader(dir);
      const size = after.latestCheckpoint?.size ?? 0;
      for (const seq of [0, size - 1, Math.floor(Math.random() * size)].filter((s) => s >= 0)) {
        expect(verifyProofBundle(await after.prove(seq), [keys.verifier]).index, `after kill ${kills}`).toBe(seq);
      }
      const report = await verifyLog(dir, { keys: [keys.verifier] });
      expect(report.failure, `after kill ${kills}`).toBeNull();
      const onDisk = await hashesBySeq(dir);
      for (const [seq, hash] of resolved) expect(onDisk.get(seq), `seq ${seq} after kill ${kills}`).toBe(hash);
    }
    expect(resolved.size).toBeGreaterThan(20);
  });
});
