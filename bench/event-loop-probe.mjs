// Preloaded into a proxy under test by bench/proxy.ts (`node --import ./bench/event-loop-probe.mjs`)
// when LLMAUDIT_BENCH_ELD names a file: the process's event-loop delay (perf_hooks
// monitorEventLoopDelay, 1 ms resolution). Each SIGUSR2 writes what was seen since the previous
// one to that file as JSON ({ maxMs, p99Ms, meanMs, samples }) and starts over.
//
// With LLMAUDIT_BENCH_BLOCKS=1 the main thread is also sampled by V8's CPU profiler (every 100 µs,
// through node:inspector, idle time marked) and each SIGUSR2 adds the synchronous blocks seen since
// the previous one: runs of consecutive samples that are not idle. A run's wall time counts the
// time the thread was not running at all (another process had the core); its samples do not (a
// thread off its core takes no sample), so a run's CPU time is its samples times the interval.
// `longestBlockMs` is the longest run's CPU time, and `blocks` the runs over 1 ms of CPU, longest
// first (at most 20), each with its wall time and the functions that took most of its samples.
// A run ends only where the thread went idle, so several turns of the event loop in a row (a body
// parsed a piece per turn while nothing else waits) make one run: blocks say where the time
// went, not how long one turn was. That is `turnMaxMs`: a 1 ms timer notes, each time it runs, the
// time since its previous run less the time the main thread spent waiting for a core meanwhile
// (the run queue delay of /proc/self/task/PID/schedstat, Linux, brought up to date each time the
// thread gets a core): the longest the loop went without coming back to its timers while it had
// a core, about 1 ms when the loop is busy with short turns. Its CPU clock (schedstat's first
// field) is not used: the kernel brings it up to date only at its ticks (every 4 ms at HZ=250).
// The profiler and the timer cost CPU: phases that measure CPU run without them.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.LLMAUDIT_BENCH_ELD;
const BLOCK_MS = 1;
const INTERVAL_US = 100;

/** Runs of non-idle samples in a V8 CPU profile: [{ ms (CPU), wallMs, top: ['fn file:line µs', ...] }], longest first. */
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
    cur ??= { us: 0, n: 0, self: new Map() };
    cur.us += us;
    cur.n++;
    const k = label(n);
    cur.self.set(k, (cur.self.get(k) ?? 0) + 1);
  }
  if (cur !== null) runs.push(cur);
  runs.sort((a, b) => b.n - a.n);
  return runs.map((r) => ({
    ms: (r.n * INTERVAL_US) / 1000,
    wallMs: Math.round(r.us) / 1000,
    top: [...r.self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k} ${n * INTERVAL_US}µs`),
  }));
}

if (file !== undefined && file !== '') {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let session = null;
  let turnMaxNs = 0;
  /** Starts the CPU clock's window over (after the profile is read: that work is the probe's, not the exchanges'). */
  let restartTurns = () => {};
  if (process.env.LLMAUDIT_BENCH_BLOCKS === '1') {
    let fd = -1;
    try {
      fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
    } catch {
      // not Linux: no turnMaxMs
    }
    if (fd !== -1) {
      const b = Buffer.alloc(128);
      // Wall time less the main thread's (task id = pid) run queue delay, schedstat's second field: nanoseconds.
      const onCoreNs = () => Number(process.hrtime.bigint()) - Number(b.toString('latin1', 0, readSync(fd, b, 0, b.length, 0)).split(' ')[1]);
      let last = onCoreNs();
      const t = setInterval(() => {
        const now = onCoreNs();
        if (now - last > turnMaxNs) turnMaxNs = now - last;
        last = now;
      }, 1);
      t.unref();
      restartTurns = () => {
        turnMaxNs = 0;
        last = onCoreNs();
      };
      process.on('exit', () => closeSync(fd));
    }
    process._startProfilerIdleNotifier?.();
    session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: INTERVAL_US });
    session.post('Profiler.start');
  }
  const ms = (ns) => Math.round(ns / 1e3) / 1e3;
  process.on('SIGUSR2', () => {
    const eld = { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean), samples: h.count };
    const turnMaxMs = ms(turnMaxNs);
    h.reset();
    if (session === null) {
      writeFileSync(file, JSON.stringify(eld));
      return;
    }
    session.post('Profiler.stop', (err, res) => {
      const blocks = err === null ? blocksOf(res.profile) : [];
      session.post('Profiler.start');
      h.reset();
      restartTurns();
      writeFileSync(file, JSON.stringify({ ...eld, turnMaxMs, longestBlockMs: blocks[0]?.ms ?? 0, blocks: blocks.filter((b) => b.ms > BLOCK_MS).slice(0, 20) }));
    });
  });
}
