import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { AppendResult, EntryPayload } from '../auditlog/types.ts';
import { logError } from '../auditlog/log-errors.ts';
import { openLogInThread } from '../auditlog/log-thread.ts';
import { samplePayload, tempDir, testKeys, TEST_ORIGIN } from '../auditlog/test-support.ts';
import { appendEntry, LogGate } from './log-gate.ts';
import { createProxyMetrics } from './metrics.ts';

const logger = pino({ level: 'silent' });
const payload = { id: 'x', model: 'm\ud800' } as unknown as EntryPayload;

describe('LogGate', () => {
  it('a closed gate is reopened by the first probe that succeeds', async () => {
    let writable = false;
    let probes = 0;
    const probe = async (): Promise<void> => {
      probes++;
      await Promise.resolve();
      if (!writable) throw new Error('ENOSPC');
    };
    const gate = new LogGate({ probe, logger, probeIntervalMs: 5 });
    gate.down = true;
    await vi.waitFor(() => expect(probes).toBeGreaterThan(2));
    expect(gate.down).toBe(true);
    writable = true;
    await vi.waitFor(() => expect(gate.down).toBe(false));
    gate.close();
  });

  it('a writer that stopped for good is not probed', async () => {
    let probes = 0;
    const gate = new LogGate({ probe: async () => void probes++, logger, probeIntervalMs: 5 });
    gate.noteFailure('LLMAUDIT_E_LOG_FAILED');
    gate.down = true;
    // Another gate with the same interval proves time passed for several probe ticks.
    let ticks = 0;
    const other = new LogGate({ probe: async () => void ticks++, logger, probeIntervalMs: 5 });
    other.noteFailure('LLMAUDIT_E_LOG_DISK_FULL');
    other.down = true;
    await vi.waitFor(() => expect(other.down).toBe(false));
    expect(probes).toBe(0);
    expect(gate.down).toBe(true);
    gate.close();
    other.close();
  });
});

describe('appendEntry', () => {
  it('a refused payload is appended again degraded, counted, and does not reject', async () => {
    const seen: EntryPayload[] = [];
    const sink = {
      append(p: EntryPayload): Promise<AppendResult> {
        if (seen.length === 0) {
          seen.push(p);
          return Promise.reject(logError('LLMAUDIT_E_LOG_PAYLOAD_INVALID', '$.model: string contains a lone UTF-16 surrogate'));
        }
        seen.push(p);
        return Promise.resolve({ seq: 0, hash: '0'.repeat(64), ts: 't' });
      },
    };
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const gate = new LogGate({ probe: null, logger });
    await expect(appendEntry({ sink, metrics, logger, logState: gate }, payload)).resolves.toMatchObject({ seq: 0 });
    expect(seen[1]?.model).toBe('m\ufffd');
    expect(seen[1]?.['degraded']).toMatchObject({ code: 'LLMAUDIT_E_ENTRY_DEGRADED', pointers: ['/model'] });
    expect(await registry.getSingleMetricAsString('llmaudit_log_degraded_entries_total')).toMatch(/ 1$/m);
    expect(gate.down).toBe(false);
  });

  it('a log that degrades refused payloads itself (the writer thread): one append, the degraded entry counted and logged', async () => {
    const t = await tempDir('llmaudit-gate-');
    const keys = testKeys();
    const log = await openLogInThread({ dir: t.dir, origin: TEST_ORIGIN, signerKey: keys.signerKey, degradeRefused: true });
    try {
      const lines: string[] = [];
      const warnings = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
      const registry = new Registry();
      const gate = new LogGate({ probe: null, logger: warnings });
      const refused = { ...samplePayload(7), model: 'm\ud800' };
      const r = await appendEntry({ sink: log, metrics: createProxyMetrics(registry), logger: warnings, logState: gate }, refused);
      expect(r).toMatchObject({ seq: 0, degraded: { withoutBodies: false } });
      expect(log.size).toBe(1);
      expect(await registry.getSingleMetricAsString('llmaudit_log_degraded_entries_total')).toMatch(/ 1$/m);
      expect(lines.map((l) => JSON.parse(l) as { id: string; code: string })).toEqual([expect.objectContaining({ id: 'req-7', code: 'LLMAUDIT_E_ENTRY_DEGRADED' })]);
      expect(gate.down).toBe(false);
      gate.close();
    } finally {
      await log.close();
      await t.cleanup();
    }
  });

  it('a write failure rejects (the gate closes) and its code is noted', async () => {
    const sink = { append: () => Promise.reject(logError('LLMAUDIT_E_LOG_DISK_FULL', 'ENOSPC')) };
    const gate = new LogGate({ probe: null, logger });
    await expect(appendEntry({ sink, metrics: createProxyMetrics(new Registry()), logger, logState: gate }, payload)).rejects.toMatchObject({ code: 'LLMAUDIT_E_LOG_DISK_FULL' });
  });
});
