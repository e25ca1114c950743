import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/types.ts';
import { formatHeads, type Heads, type WitnessedHead } from './heads.ts';
import { createHeadsTrigger } from './heads-trigger.ts';

const head = (size: number, refused = false): WitnessedHead => ({
  origin: 'llmaudit.dev/ns/a/uid-a',
  size,
  rootHash: 'AAAA',
  time: '2026-12-07T02:00:00Z',
  pod: 'a',
  podUid: 'uid-a',
  policy: 'audit',
  recent: [],
  ...(refused ? { refused: { kind: 'rollback' as const, time: '2026-12-07T02:00:00Z', size: 1, rootHash: 'BBBB', message: 'rolled back' } } : {}),
});
const cm = (heads: Heads): KubeObject => ({ metadata: { name: 'llmaudit-audit-heads', namespace: 'ns', labels: { 'llmaudit.dev/policy': 'audit' } }, data: { 'heads.json': formatHeads(heads) } });

describe('heads trigger', () => {
  it('re-rolls at once for a first sight or a new refusal, and coalesces ordinary pushes', async () => {
    const seen: string[] = [];
    const trigger = createHeadsTrigger({ enqueue: (k) => seen.push(k), delayMs: 50, tickMs: 60_000 });
    try {
      trigger.changed(cm({ a: head(1) }));
      expect(seen).toEqual(['ns/audit']);
      for (let i = 2; i < 10; i++) trigger.changed(cm({ a: head(i) }));
      expect(seen).toHaveLength(1);
      await expect.poll(() => seen.length).toBe(2);
      trigger.changed(cm({ a: head(10, true) }));
      expect(seen).toHaveLength(3);
    } finally {
      trigger.close();
    }
  });
});
