/**
 * `npm run bench -- prune [--quick] [--json]`: retention mode delete-segments (docs/erasure.md
 * "Retention", ADR 0022), on one log the writer wrote (batched, 256 appends in flight, ~1 KiB
 * entries, 4 MiB segments), all rows in one run:
 *   verify full      verifyLog of the whole log before the prune (the baseline row)
 *   verify from-seq  verifyLog with fromSeq at 90 % of the log (no prune: the tiles give the tree)
 *   prune            pruneRetention with maxTotalBytes at 10 % of the log: reads and hashes the
 *                    entries to delete (checked against the tiles), scans the kept part for media,
 *                    appends the record, seals, deletes the segments
 *   verify pruned    verifyLog of the pruned log (from its cut); again on a copy without the
 *                    checkpoints older than the cut (each costs a consistency proof from the tiles)
 * Seconds of wall time, CPU-seconds of this process, MB of segment files read; one core.
 * Sizes: 100k entries; --quick: 20k.
 */
import { cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openLog } from '../sidecar/src/auditlog/log-writer.ts';
import { verifyLog } from '../sidecar/src/auditlog/verifier.ts';
import { samplePayload, testKeys, TEST_ORIGIN } from '../sidecar/src/auditlog/test-support.ts';
import { pruneRetention } from '../sidecar/src/retention/sweep.ts';

export interface PruneRow {
  step: string;
  entries: number;
  mb: number;
  secs: number;
  cpuSecs: number;
}

const BODY = 700;
const SEGMENT = 4 * 1024 * 1024;

async function segmentBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) if (f.startsWith('seg-')) n += (await stat(path.join(dir, f))).size;
  return n;
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; secs: number; cpuSecs: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await run();
  const c = process.cpuUsage(c0);
  return { value, secs: Number(((performance.now() - t0) / 1000).toFixed(2)), cpuSecs: Number(((c.user + c.system) / 1e6).toFixed(2)) };
}

export async function runPruneBench(opts: { quick?: boolean; log?: ((s: string) => void) | undefined } = {}): Promise<PruneRow[]> {
  const say = opts.log ?? (() => undefined);
  const entries = opts.quick === true ? 20_000 : 100_000;
  const keys = testKeys();
  const root = await mkdtemp(path.join(tmpdir(), 'llmaudit-bench-prune-'));
  const dir = path.join(root, 'chain');
  const rows: PruneRow[] = [];
  try {
    say(`writing ${entries} entries`);
    const log = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'batched', segmentMaxBytes: SEGMENT });
    const payloads = Array.from({ length: 64 }, (_, i) => samplePayload(i, BODY));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries) await log.append(payloads[next++ % payloads.length] as (typeof payloads)[number]);
    };
    await Promise.all(Array.from({ length: 256 }, worker));
    await log.close();
    const bytes = await segmentBytes(dir);
    const copy = path.join(root, 'copy');
    await cp(dir, copy, { recursive: true });

    say('verify full');
    const full = await timed(() => verifyLog(dir, { keys: [keys.verifier] }));
    if (full.value.exit !== 0) throw new Error(`verify: ${full.value.failure?.message ?? ''}`);
    rows.push({ step: 'verify full', entries, mb: Number((bytes / 1e6).toFixed(1)), secs: full.secs, cpuSecs: full.cpuSecs });

    say('verify --from-seq');
    const fromSeq = Math.floor(entries * 0.9);
    const from = await timed(() => verifyLog(copy, { keys: [keys.verifier], fromSeq }));
    if (from.value.exit !== 0) throw new Error(`verify --from-seq: ${from.value.failure?.message ?? ''}`);
    rows.push({ step: 'verify from-seq 90%', entries: entries - from.value.from, mb: Number((bytes / 1e6).toFixed(1)), secs: from.secs, cpuSecs: from.cpuSecs });

    say('prune');
    const reopened = await openLog({ dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, durability: 'batched', segmentMaxBytes: SEGMENT });
    const p = await timed(() => pruneRetention(reopened, { maxTotalBytes: Math.floor(bytes * 0.1), mode: 'delete-segments' }));
    await reopened.close();
    rows.push({ step: 'prune', entries: p.value.entriesDeleted, mb: Number((bytes / 1e6).toFixed(1)), secs: p.secs, cpuSecs: p.cpuSecs });

    say('verify pruned');
    const kept = await segmentBytes(dir);
    const pruned = await timed(() => verifyLog(dir, { keys: [keys.verifier] }));
    if (pruned.value.exit !== 0) throw new Error(`verify pruned: ${pruned.value.failure?.message ?? ''}`);
    rows.push({ step: 'verify pruned', entries: pruned.value.entries - pruned.value.from, mb: Number((kept / 1e6).toFixed(1)), secs: pruned.secs, cpuSecs: pruned.cpuSecs });

    // What the checkpoints older than the cut cost (one consistency proof from the tiles each): the
    // same verification with them removed.
    say('verify pruned, without the checkpoints below the cut');
    const fewer = path.join(root, 'fewer');
    await cp(dir, fewer, { recursive: true });
    const old = (await readdir(path.join(fewer, 'checkpoints'))).filter((n) => Number(n) < pruned.value.from);
    for (const n of old) await rm(path.join(fewer, 'checkpoints', n));
    const f = await timed(() => verifyLog(fewer, { keys: [keys.verifier] }));
    if (f.value.exit !== 0) throw new Error(`verify pruned without old checkpoints: ${f.value.failure?.message ?? ''}`);
    rows.push({ step: `  minus ${old.length} old checkpoints`, entries: f.value.entries - f.value.from, mb: Number((kept / 1e6).toFixed(1)), secs: f.secs, cpuSecs: f.cpuSecs });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const rows = await runPruneBench({ quick: args.includes('--quick'), log: json ? undefined : (s) => process.stderr.write(`… ${s}\n`) });
  if (!json) {
    const pad = (v: unknown, n: number) => String(v).padStart(n);
    process.stdout.write(`${'step'.padEnd(22)}${pad('entries', 9)}${pad('MB', 8)}${pad('s', 8)}${pad('CPU-s', 8)}\n`);
    for (const r of rows) process.stdout.write(`${r.step.padEnd(22)}${pad(r.entries, 9)}${pad(r.mb, 8)}${pad(r.secs, 8)}${pad(r.cpuSecs, 8)}\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'prune', at: new Date().toISOString(), node: process.version, rows })}\n`);
}
