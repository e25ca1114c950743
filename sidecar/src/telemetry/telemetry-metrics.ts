/**
 * The tracer's own Prometheus metrics (docs/tracing.md "Export": drops are counted in /metrics).
 * Registered on the registry handed in; a second tracer on the same registry (a test, a rebuilt
 * tracer) reuses the existing metrics instead of failing on a duplicate name.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DropReason } from './export-queue.ts';
import type { EvictionReason } from './tool-call-memory.ts';

export interface TelemetryMetrics {
  readonly spansDropped: Counter<'reason'>;
  readonly spansExported: Counter;
  readonly queueDepth: Gauge;
  readonly toolCallEvictions: Counter<'reason'>;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createTelemetryMetrics(registry: Registry): TelemetryMetrics {
  const registers = [registry];
  return {
    spansDropped: reuse(registry, 'llmaudit_telemetry_spans_dropped_total', () =>
      new Counter({ name: 'llmaudit_telemetry_spans_dropped_total', help: 'Spans not exported, by reason (queue_full, export_failed, shutdown).', labelNames: ['reason'], registers }),
    ),
    spansExported: reuse(registry, 'llmaudit_telemetry_spans_exported_total', () =>
      new Counter({ name: 'llmaudit_telemetry_spans_exported_total', help: 'Spans accepted by the OTLP collector.', registers }),
    ),
    queueDepth: reuse(registry, 'llmaudit_telemetry_queue_depth', () =>
      new Gauge({ name: 'llmaudit_telemetry_queue_depth', help: 'Spans waiting for export.', registers }),
    ),
    toolCallEvictions: reuse(registry, 'llmaudit_telemetry_tool_call_evictions_total', () =>
      new Counter({ name: 'llmaudit_telemetry_tool_call_evictions_total', help: 'Tool calls forgotten before their result arrived or was re-sent, by reason (capacity, age).', labelNames: ['reason'], registers }),
    ),
  };
}

export type { DropReason, EvictionReason };
