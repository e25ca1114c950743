// The proxy's per-exchange counters and histograms keep their own series: what /metrics shows must
// be exactly what prom-client's own Counter and Histogram show for the same updates.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram } from './fast-metrics.ts';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** A deterministic stream of numbers spread over the buckets and past the last one. */
function values(n: number): number[] {
  let x = 12345;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return (x / 2 ** 31) ** 3 * 400;
  });
}

describe('FastCounter and FastHistogram', () => {
  it('scrape exactly as prom-client does after the same labelled and unlabelled updates', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const hist = (r: Registry, fast: boolean) => {
      const config = { name: 'h_seconds', help: 'h.', labelNames: ['endpoint', 'api'] as const, buckets: BUCKETS, registers: [r] };
      return fast ? new FastHistogram({ ...config, labelNames: [...config.labelNames] }) : new Histogram({ ...config, labelNames: [...config.labelNames] });
    };
    const plainHist = (r: Registry, fast: boolean) => (fast ? new FastHistogram({ name: 'p_seconds', help: 'p.', buckets: BUCKETS, registers: [r] }) : new Histogram({ name: 'p_seconds', help: 'p.', buckets: BUCKETS, registers: [r] }));
    const counter = (r: Registry, fast: boolean) => {
      const config = { name: 'c_total', help: 'c.', labelNames: ['endpoint', 'api', 'status'], registers: [r] };
      return fast ? new FastCounter(config) : new Counter(config);
    };
    const plainCounter = (r: Registry, fast: boolean) => (fast ? new FastCounter({ name: 'u_total', help: 'u.', registers: [r] }) : new Counter({ name: 'u_total', help: 'u.', registers: [r] }));
    const sets = [ours, theirs].map((r, i) => ({ h: hist(r, i === 0), p: plainHist(r, i === 0), c: counter(r, i === 0), u: plainCounter(r, i === 0) }));
    const vs = values(2000);
    for (const s of sets) {
      vs.forEach((v, i) => {
        const endpoint = ['openai', 'anthropic', 'ollama'][i % 3] as string;
        // Label objects in different key orders fall into the same series, as in prom-client.
        s.h.observe(i % 2 === 0 ? { endpoint, api: 'chat' } : { api: 'chat', endpoint }, v);
        s.p.observe(v / 1000);
        s.c.inc({ endpoint, api: 'chat', status: i % 7 === 0 ? 500 : '200' });
        s.c.inc({ endpoint, api: 'chat', status: 'bytes' }, Math.floor(v * 1000));
        s.u.inc(i % 5 === 0 ? 0 : v);
      });
      s.c.inc({ endpoint: 'zero', api: 'chat', status: '200' }, 0);
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toMatch(/^h_seconds_bucket\{le="\+Inf",endpoint="openai",api="chat"\} 667$/m);
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('refuses what prom-client refuses: bad values and unknown label names', () => {
    const c = new FastCounter({ name: 'c_total', help: 'c.', labelNames: ['a'], registers: [] });
    expect(() => c.inc({ a: 'x' }, -1)).toThrow('It is not possible to decrease a counter');
    expect(() => c.inc({ a: 'x' }, Number.NaN)).toThrow('Value is not a valid number');
    expect(() => c.inc({ b: 'x' } as never)).toThrow('Added label "b" is not included in initial labelset');
    const h = new FastHistogram({ name: 'h_seconds', help: 'h.', labelNames: ['a'], buckets: BUCKETS, registers: [] });
    expect(() => h.observe({ a: 'x' }, Number.POSITIVE_INFINITY)).toThrow('Value is not a valid number');
    expect(() => h.observe({ b: 'x' } as never, 1)).toThrow('Added label "b" is not included in initial labelset');
    expect(() => h.labels()).toThrow('not supported');
  });
});
