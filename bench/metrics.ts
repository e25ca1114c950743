/**
 * `npm run bench -- metrics [--quick] [--json]`: what the proxy's per-exchange metric updates cost
 * on the event loop (docs/adr/0018-sidecar-cost-per-exchange.md, decision 9). One exchange is the
 * eight updates record.ts makes after a 1 KiB exchange: captured bytes (request, response), the
 * append latency, the exchange counter, duration and TTFB histograms, input and output tokens.
 *
 *   proxy metrics        createProxyMetrics (per-exchange series kept as plain numbers, handed
 *                        to prom-client at scrape time)
 *   prom-client metrics  prom-client's own Counter and Histogram with the same names, labels and
 *                        buckets (the label caps left out, so a lower bound of what they cost)
 *
 * Rows alternate in one process, three rounds each after a warm-up; µs per exchange.
 */
import { pathToFileURL } from 'node:url';
import { Counter, Histogram, Registry } from 'prom-client';
import { createProxyMetrics } from '../sidecar/src/proxy/metrics.ts';

interface Updates {
  bytes: { inc(labels: { direction: string }, v: number): void };
  append: { observe(v: number): void };
  exchanges: { inc(labels: { endpoint: string; api: string; status: string }): void };
  latency: { observe(labels: { endpoint: string; api: string }, v: number): void };
  ttfb: { observe(labels: { endpoint: string; api: string }, v: number): void };
  tokens: { inc(labels: { endpoint: string; model: string; direction: string }, v: number): void };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const APPEND_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

function proxyMetrics(): Updates {
  const m = createProxyMetrics(new Registry());
  return { bytes: m.bytesCaptured, append: m.logAppendLatency, exchanges: m.exchanges, latency: m.latency, ttfb: m.ttfb, tokens: m.tokens };
}

function promClientMetrics(): Updates {
  const registers = [new Registry()];
  return {
    bytes: new Counter({ name: 'llmaudit_captured_bytes_total', help: 'h', labelNames: ['direction'], registers }),
    append: new Histogram({ name: 'llmaudit_log_append_duration_seconds', help: 'h', buckets: APPEND_BUCKETS, registers }),
    exchanges: new Counter({ name: 'llmaudit_exchanges_total', help: 'h', labelNames: ['endpoint', 'api', 'status'], registers }),
    latency: new Histogram({ name: 'llmaudit_exchange_duration_seconds', help: 'h', labelNames: ['endpoint', 'api'], buckets: LATENCY_BUCKETS, registers }),
    ttfb: new Histogram({ name: 'llmaudit_exchange_ttfb_seconds', help: 'h', labelNames: ['endpoint', 'api'], buckets: LATENCY_BUCKETS, registers }),
    tokens: new Counter({ name: 'llmaudit_tokens_total', help: 'h', labelNames: ['endpoint', 'model', 'direction'], registers }),
  };
}

function exchanges(m: Updates, n: number): void {
  for (let i = 0; i < n; i++) {
    const endpoint = i % 4 === 0 ? 'anthropic' : 'openai';
    const api = endpoint === 'openai' ? 'openai.chat' : 'anthropic.messages';
    m.bytes.inc({ direction: 'request' }, 1024);
    m.bytes.inc({ direction: 'response' }, 700 + (i % 100));
    m.append.observe((i % 50) / 10_000);
    m.exchanges.inc({ endpoint, api, status: String(i % 97 === 0 ? 500 : 200) });
    m.latency.observe({ endpoint, api }, 0.001 + (i % 7) / 1000);
    m.ttfb.observe({ endpoint, api }, 0.0008);
    m.tokens.inc({ endpoint, model: 'bench-model', direction: 'input' }, 12);
    m.tokens.inc({ endpoint, model: 'bench-model', direction: 'output' }, 30);
  }
}

export function runMetricsBench(quick: boolean): Array<{ name: string; usPerExchange: number[] }> {
  const n = quick ? 100_000 : 500_000;
  const rows = [
    { name: 'proxy metrics', make: proxyMetrics, usPerExchange: [] as number[] },
    { name: 'prom-client metrics', make: promClientMetrics, usPerExchange: [] as number[] },
  ];
  for (let round = 0; round < 3; round++) {
    for (const r of rows) {
      const m = r.make();
      exchanges(m, n / 10);
      const t0 = process.hrtime.bigint();
      exchanges(m, n);
      r.usPerExchange.push(Math.round(Number(process.hrtime.bigint() - t0) / n) / 1000);
    }
  }
  return rows.map(({ name, usPerExchange }) => ({ name, usPerExchange }));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const rows = runMetricsBench(args.includes('--quick'));
  if (!args.includes('--json')) {
    process.stdout.write('µs of event-loop CPU per exchange for its eight metric updates (three rounds)\n');
    for (const r of rows) process.stdout.write(`${r.name.padEnd(22)}${r.usPerExchange.map((v) => v.toFixed(2).padStart(8)).join('')}\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'metrics', at: new Date().toISOString(), node: process.version, rows })}\n`);
}
