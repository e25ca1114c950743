/**
 * The proxy's Prometheus metrics (docs/configuration.md "Admin server"). Built on a registry handed in, so tests
 * and the admin server (D2) each own theirs; nothing is registered at import time.
 * Histogram buckets are in seconds (Prometheus base units, https://prometheus.io/docs/practices/naming/).
 */
import { Counter, Gauge, type Histogram, type CounterConfiguration, type IncreaseDataWithExemplar, type LabelValues, type Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.ts';

/** Distinct values a label taken from upstream data (`model`, `status`) may have; the rest count as `other`. */
export const DEFAULT_MAX_LABEL_VALUES = 100;
export const OTHER_LABEL = 'other';

/** Keeps the first `max` distinct values of one label; any later new value becomes `other`. */
export class LabelCap {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}

  fold(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER_LABEL;
    this.seen.add(value);
    return value;
  }
}

/**
 * A counter that takes values and labels from upstream data without trusting them: a negative,
 * non-finite or non-number value is not counted (prom-client throws "It is not possible to
 * decrease a counter", which lost the exchange's log line; the entry keeps the value as given),
 * and the capped labels hold at most `max` distinct values each, so a hostile upstream cannot grow
 * /metrics without bound.
 */
export class UpstreamCounter<T extends string> extends FastCounter<T> {
  constructor(config: CounterConfiguration<T>, capped: readonly T[], max: number) {
    super(config);
    const caps = capped.map((l) => [l, new LabelCap(max)] as const);
    // FastCounter (like prom-client's Counter) sets `inc` on the instance in its constructor, so it
    // is wrapped here rather than overridden. An object argument is always taken for labels (the proxy passes no exemplars).
    const base = this.inc.bind(this) as (labels?: LabelValues<T> | number, value?: number) => void;
    const inc = (labels?: LabelValues<T> | number | IncreaseDataWithExemplar<T>, value?: number): void => {
      if (labels === undefined || typeof labels === 'number') {
        const v = labels ?? 1;
        if (Number.isFinite(v) && v >= 0) base(v);
        return;
      }
      const v = value ?? 1;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return;
      // Copied only when a value is folded: the caller's object is not changed.
      let folded = labels as LabelValues<T>;
      for (const [name, cap] of caps) {
        const raw = folded[name];
        if (raw === undefined) continue;
        const kept = cap.fold(String(raw));
        if (kept === raw) continue;
        if (folded === labels) folded = { ...folded };
        (folded as Record<string, string | number>)[name] = kept;
      }
      base(folded, v);
    };
    this.inc = inc as Counter<T>['inc'];
  }
}

export interface ProxyMetricsOptions {
  /** Distinct values per upstream-derived label (default DEFAULT_MAX_LABEL_VALUES). */
  maxLabelValues?: number;
}

export type FailureReason =
  | 'no_route'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'upstream_reset'
  | 'client_abort'
  | 'log_unavailable'
  | 'bad_request'
  | 'internal'
  /** Refused by the governance policy (models, detectors, caps, rate limits, budgets, risk). */
  | 'governance';

export interface ProxyMetrics {
  /** Finished exchanges. labels: endpoint, api (adapter kind), status (HTTP status as text, capped). */
  readonly exchanges: Counter<'endpoint' | 'api' | 'status'>;
  /** Whole exchange, request start to last byte. labels: endpoint, api. */
  readonly latency: Histogram<'endpoint' | 'api'>;
  /** Request start to the first response body byte. labels: endpoint, api. */
  readonly ttfb: Histogram<'endpoint' | 'api'>;
  /** Tokens as counted by the API. labels: endpoint, model (capped, see UpstreamCounter), direction (input | output). */
  readonly tokens: Counter<'endpoint' | 'model' | 'direction'>;
  /** Time an append() took to resolve. */
  readonly logAppendLatency: Histogram;
  /** Entries waiting in the log writer; set by the owner of the writer (main.ts) from its stats. */
  readonly logQueueDepth: Gauge;
  /** Appends that failed (the log could not be written). */
  readonly logFailures: Counter;
  /** Entries the log refused as built and that were written in their degraded form instead. */
  readonly degradedEntries: Counter;
  /** Body bytes seen by capture. labels: direction (request | response). */
  readonly bytesCaptured: Counter<'direction'>;
  /** Bodies not stored whole. labels: direction, reason (cap | decoded_cap | decode_error). */
  readonly truncations: Counter<'direction' | 'reason'>;
  /** Failed or refused exchanges. labels: reason (see FailureReason). */
  readonly failures: Counter<'reason'>;
  /** Config hot reloads. labels: result (ok | invalid). */
  readonly configReloads: Counter<'result'>;
  /** Exchanges in flight right now; set by the owner of the proxy (sidecar.ts) at scrape time. */
  readonly inflight: Gauge;
  /** Media blobs moved out of request bodies into media/. */
  readonly mediaExtracted: Counter;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const APPEND_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export function createProxyMetrics(registry: Registry, options: ProxyMetricsOptions = {}): ProxyMetrics {
  const registers = [registry];
  const max = options.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES;
  return {
    exchanges: new UpstreamCounter({ name: 'llmaudit_exchanges_total', help: 'Exchanges proxied, by endpoint, API and HTTP status.', labelNames: ['endpoint', 'api', 'status'], registers }, ['status'], max),
    latency: new FastHistogram({ name: 'llmaudit_exchange_duration_seconds', help: 'Exchange duration from request start to the last response byte.', labelNames: ['endpoint', 'api'], buckets: LATENCY_BUCKETS, registers }),
    ttfb: new FastHistogram({ name: 'llmaudit_exchange_ttfb_seconds', help: 'Time from request start to the first response body byte.', labelNames: ['endpoint', 'api'], buckets: LATENCY_BUCKETS, registers }),
    tokens: new UpstreamCounter({ name: 'llmaudit_tokens_total', help: 'Tokens reported by the API, by endpoint, model and direction.', labelNames: ['endpoint', 'model', 'direction'], registers }, ['model'], max),
    logAppendLatency: new FastHistogram({ name: 'llmaudit_log_append_duration_seconds', help: 'Time for an audit log append to resolve.', buckets: APPEND_BUCKETS, registers }),
    logQueueDepth: new Gauge({ name: 'llmaudit_log_queue_depth', help: 'Entries queued in the audit log writer.', registers }),
    logFailures: new Counter({ name: 'llmaudit_log_failures_total', help: 'Audit log appends that failed.', registers }),
    degradedEntries: new Counter({ name: 'llmaudit_log_degraded_entries_total', help: 'Entries written in degraded form: values the log cannot carry were replaced (entry field degraded).', registers }),
    bytesCaptured: new FastCounter({ name: 'llmaudit_captured_bytes_total', help: 'Body bytes seen by capture, by direction.', labelNames: ['direction'], registers }),
    truncations: new Counter({ name: 'llmaudit_capture_truncations_total', help: 'Bodies not stored whole (over the cap, decoded-size cap, undecodable).', labelNames: ['direction', 'reason'], registers }),
    failures: new Counter({ name: 'llmaudit_failures_total', help: 'Failed or refused exchanges, by reason.', labelNames: ['reason'], registers }),
    configReloads: new Counter({ name: 'llmaudit_config_reloads_total', help: 'Configuration hot reloads, by result.', labelNames: ['result'], registers }),
    inflight: new Gauge({ name: 'llmaudit_inflight_exchanges', help: 'Exchanges in flight.', registers }),
    mediaExtracted: new Counter({ name: 'llmaudit_media_extracted_total', help: 'base64 media blobs moved from request and response bodies to media files.', registers }),
  };
}
