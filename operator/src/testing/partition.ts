import { KubeApiError } from '../kube/api-error.ts';
import type { KubeApi } from '../kube/types.ts';

export interface Partitionable {
  api: KubeApi;
  /** From now on every call hangs — no answer, no error — until its AbortSignal fires. */
  partition(): void;
  heal(): void;
  /** Calls hanging right now. */
  readonly held: number;
}

/**
 * A view of a KubeApi that can be cut off like a replica behind a network partition or in front
 * of a stuck API server: requests are neither answered nor refused. Test-only.
 */
export function partitionable(api: KubeApi): Partitionable {
  let cut = false;
  let held = 0;
  const view = new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (!cut) return (v as (...a: unknown[]) => unknown).apply(target, args);
        const signal = args.map((a) => (a as { signal?: unknown } | null | undefined)?.signal).find((s): s is AbortSignal => s instanceof AbortSignal);
        held++;
        return new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => {
            held--;
            reject(new KubeApiError(0, 'Aborted', `${String(prop)}: aborted`, { cause: signal.reason }));
          }, { once: true });
        });
      };
    },
  });
  return {
    api: view,
    partition: () => (cut = true),
    heal: () => (cut = false),
    get held() {
      return held;
    },
  };
}
