import type { WatchEvent, WatchStream } from './types.ts';

/**
 * A push-to-pull queue behind a {@link WatchStream}: the transport pushes events, the watch loop
 * iterates. close() ends a pending iteration, which is how the loop abandons a stalled stream.
 */
export class EventChannel implements WatchStream {
  private readonly buffer: WatchEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private error: unknown;
  private readonly onClose: () => void;

  constructor(onClose: () => void = () => {}) {
    this.onClose = onClose;
  }

  push(ev: WatchEvent): void {
    if (this.ended) return;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: ev, done: false });
    } else {
      this.buffer.push(ev);
    }
  }

  /** Ends the stream after buffered events; with an error the iteration throws it. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    if (this.waiter !== undefined && this.buffer.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      if (error === undefined) w.resolve({ value: undefined, done: true });
      else w.reject(error);
    }
  }

  close(): void {
    if (this.ended && this.buffer.length === 0) return;
    this.buffer.length = 0;
    this.end();
    this.onClose();
  }

  get closed(): boolean {
    return this.ended;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: () => {
        const ev = this.buffer.shift();
        if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
        if (this.ended) {
          if (this.error === undefined) return Promise.resolve({ value: undefined, done: true });
          const e = this.error;
          this.error = undefined;
          return Promise.reject(e);
        }
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
