// A writer in its own process, for the crash and lock tests (bundled by the test with esbuild).
// argv: <dir> <origin> <signerKey> <mode: hold|append|erase|retention|prune> <durability> <segmentMaxBytes> [blocking]
// (blocking: fdatasync with a blocking call, as on the sidecar's writer thread; blockingSync)
// stdout, one line per event: "locked" once the log is open, then "<seq> <hash>" for every append
// that resolved; in erase mode (every even seq, segments rewritten at 64 KB/s so a kill lands
// inside a rewrite) "<step> <detail>" for each step of the erasure; retention mode sweeps with
// maxTotalBytes 1 (every sealed segment) at the same rate; prune mode sweeps in mode delete-segments
// with maxTotalBytes 1 and stops for a moment after each step's line (a kill lands at that step). Pipes are synchronous on Linux, so a line written is in the pipe when the
// process is SIGKILLed right after.
import { openLog } from '../log-writer.ts';
import { samplePayload } from '../test-support.ts';
import { eraseEntries } from '../../erasure/erase.ts';
import { pruneRetention, sweepRetention } from '../../retention/sweep.ts';
import type { Durability } from '../types.ts';

const [dir, origin, signerKey, mode, durability, maxBytes, sync] = process.argv.slice(2) as [string, string, string, string, Durability, string, string | undefined];
const log = await openLog({ dir, origin, signerKey, durability, segmentMaxBytes: Number(maxBytes), blockingSync: sync === 'blocking' });
process.stdout.write('locked\n');
if (mode === 'append') {
  let i = log.size;
  const worker = async (): Promise<void> => {
    for (;;) {
      const r = await log.append(samplePayload(i++, 100 + (i % 7) * 300));
      process.stdout.write(`${r.seq} ${r.hash}\n`);
    }
  };
  // Eight appends in flight at all times: group commits of several entries.
  await Promise.all(Array.from({ length: 8 }, worker));
} else if (mode === 'erase') {
  await eraseEntries(log, {
    select: (e) => (e.seq as number) % 2 === 0,
    reason: 'crash test',
    by: 'test',
    bytesPerSecond: 64_000,
    onStep: (step, detail) => process.stdout.write(`${step} ${detail}\n`),
  });
  await log.close();
} else if (mode === 'retention') {
  await sweepRetention(log, { maxTotalBytes: 1 }, { bytesPerSecond: 64_000, onStep: (step, detail) => process.stdout.write(`${step} ${detail}\n`) });
  await log.close();
} else if (mode === 'prune') {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  await pruneRetention(log, { maxTotalBytes: 1, mode: 'delete-segments' }, {
    onStep: (step, detail) => {
      process.stdout.write(`${step} ${detail}\n`);
      Atomics.wait(pause, 0, 0, 200);
    },
  });
  await log.close();
} else {
  setInterval(() => undefined, 1 << 30);
}
