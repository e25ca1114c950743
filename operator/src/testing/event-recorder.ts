/**
 * Records events and lets a test await the next one that matches, instead of sleeping.
 * Test-only helper (imported by *.test.ts files).
 *
 * The default timeouts only bound a failing test: they are generous (20 s, under vitest's 30 s
 * test timeout) so a passing test never fails on a loaded CI machine.
 */
export const DEFAULT_WAIT_MS = 20_000;

export class EventRecorder<E> {
  readonly events: E[] = [];
  private waiters: { pred: (e: E) => boolean; from: number; resolve: (e: E) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }[] = [];

  readonly record = (e: E): void => {
    this.events.push(e);
    for (const w of [...this.waiters]) {
      if (this.events.length - 1 >= w.from && w.pred(e)) {
        clearTimeout(w.timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(e);
      }
    }
  };

  /** The first matching event recorded from now on (or from index `from`). */
  next(pred: (e: E) => boolean, options: { from?: number; timeoutMs?: number } = {}): Promise<E> {
    const from = options.from ?? this.events.length;
    const hit = this.events.slice(from).find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x.timer !== timer);
        reject(new Error(`timed out waiting for an event; saw ${JSON.stringify(this.events.slice(from)).slice(0, 800)}`));
      }, options.timeoutMs ?? DEFAULT_WAIT_MS);
      this.waiters.push({ pred, from, resolve, reject, timer });
    });
  }
}

/** Polls a condition on the event loop (for state without an event to await); fails after timeoutMs. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
