// Preloaded into a proxy under test by bench/proxy.ts (`node --import ./bench/event-loop-probe.mjs`)
// when LLMAUDIT_BENCH_ELD names a file: the process's event-loop delay (perf_hooks
// monitorEventLoopDelay, 1 ms resolution). Each SIGUSR2 writes what was seen since the previous
// one to that file as JSON ({ maxMs, p99Ms, meanMs, samples }) and starts over.
//
// With LLMAUDIT_BENCH_BLOCKS=1 the main thread is also sampled by V8's CPU profiler (every 100 µs,
// through node:inspector, idle time marked) and each SIGUSR2 adds the synchronous blocks seen since
// the previous one: `longestBlockMs` (the longest run of consecutive samples that are not idle) and
// `blocks`, the runs over 1 ms, longest first (at most 20), each with the functions that took most
// of its samples (self time). The profiler costs CPU: phases that measure CPU run without it.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.LLMAUDIT_BENCH_ELD;
const BLOCK_MS = 1;

/** Runs of non-idle samples in a V8 CPU profile: [{ ms, top: ['fn file:line µs', ...] }], longest first. */
function blocksOf(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const label = (n) => `${n.callFrame.functionName || '(anonymous)'} ${(n.callFrame.url.split('/').pop() ?? '')}:${n.callFrame.lineNumber + 1}`;
  const runs = [];
  let cur = null;
  const samples = profile.samples;
  const deltas = profile.timeDeltas;
  for (let i = 0; i < samples.length; i++) {
    const n = nodes.get(samples[i]);
    // A sample's time is the gap to the next one.
    const us = i + 1 < deltas.length ? deltas[i + 1] : 0;
    if (n === undefined || n.callFrame.functionName === '(idle)') {
      if (cur !== null) runs.push(cur);
      cur = null;
      continue;
    }
    cur ??= { us: 0, self: new Map() };
    cur.us += us;
    const k = label(n);
    cur.self.set(k, (cur.self.get(k) ?? 0) + us);
  }
  if (cur !== null) runs.push(cur);
  runs.sort((a, b) => b.us - a.us);
  return runs.map((r) => ({
    ms: Math.round(r.us) / 1000,
    top: [...r.self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, us]) => `${k} ${Math.round(us)}µs`),
  }));
}

if (file !== undefined && file !== '') {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let session = null;
  if (process.env.LLMAUDIT_BENCH_BLOCKS === '1') {
    process._startProfilerIdleNotifier?.();
    session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 100 });
    session.post('Profiler.start');
  }
  const ms = (ns) => Math.round(ns / 1e3) / 1e3;
  process.on('SIGUSR2', () => {
    const eld = { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean), samples: h.count };
    h.reset();
    if (session === null) {
      writeFileSync(file, JSON.stringify(eld));
      return;
    }
    session.post('Profiler.stop', (err, res) => {
      const blocks = err === null ? blocksOf(res.profile) : [];
      session.post('Profiler.start');
      h.reset();
      writeFileSync(file, JSON.stringify({ ...eld, longestBlockMs: blocks[0]?.ms ?? 0, blocks: blocks.filter((b) => b.ms > BLOCK_MS).slice(0, 20) }));
    });
  });
}
