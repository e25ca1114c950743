// `npm run bench [-- <name> [args...]]`: runs bench/<name>.ts, or every benchmark in BENCHES when
// no name is given. Each runs in its own process (`node --import tsx`), so one benchmark's heap,
// JIT state and event loop do not skew the next; each prints a readable table and one JSON line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Benchmarks run by `npm run bench` without a name. Add new ones here. */
const BENCHES = ['auditing', 'auditlog', 'governance', 'log-latency', 'log-lines', 'log-size', 'metrics', 'operator', 'proxy', 'prune', 'robustness', 'stream-frames', 'tracing', 'witness'];

const here = path.dirname(fileURLToPath(import.meta.url));
const [name, ...rest] = process.argv.slice(2);
const names = name === undefined || name.startsWith('-') ? BENCHES : [name];
const args = name === undefined || name.startsWith('-') ? process.argv.slice(2) : rest;
let failed = 0;
for (const n of names) {
  const file = path.join(here, `${n}.ts`);
  if (!/^[a-z0-9-]+$/.test(n) || !existsSync(file)) {
    process.stderr.write(`bench: no benchmark ${JSON.stringify(n)} (have: ${BENCHES.join(', ')})\n`);
    failed++;
    continue;
  }
  process.stdout.write(`\n== bench ${n} ==\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
