import { describe, expect, it } from 'vitest';
import { TraceFlags } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ExportQueue, type DropReason } from './export-queue.ts';

const span = (sampled = true) => ({ spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE }) }) as unknown as ReadableSpan;

/** An exporter that answers each export only when the test says so. */
function heldExporter() {
  const pending: Array<{ n: number; done: (ok: boolean) => void }> = [];
  const exporter: SpanExporter = {
    export(spans, cb) {
      pending.push({ n: spans.length, done: (ok) => cb({ code: ok ? 0 : 1 }) });
    },
    async shutdown() {},
  };
  return { exporter, pending };
}

function queue(exporter: SpanExporter, over: Partial<ConstructorParameters<typeof ExportQueue>[0]> = {}) {
  const drops: Array<[DropReason, number]> = [];
  let exported = 0;
  const q = new ExportQueue({
    exporter,
    maxQueueSize: 3,
    maxBatchSize: 2,
    intervalMs: 60_000,
    exportTimeoutMs: 60_000,
    logIntervalMs: 60_000,
    onDrop: (r, n) => drops.push([r, n]),
    onExported: (n) => (exported += n),
    logger: { warn() {} },
    ...over,
  });
  return { q, drops, exported: () => exported };
}

describe('ExportQueue', () => {
  it('exports one batch at a time and never holds more than the queue plus one batch', async () => {
    const { exporter, pending } = heldExporter();
    const { q, drops, exported } = queue(exporter);
    for (let i = 0; i < 7; i++) q.onEnd(span());
    // 2 went out as a full batch, 3 wait, 2 were dropped: onEnd never blocked.
    expect(pending.map((p) => p.n)).toEqual([2]);
    expect(q.depth).toBe(3);
    expect(drops).toEqual([['queue_full', 1], ['queue_full', 1]]);
    const flushed = q.forceFlush();
    pending.shift()!.done(true);
    await new Promise((r) => setImmediate(r));
    pending.shift()!.done(true);
    await new Promise((r) => setImmediate(r));
    pending.shift()!.done(true);
    await flushed;
    expect(exported()).toBe(5);
  });

  it('ignores unsampled spans and counts spans ended after shutdown', async () => {
    const { exporter } = heldExporter();
    const { q, drops } = queue(exporter);
    q.onEnd(span(false));
    expect(q.depth).toBe(0);
    await q.shutdown();
    q.onEnd(span());
    expect(drops).toEqual([['shutdown', 1]]);
  });

  it('gives up on an export that never answers (backstop) and counts the batch', async () => {
    const { exporter } = heldExporter();
    const { q, drops } = queue(exporter, { exportTimeoutMs: 5 });
    q.onEnd(span());
    q.onEnd(span());
    await q.forceFlush();
    expect(drops).toEqual([['export_failed', 2]]);
  });
});
