// Preloaded into a proxy under test by bench/proxy.ts (`node --import ./bench/event-loop-probe.mjs`)
// when LLMAUDIT_BENCH_ELD names a file: the process's event-loop delay (perf_hooks
// monitorEventLoopDelay, 1 ms resolution). Each SIGUSR2 writes what was seen since the previous
// one to that file as JSON ({ maxMs, p99Ms, meanMs, samples }) and starts over.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';

const file = process.env.LLMAUDIT_BENCH_ELD;
if (file !== undefined && file !== '') {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  process.on('SIGUSR2', () => {
    const ms = (ns) => Math.round(ns / 1e3) / 1e3;
    writeFileSync(file, JSON.stringify({ maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean), samples: h.count }));
    h.reset();
  });
}
