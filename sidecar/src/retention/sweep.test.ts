// Retention on a real log: sealed segments past maxAgeDays or beyond maxTotalBytes have their
// content erased (reason retention) while the open segment, the chain and the checkpoints stay;
// the scheduled sweep counts what it erased in its metrics and logs one line.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { openLog, type AuditLog } from '../auditlog/log-writer.ts';
import { verifyLog } from '../auditlog/verifier.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from '../auditlog/test-support.ts';
import { createRetentionMetrics, startRetention, sweepRetention } from './sweep.ts';
import type { Entry } from '../auditlog/types.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const keys = testKeys();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

/** 20 entries written on day 0 and 20 on day 40, ~6 per segment; the clock then reads `at`. */
async function agedLog(): Promise<{ dir: string; log: AuditLog; clock: { now: number } }> {
  const tmp = await tempDir('llmaudit-retention-');
  cleanups.push(tmp.cleanup);
  const clock = { now: T0 };
  const log = await openLog({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, segmentMaxBytes: 10_000, now: () => clock.now });
  cleanups.push(() => log.close());
  for (let i = 0; i < 20; i++) await log.append(samplePayload(i));
  await log.seal();
  clock.now = T0 + 40 * DAY;
  for (let i = 20; i < 40; i++) await log.append(samplePayload(i));
  return { dir: tmp.dir, log, clock };
}

async function entries(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const f of (await readdir(dir)).filter((x) => x.startsWith('seg-')).sort()) {
    for (const l of (await readFile(path.join(dir, f), 'utf8')).split('\n')) if (l !== '') out.push(JSON.parse(l) as Entry);
  }
  return out;
}

describe('retention sweep', () => {
  it('maxAgeDays: erases the content of the day-0 segments only; the log verifies with the erased count', async () => {
    const { dir, log, clock } = await agedLog();
    clock.now = T0 + 45 * DAY;
    const r = await sweepRetention(log, { maxAgeDays: 30 }, { now: () => clock.now });
    expect(r.entries).toBe(20);
    expect(r.bytesFreed).toBeGreaterThan(0);
    const es = await entries(dir);
    expect(es.slice(0, 20).every((e) => (e.request.body as { erased?: { reason: string } }).erased?.reason === 'retention')).toBe(true);
    expect(es.slice(20, 40).every((e) => typeof e.parts?.['/request/body']?.salt === 'string')).toBe(true);
    expect(es[40]).toMatchObject({ kind: 'erasure', erasure: { reason: 'retention', by: 'llmaudit retention', entries: [[0, 19]] } });
    await log.close();
    const v = await verifyLog(dir, { keys: [keys.verifier], entrySignatures: 'all' });
    expect(v.failure).toBeNull();
    expect(v.erased).toEqual({ parts: 80, entries: 20, records: [40] });
  });

  it('a second sweep finds nothing more past retention and appends no record', async () => {
    const { dir, log, clock } = await agedLog();
    clock.now = T0 + 45 * DAY;
    expect((await sweepRetention(log, { maxAgeDays: 30 }, { now: () => clock.now })).entries).toBe(20);
    const again = await sweepRetention(log, { maxAgeDays: 30 }, { now: () => clock.now });
    expect(again).toMatchObject({ entries: 0, recordSeq: null });
    await log.close();
    expect((await entries(dir)).filter((e) => e.kind === 'erasure')).toHaveLength(1);
  });

  it('maxTotalBytes: erases the oldest sealed segments until the directory is under the limit, never the open one', async () => {
    const { dir, log } = await agedLog();
    const open = log.stats().segment;
    const r = await sweepRetention(log, { maxTotalBytes: 1 });
    // Every sealed segment is erased (the limit cannot be met), the open one is not.
    const es = await entries(dir);
    const kept = es.filter((e) => e.kind === undefined && typeof e.parts?.['/request/body']?.salt === 'string');
    expect(r.entries + kept.length).toBe(40);
    expect(kept.length).toBeGreaterThan(0);
    expect(r.segments).toBe(open - 1);
    await log.close();
    expect((await verifyLog(dir, { keys: [keys.verifier] })).exit).toBe(0);
  });

  it('a v1 chain is left as it is: its entries cannot be erased, and the sweep does not fail', async () => {
    const tmp = await tempDir('llmaudit-retention-v1-');
    cleanups.push(tmp.cleanup);
    const log = await openLog({ dir: tmp.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, formatVersion: 1, segmentMaxBytes: 10_000, now: () => T0 });
    cleanups.push(() => log.close());
    for (let i = 0; i < 12; i++) await log.append(samplePayload(i));
    await log.seal();
    expect(await sweepRetention(log, { maxAgeDays: 1 })).toMatchObject({ entries: 0, recordSeq: null });
  });

  it('the scheduled sweep runs at start, counts erased entries and bytes freed, and logs one RetentionErased line', async () => {
    const { log, clock } = await agedLog();
    clock.now = T0 + 45 * DAY;
    const registry = new Registry();
    const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const logger = { info: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }), error: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }) };
    const metrics = createRetentionMetrics(registry);
    // The sweep reads the wall clock: day 45 of the log's clock is in the past, so maxAgeDays 1 covers day 0 and day 40.
    const r = startRetention(log, { maxAgeDays: 1 }, { metrics, logger });
    cleanups.push(() => r.stop());
    await r.idle();
    const text = await registry.metrics();
    expect(text).toMatch(/llmaudit_retention_erased_entries_total \d+/);
    const erased = Number(/llmaudit_retention_erased_entries_total (\d+)/.exec(text)?.[1]);
    expect(erased).toBeGreaterThanOrEqual(20);
    expect(Number(/llmaudit_retention_bytes_freed_total (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.obj).toMatchObject({ event: 'RetentionErased', entries: erased });
  });
});
