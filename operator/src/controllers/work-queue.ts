import { backoffDelay, type BackoffOptions } from './backoff.ts';

export interface WorkQueueOptions {
  /** Concurrent workers; one key is never processed by two at once. */
  workers?: number;
  /** Per-key retry backoff after a failed reconcile. */
  retry?: BackoffOptions;
  random?: () => number;
  onError?: (key: string, err: unknown, attempt: number, retryInMs: number) => void;
}

/**
 * A keyed, de-duplicating work queue, as client-go's workqueue: adding a key that is already queued
 * is a no-op; adding one that is being processed marks it dirty so it runs once more afterwards;
 * a failed key is retried after a per-key exponential backoff that resets on success.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly idleWaiters: (() => void)[] = [];
  private running = 0;
  private closed = false;
  private readonly workers: number;
  private readonly retry: BackoffOptions;
  private readonly random: () => number;
  private readonly handler: (key: string) => Promise<void>;
  private readonly onError: WorkQueueOptions['onError'];

  constructor(handler: (key: string) => Promise<void>, options: WorkQueueOptions = {}) {
    this.handler = handler;
    this.workers = options.workers ?? 2;
    this.retry = options.retry ?? { initialMs: 500, maxMs: 60_000 };
    this.random = options.random ?? Math.random;
    this.onError = options.onError;
  }

  add(key: string): void {
    if (this.closed) return;
    const t = this.timers.get(key);
    if (t !== undefined) {
      clearTimeout(t);
      this.timers.delete(key);
    }
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.closed || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Pending retry timers count as work: idle means nothing queued, running or scheduled. */
  isIdle(): boolean {
    return this.queue.length === 0 && this.running === 0 && this.timers.size === 0;
  }

  /** Resolves when the queue is idle (tests, graceful shutdown). */
  async drain(): Promise<void> {
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.notifyIdle();
  }

  private pump(): void {
    while (!this.closed && this.running < this.workers && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      await this.handler(key);
      this.attempts.delete(key);
    } catch (err) {
      const attempt = this.attempts.get(key) ?? 0;
      this.attempts.set(key, attempt + 1);
      const delay = backoffDelay(attempt, this.retry, this.random);
      this.onError?.(key, err, attempt + 1, delay);
      if (!this.dirty.has(key)) this.addAfter(key, delay);
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      this.notifyIdle();
    }
  }

  private notifyIdle(): void {
    if (!this.isIdle() && !this.closed) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
