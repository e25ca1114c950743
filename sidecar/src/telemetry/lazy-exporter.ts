/**
 * The OTLP/HTTP span exporter, loaded with the first export pipeline that needs one. Its package
 * and the ones it pulls in (the OTLP transformer, the metrics SDK) are ~170 modules and a few MiB of
 * resident memory that a sidecar without an OTLP endpoint never uses
 * (docs/adr/0018-sidecar-cost-per-exchange.md). The import starts when the pipeline is built, so
 * the exporter is there long before the first batch (ExportQueue waits `exportIntervalMs`).
 */
import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { namedExport } from '../named-export.ts';

type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;
type ResultCallback = Parameters<SpanExporter['export']>[1];

/** ExportResultCode.FAILED of @opentelemetry/core. */
const FAILED = 1;

export class LazyOtlpExporter implements SpanExporter {
  readonly #exporter: Promise<SpanExporter>;

  constructor(config: ExporterConfig) {
    this.#exporter = import('@opentelemetry/exporter-trace-otlp-http').then((m) => new (namedExport(m, 'OTLPTraceExporter'))(config));
    this.#exporter.catch(() => undefined); // reported by each export that needs it
  }

  export(spans: ReadableSpan[], resultCallback: ResultCallback): void {
    this.#exporter.then(
      (e) => e.export(spans, resultCallback),
      (err: unknown) => resultCallback({ code: FAILED, error: err instanceof Error ? err : new Error(String(err)) }),
    );
  }

  async shutdown(): Promise<void> {
    const e = await this.#exporter.catch(() => null);
    await e?.shutdown();
  }

  async forceFlush(): Promise<void> {
    const e = await this.#exporter.catch(() => null);
    await e?.forceFlush?.();
  }
}
