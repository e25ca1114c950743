import { describe, expect, it } from 'vitest';
import type { AuditPolicy } from '../api/audit-policy.ts';
import { renderConfigMapData } from '../render/render-config.ts';
import { testPolicy } from '../testing/fixtures.ts';
import { signingKeys } from './signing-keys.ts';
import { reconcilePolicy, type PolicyContext, type PolicyObserved } from './policy-decision.ts';

const keys = signingKeys;
const ctx: PolicyContext = { render: (p) => renderConfigMapData(p), verifierKey: keys.verifierKey, now: '2026-01-01T00:00:00Z' };
const none: PolicyObserved = { pods: { injected: 0, missing: [] }, workloads: 0 };
const withUid = (p: AuditPolicy): AuditPolicy => ({ ...p, metadata: { ...p.metadata, uid: 'u-1', generation: 3 } });

describe('reconcilePolicy', () => {
  it('asks for a Secret only when none exists and it was given a fresh key', () => {
    const p = withUid(testPolicy('chat', 'apps'));
    expect(reconcilePolicy(p, none, ctx).signingSecret).toBeUndefined();
    const fresh = keys.generateKey('k');
    const d = reconcilePolicy(p, { ...none, freshKey: fresh }, ctx);
    expect(d.signingSecret?.metadata).toMatchObject({ name: 'llmaudit-chat-signing', namespace: 'apps' });
    expect(d.status.publicKey).toBe(fresh.verifierKey);
    // Without a key and without a Secret the policy is not Ready (nothing can sign).
    expect(reconcilePolicy(p, none, ctx).status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'SigningSecretMissing' });
  });

  it('a policy that does not render keeps the old ConfigMap and reports ConfigInvalid on both conditions', () => {
    const p = withUid(testPolicy('chat', 'apps'));
    const d = reconcilePolicy(p, { ...none, freshKey: keys.generateKey('k') }, { ...ctx, render: () => { throw new Error('/endpoints/0/upstream: must match pattern'); } });
    expect(d.configMap).toBeUndefined();
    expect(d.status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'ConfigInvalid'],
      ['Degraded', 'True', 'ConfigInvalid'],
    ]);
    expect(d.status.conditions?.[0]?.message).toContain('/endpoints/0/upstream');
    expect(d.status.observedGeneration).toBe(3);
  });

  it('moves lastTransitionTime only when a condition changes status, and keeps witness fields', () => {
    const p = withUid(testPolicy('chat', 'apps'));
    const observed = { ...none, freshKey: keys.generateKey('k') };
    const first = reconcilePolicy(p, observed, ctx).status;
    const again = reconcilePolicy({ ...p, status: { ...first, chains: 4, entries: 99, lastCheckpointTime: '2026-01-01T00:00:30Z' } }, observed, { ...ctx, now: '2026-02-02T00:00:00Z' }).status;
    expect(again.conditions).toEqual(first.conditions);
    expect(again).toMatchObject({ chains: 4, entries: 99, lastCheckpointTime: '2026-01-01T00:00:30Z' });
    const missing = reconcilePolicy({ ...p, status: again }, { ...observed, pods: { injected: 0, missing: ['x'] } }, { ...ctx, now: '2026-03-03T00:00:00Z' }).status;
    expect(missing.conditions?.[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z'); // Ready stays True
    expect(missing.conditions?.[1]).toMatchObject({ status: 'True', reason: 'PodsMissingSidecar', lastTransitionTime: '2026-03-03T00:00:00Z' });
  });

  it('lists at most 20 missing pods by name but counts them all', () => {
    const p = withUid(testPolicy('chat', 'apps'));
    const names = Array.from({ length: 25 }, (_, i) => `p-${String(i).padStart(2, '0')}`);
    const s = reconcilePolicy(p, { ...none, freshKey: keys.generateKey('k'), pods: { injected: 1, missing: names } }, ctx).status;
    expect(s.podsMissing).toBe(25);
    expect(s.missingPods).toHaveLength(20);
  });

  it('creates a claim with the asked size, class and modes, and none for an existing claim', () => {
    const p = withUid(testPolicy('chat', 'apps', { storage: { create: { size: '5Gi', storageClassName: 'fast', accessModes: ['ReadWriteMany'] } } }));
    expect(reconcilePolicy(p, none, ctx).pvc?.spec).toEqual({ accessModes: ['ReadWriteMany'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'fast' });
    const e = withUid(testPolicy('chat', 'apps', { storage: { existingClaim: 'mine' } }));
    expect(reconcilePolicy(e, { ...none, pvc: { metadata: { name: 'mine' } } }, ctx).pvc).toBeUndefined();
  });

  it('a named Secret whose key is not a signed-note signer key is SigningSecretInvalid', () => {
    const p = withUid(testPolicy('chat', 'apps', { signing: { secretRef: { name: 'k', key: 'key' } } }));
    const secret = { metadata: { name: 'k' }, data: { key: Buffer.from('-----BEGIN PRIVATE KEY-----').toString('base64') } };
    expect(reconcilePolicy(p, { ...none, signingSecret: secret }, ctx).status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'SigningSecretInvalid' });
    const noKey = { metadata: { name: 'k' }, data: {} };
    expect(reconcilePolicy(p, { ...none, signingSecret: noKey }, ctx).status.conditions?.[0]?.message).toContain('has no key key');
  });
});
