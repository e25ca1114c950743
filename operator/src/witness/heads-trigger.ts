// When the leader re-rolls a policy's heads into its status. Heads ConfigMaps change with every
// push (1,000 sidecars every 30 s is ~33 changes a second), and a status write per push would
// double the API server's load for a timestamp nobody reads that often: ordinary changes are
// coalesced per policy (one reconcile per `delayMs`), while a change that adds a refused chain is
// reconciled at once (Verified turns False the moment a push is refused). Every `tickMs` each
// known policy is re-rolled as well, so chains that stop pushing turn stale without any change.
import { LABEL_POLICY } from '../api/names.ts';
import type { KubeObject } from '../kube/types.ts';
import { readHeads } from './heads.ts';

export interface HeadsTrigger {
  changed(cm: KubeObject): void;
  close(): void;
}

export function createHeadsTrigger(options: { enqueue: (policyKey: string) => void; delayMs?: number; tickMs?: number }): HeadsTrigger {
  const delayMs = options.delayMs ?? 5_000;
  const refused = new Map<string, number>();
  const timers = new Map<string, NodeJS.Timeout>();
  const tick = setInterval(() => {
    for (const key of refused.keys()) options.enqueue(key);
  }, options.tickMs ?? 30_000);
  tick.unref();
  return {
    changed(cm) {
      const policy = cm.metadata.labels?.[LABEL_POLICY];
      if (policy === undefined) return;
      const key = `${cm.metadata.namespace ?? ''}/${policy}`;
      const count = Object.values(readHeads(cm)).filter((h) => h.refused !== undefined).length;
      const before = refused.get(key);
      refused.set(key, count);
      if (before === undefined || count > before) {
        options.enqueue(key);
        return;
      }
      if (timers.has(key)) return;
      const t = setTimeout(() => {
        timers.delete(key);
        options.enqueue(key);
      }, delayMs);
      t.unref();
      timers.set(key, t);
    },
    close() {
      clearInterval(tick);
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
