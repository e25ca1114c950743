// Preloaded into a proxy under test by bench/proxy.ts (`node --import ./bench/heap-probe.mjs`) for
// its memory anatomy, when LLMAUDIT_BENCH_HEAP names a file prefix. Node preloads it into every
// thread, so each isolate (the event loop's and the audit-log writer's) samples its own heap spaces
// every 100 ms (v8.getHeapSpaceStatistics: a few µs) and writes <prefix>.<thread>.json: the
// physical size of each space now and the highest so far, counted again from the moment the file
// <prefix>.reset appears (bench/proxy.ts creates it before the load it measures).
//
// With LLMAUDIT_BENCH_GC=1 it also counts the isolate's garbage collections (v8.GCProfiler, a
// profiler restarted every sample so that its records stay few): young-generation collections
// (Scavenge), full ones (Mark-Compact), the time each paused the isolate's thread (in
// ms), and the bytes each scavenge kept: what it left in the young generation plus what it moved
// into the old one. The counts in the file are totals since the process started.
import v8 from 'node:v8';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

const prefix = process.env.LLMAUDIT_BENCH_HEAP;
if (prefix !== undefined && prefix !== '') {
  const file = `${prefix}.${isMainThread ? 'main' : `thread-${threadId}`}.json`;
  const mib = (n) => Math.round((n / (1024 * 1024)) * 100) / 100;
  let peak = {};
  let reset = false;
  const gc = process.env.LLMAUDIT_BENCH_GC === '1' ? { scavenges: 0, markCompacts: 0, costMs: 0, survivedMb: 0 } : null;
  let profiler = null;
  const used = (stats, space) => stats.heapSpaceStatistics.find((x) => x.spaceName === space)?.spaceUsedSize ?? 0;
  const countGc = () => {
    if (gc === null) return;
    const r = profiler?.stop();
    profiler = new v8.GCProfiler();
    profiler.start();
    for (const x of r?.statistics ?? []) {
      gc.costMs += x.cost / 1000;
      if (x.gcType === 'Scavenge') {
        gc.scavenges++;
        const promoted = used(x.afterGC, 'old_space') - used(x.beforeGC, 'old_space');
        gc.survivedMb += (used(x.afterGC, 'new_space') + Math.max(0, promoted)) / (1024 * 1024);
      } else if (x.gcType === 'MarkSweepCompact') gc.markCompacts++;
    }
  };
  const sample = () => {
    countGc();
    const now = {};
    for (const s of v8.getHeapSpaceStatistics()) {
      if (s.physical_space_size === 0) continue;
      now[s.space_name] = mib(s.physical_space_size);
      peak[s.space_name] = Math.max(peak[s.space_name] ?? 0, now[s.space_name]);
    }
    const h = v8.getHeapStatistics();
    const total = { physical: mib(h.total_physical_size), malloced: mib(h.malloced_memory), external: mib(h.external_memory) };
    peak.total = Math.max(peak.total ?? 0, total.physical);
    // Written aside and renamed into place: the bench reads the file while the load runs, and a
    // half-written file read at that moment dropped the thread from the anatomy.
    writeFileSync(`${file}.tmp`, JSON.stringify({ thread: isMainThread ? 'main' : 'writer', now, peak, total, ...(gc === null ? {} : { gc }), ...(isMainThread ? { memoryUsage: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, mib(v)])) } : {}) }));
    renameSync(`${file}.tmp`, file);
  };
  const timer = setInterval(() => {
    if (!reset && existsSync(`${prefix}.reset`)) {
      peak = {};
      reset = true;
    }
    sample();
  }, 100);
  timer.unref();
  sample();
}
