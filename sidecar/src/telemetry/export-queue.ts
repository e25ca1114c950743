/**
 * The span export pipeline: a bounded queue drained in batches by one export at a time.
 * Telemetry degrades by dropping and counting (docs/style-guide.md "Decide degrade-or-fail in one place"):
 * a full queue drops the new span, a failed export drops its batch, and neither ever waits on
 * or slows the exchange that produced the span. An unreachable collector is logged once per
 * `logIntervalMs` with the number of spans lost since the last such line, never once per span.
 *
 * We keep our own queue instead of the SDK's BatchSpanProcessor because we must count drops by
 * reason for /metrics, and the SDK's processor only keeps a private counter.
 */
import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export type DropReason = 'queue_full' | 'export_failed' | 'shutdown';

export interface ExportQueueOptions {
  exporter: SpanExporter;
  maxQueueSize: number;
  maxBatchSize: number;
  intervalMs: number;
  /** Upper bound on one export; the OTLP exporter enforces its own timeout, this is the backstop. */
  exportTimeoutMs: number;
  logIntervalMs: number;
  onDrop: (reason: DropReason, count: number) => void;
  onExported: (count: number) => void;
  logger: { warn: (obj: object, msg: string) => void };
  now?: () => number;
}

export class ExportQueue implements SpanProcessor {
  readonly #o: ExportQueueOptions;
  #queue: ReadableSpan[] = [];
  #timer: NodeJS.Timeout | undefined;
  #exporting: Promise<void> | null = null;
  #closed = false;
  #lastWarnAt = Number.NEGATIVE_INFINITY;
  #lostSinceWarn = 0;

  constructor(options: ExportQueueOptions) {
    this.#o = options;
  }

  get depth(): number {
    return this.#queue.length;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.#closed) return this.#drop('shutdown', 1);
    if (this.#queue.length >= this.#o.maxQueueSize) return this.#drop('queue_full', 1);
    this.#queue.push(span);
    if (this.#queue.length >= this.#o.maxBatchSize) this.#kick();
    else this.#arm();
  }

  async forceFlush(): Promise<void> {
    while (this.#queue.length > 0 || this.#exporting !== null) {
      this.#kick();
      await this.#exporting;
    }
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    await this.forceFlush();
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#o.exporter.shutdown().catch(() => {});
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#exporting !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, this.#o.intervalMs);
    this.#timer.unref(); // a pending export must never keep the process alive
  }

  #kick(): void {
    if (this.#exporting !== null || this.#queue.length === 0) return;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#exporting = this.#drain().finally(() => {
      this.#exporting = null;
      if (this.#queue.length > 0) this.#arm();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#o.maxBatchSize);
      const error = await this.#export(batch);
      if (error === null) {
        this.#o.onExported(batch.length);
        continue;
      }
      this.#drop('export_failed', batch.length, error);
      return; // collector in trouble: wait for the next interval instead of hammering it
    }
  }

  #export(batch: ReadableSpan[]): Promise<Error | null> {
    return new Promise((resolve) => {
      const backstop = setTimeout(() => resolve(new Error('export did not finish in time')), this.#o.exportTimeoutMs);
      backstop.unref();
      try {
        this.#o.exporter.export(batch, (result) => {
          clearTimeout(backstop);
          resolve(result.code === 0 ? null : (result.error ?? new Error('export failed')));
        });
      } catch (err) {
        clearTimeout(backstop);
        resolve(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  #drop(reason: DropReason, count: number, error?: Error): void {
    this.#o.onDrop(reason, count);
    this.#lostSinceWarn += count;
    const now = (this.#o.now ?? Date.now)();
    if (now - this.#lastWarnAt < this.#o.logIntervalMs) return;
    this.#o.logger.warn({ reason, dropped: this.#lostSinceWarn, err: error?.message }, 'telemetry spans dropped');
    this.#lastWarnAt = now;
    this.#lostSinceWarn = 0;
  }
}
