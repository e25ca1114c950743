import { describe, expect, it } from 'vitest';
import type { AuditPolicyStatus } from '../api/audit-policy.ts';
import type { WitnessedHead } from './heads.ts';
import { rollupHeads, withWitnessStatus } from './rollup.ts';

const NOW = new Date('2026-12-07T02:00:00Z');
const head = (pod: string, size: number, time: string, extra: Partial<WitnessedHead> = {}): WitnessedHead => ({
  origin: `llmaudit.dev/ns/${pod}/uid-${pod}`,
  size,
  rootHash: 'AAAA',
  time,
  pod,
  podUid: `uid-${pod}`,
  policy: 'audit',
  recent: [],
  ...extra,
});
const base: AuditPolicyStatus = {
  conditions: [
    { type: 'Ready', status: 'True', reason: 'Reconciled', message: 'ok', lastTransitionTime: '2026-12-07T00:00:00Z' },
    { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no problems found', lastTransitionTime: '2026-12-07T00:00:00Z' },
  ],
};
const ctx = { generation: 1, previous: base.conditions, now: '2026-12-07T02:00:00Z', witnessKey: 'witness.llmaudit.dev/ops+01020304+BAAA' };

describe('witness rollup', () => {
  it('sums entries, takes the newest time, and names stale chains only for live pods', () => {
    const heads = {
      a: head('a', 10, '2026-12-07T01:59:50Z'),
      b: head('b', 5, '2026-12-07T01:50:00Z'),
      // A deleted pod's chain is complete, not stale: it stays witnessed until the policy goes.
      c: head('c', 7, '2026-12-07T01:00:00Z'),
    };
    const r = rollupHeads(heads, { livePodUids: new Set(['uid-a', 'uid-b']), checkpointIntervalSeconds: 30, now: NOW });
    expect(r).toEqual({ chains: 3, entries: 22, lastCheckpointTime: '2026-12-07T01:59:50Z', witnessed: ['a', 'b', 'c'], stale: ['b'], inconsistent: [] });
    const status = withWitnessStatus(base, r, ctx);
    expect(status).toMatchObject({ chains: 3, entries: 22, staleChains: ['b'], witnessKey: ctx.witnessKey });
    expect(status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ status: 'True', reason: 'Witnessed' });
    expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ChainsStale' });
  });

  it('turns Verified False with reason Inconsistent for a refused chain', () => {
    const refused = { kind: 'rollback' as const, time: '2026-12-07T01:59:00Z', size: 3, rootHash: 'BBBB', message: 'rolled back' };
    const r = rollupHeads({ a: head('a', 10, '2026-12-07T01:59:50Z', { refused }), b: head('b', 1, '2026-12-07T01:59:50Z') }, { livePodUids: new Set(), checkpointIntervalSeconds: 30, now: NOW });
    const status = withWitnessStatus(base, r, ctx);
    expect(status.inconsistentChains).toEqual(['a']);
    expect(status.witnessedChains).toEqual(['b']);
    expect(status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ status: 'False', reason: 'Inconsistent', lastTransitionTime: ctx.now });
    expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ChainsInconsistent' });
  });

  it('says Unknown before any checkpoint arrived', () => {
    const status = withWitnessStatus(base, rollupHeads({}, { livePodUids: new Set(), checkpointIntervalSeconds: 30, now: NOW }), ctx);
    expect(status).toMatchObject({ chains: 0, entries: 0 });
    expect(status.conditions?.find((c) => c.type === 'Verified')).toMatchObject({ status: 'Unknown', reason: 'NoCheckpoints' });
    expect(status.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('False');
  });
});
