import { describe, expect, it } from 'vitest';
import { ANNOTATION_INJECTED, LABEL_INJECT, LABEL_POLICY } from '../api/names.ts';
import { pod } from '../testing/fixtures.ts';
import { countPods } from './pod-counter.ts';
import { resolvePolicyName } from './policy-lookup.ts';

const inj = { [LABEL_INJECT]: 'true' };

describe('countPods', () => {
  it('attributes pods by marker, named policy, sole policy or "default"; ignores finished and terminating pods', () => {
    const done = { ...pod('done', 'ns', { labels: inj }), status: { phase: 'Succeeded' } };
    const going = pod('going', 'ns', { labels: inj });
    going.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    const pods = [
      pod('a', 'ns', { labels: inj, annotations: { [ANNOTATION_INJECTED]: 'chat' } }),
      pod('b', 'ns', { labels: { ...inj, [LABEL_POLICY]: 'batch' } }),
      pod('c', 'ns', { labels: inj, annotations: { [LABEL_POLICY]: 'chat' } }),
      pod('d', 'ns', { labels: inj }), // two policies, none named default: unresolved
      pod('e', 'ns', { labels: inj, annotations: { [LABEL_POLICY]: 'nope' } }),
      done,
      going,
    ];
    const counts = countPods(pods, ['chat', 'batch']);
    expect(Object.fromEntries(counts)).toEqual({ chat: { injected: 1, missing: ['c'] }, batch: { injected: 0, missing: ['b'] } });
  });

  it('resolvePolicyName: named, only, default, none', () => {
    expect(resolvePolicyName(['a', 'b'], 'b')).toBe('b');
    expect(resolvePolicyName(['a'], 'x')).toBeUndefined();
    expect(resolvePolicyName(['a'], undefined)).toBe('a');
    expect(resolvePolicyName(['a', 'default'], undefined)).toBe('default');
    expect(resolvePolicyName(['a', 'b'], undefined)).toBeUndefined();
    expect(resolvePolicyName([], undefined)).toBeUndefined();
  });
});
