// Hostile clients against one proxy: every bad input gets a clear answer (or is recorded as gone),
// reaches the upstream only when it is a request the upstream should judge, is recorded exactly
// once when it reached a route, and leaves the proxy answering; the chain verifies afterwards and
// no credential is on disk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientInputs, useSecret } from './client-inputs.ts';
import { SECRET, startBench, type Bench } from './suite.ts';

useSecret(SECRET);
const cases = clientInputs();

describe('bad client inputs', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench();
  });
  afterAll(async () => {
    await bench.close();
  });

  it('are at least 300', () => {
    expect(cases.length).toBeGreaterThanOrEqual(300);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    await bench.run(c, `c${i}`);
  });

  it('leave a chain that verifies, every entry on disk, and no credential on disk', async () => {
    await bench.finish();
  });
});
