// Broken upstreams behind the proxy, under both durabilities: the client's answer (or cut) and the
// entry say what the upstream did, exactly one entry per exchange, the proxy keeps answering, the
// chain verifies and no credential reaches the disk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamFaults } from './upstream-faults.ts';
import { startBench, type Bench } from './suite.ts';

const cases = upstreamFaults();

describe.each(['batched', 'strict'] as const)('upstream faults, durability %s', (durability) => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench(durability);
  });
  afterAll(async () => {
    await bench.close();
  });

  it('are at least 40 per durability (80 in all)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    await bench.run(c, `u-${durability}-${i}`);
  });

  it('leave a chain that verifies, every entry on disk, and no credential on disk', async () => {
    await bench.finish();
  });
});
