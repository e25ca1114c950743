/**
 * Counters and histograms for the per-exchange path (docs/adr/0018-sidecar-cost-per-exchange.md,
 * decision 9). prom-client's `inc`/`observe` check every label name against the label set, build a
 * hash string of the labels and copy objects on each call; an exchange makes eight such updates.
 * These keep each series as plain numbers, found through one Map per label, and hand prom-client
 * the same series, in the same order with the same labels and values, when it asks for them at
 * scrape time (`get`, `getForPromString`). Label names are checked when a series is first seen
 * (the proxy's calls are typed). They are prom-client metrics (registered in the registry handed
 * in, the same types); only `labels()`, `remove()` and `zero()`, which the proxy never calls, are
 * refused.
 */
import { Counter, Histogram, type CounterConfiguration, type HistogramConfiguration, type LabelValues, type Aggregator, type MetricObjectWithValues, type MetricValue, type MetricValueWithName } from 'prom-client';
import { format } from 'node:util';

type Labels = Record<string, string | number>;

/**
 * Series by their label values: one Map level per label name (sorted, as prom-client hashes them),
 * so finding a series builds no string; a label not given is its own value, distinct from any string.
 */
const ABSENT = Symbol('absent');
type Level<S> = Map<string | symbol, Level<S> | S>;

class SeriesIndex<S> {
  private root: Level<S> | S | undefined;
  readonly all: S[] = [];
  constructor(private readonly names: readonly string[]) {}

  get(labels: Labels): S | undefined {
    let node = this.root;
    for (const n of this.names) {
      if (node === undefined) return undefined;
      const v = labels[n];
      node = (node as Level<S>).get(v === undefined ? ABSENT : typeof v === 'string' ? v : String(v));
    }
    return node as S | undefined;
  }

  add(labels: Labels, series: S): void {
    this.all.push(series);
    if (this.names.length === 0) {
      this.root = series;
      return;
    }
    this.root ??= new Map();
    let level = this.root as Level<S>;
    this.names.forEach((n, i) => {
      const v = labels[n];
      const k = v === undefined ? ABSENT : String(v);
      if (i === this.names.length - 1) level.set(k, series);
      else {
        let next = level.get(k) as Level<S> | undefined;
        if (next === undefined) {
          next = new Map();
          level.set(k, next);
        }
        level = next;
      }
    });
  }
}

function checkLabelNames(names: readonly string[], labels: Labels): void {
  for (const l in labels) if (!names.includes(l)) throw new Error(`Added label "${l}" is not included in initial labelset: ${format(names)}`);
}

/** What prom-client's get() reports besides the values, as configured. */
interface Meta {
  name: string;
  help: string;
  aggregator: Aggregator;
  collect: (() => void | Promise<void>) | undefined;
}

function metaOf(config: { name: string; help: string; aggregator?: Aggregator; collect?: unknown }): Meta {
  return { name: config.name, help: config.help, aggregator: config.aggregator ?? 'sum', collect: config.collect as Meta['collect'] };
}

function unsupported(what: string): never {
  throw new Error(`${what} is not supported by the proxy's per-exchange metrics`);
}

interface CounterSeries {
  value: number;
  labels: Labels;
}

/** A prom-client Counter whose series live in a Map (see the module comment). Same errors as prom-client's for bad values and label names. */
export class FastCounter<T extends string> extends Counter<T> {
  private series: SeriesIndex<CounterSeries> | undefined;
  private readonly names: readonly string[];
  private readonly meta: Meta;

  constructor(config: CounterConfiguration<T>) {
    super(config);
    this.meta = metaOf(config);
    this.names = [...(config.labelNames ?? [])].sort();
    // prom-client sets `inc` on the instance in its constructor, so it is replaced here rather than overridden.
    this.inc = ((labels?: LabelValues<T> | number, value?: number): void => this.add(labels, value)) as Counter<T>['inc'];
    this.reset();
  }

  private add(labels: LabelValues<T> | number | undefined, value: number | undefined): void {
    let l: Labels;
    if (typeof labels === 'object' && labels !== null) l = labels as Labels;
    else {
      value = labels;
      l = {};
    }
    if (value !== undefined && value !== 0 && !Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${format(value)}`);
    if (value !== undefined && value < 0) throw new Error('It is not possible to decrease a counter');
    const v = value ?? 1;
    const index = this.series as SeriesIndex<CounterSeries>;
    const s = index.get(l);
    if (s !== undefined) s.value += v;
    else {
      checkLabelNames(this.names, l);
      index.add(l, { value: v, labels: l });
    }
  }

  override async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    const m = this.meta;
    if (m.collect !== undefined) await m.collect.call(this);
    return { help: m.help, name: m.name, type: 'counter', values: (this.series as SeriesIndex<CounterSeries>).all.map((s) => ({ value: s.value, labels: s.labels as LabelValues<T> })), aggregator: m.aggregator } as unknown as MetricObjectWithValues<MetricValue<T>>;
  }

  override reset(): void {
    // prom-client's reset (called from its constructor too): an unlabelled counter starts as one series at 0.
    if (this.names === undefined) return;
    this.series = new SeriesIndex(this.names);
    if (this.names.length === 0) this.series.add({}, { value: 0, labels: {} });
  }

  override labels(): never {
    return unsupported('labels()');
  }
  override remove(): never {
    return unsupported('remove()');
  }
}

interface HistogramSeries {
  labels: Labels;
  /** Observations per bucket (not cumulative), one slot per upper bound. */
  counts: number[];
  sum: number;
  count: number;
}

/** A prom-client Histogram whose series live in a Map (see the module comment). */
export class FastHistogram<T extends string> extends Histogram<T> {
  private series: SeriesIndex<HistogramSeries> | undefined;
  private readonly names: readonly string[];
  private readonly bounds: readonly number[];
  private readonly meta: Meta;

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config);
    this.meta = metaOf(config);
    this.names = [...(config.labelNames ?? [])].sort();
    this.bounds = [...config.buckets];
    this.observe = ((labels: LabelValues<T> | number, value?: number): void => this.record(labels, value)) as Histogram<T>['observe'];
    this.reset();
    if (this.names.length === 0) (this.series as SeriesIndex<HistogramSeries>).add({}, { labels: {}, counts: this.bounds.map(() => 0), sum: 0, count: 0 });
  }

  private record(labels: LabelValues<T> | number, value: number | undefined): void {
    let l: Labels;
    let v: number;
    if (typeof labels === 'object' && labels !== null) {
      l = labels as Labels;
      v = value as number;
    } else {
      l = {};
      v = labels;
    }
    if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${format(v)}`);
    const index = this.series as SeriesIndex<HistogramSeries>;
    let s = index.get(l);
    if (s === undefined) {
      checkLabelNames(this.names, l);
      s = { labels: l, counts: this.bounds.map(() => 0), sum: 0, count: 0 };
      index.add(l, s);
    }
    s.sum += v;
    s.count += 1;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= (b[i] as number)) {
        (s.counts[i] as number) += 1;
        break;
      }
    }
  }

  /** The shape prom-client's Histogram gives the registry: bucket labels apart, the series' labels shared. */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const m = this.meta;
    if (m.collect !== undefined) await m.collect.call(this);
    const values: MetricValueWithName<T>[] = [];
    const bucket = `${m.name}_bucket`;
    for (const s of (this.series as SeriesIndex<HistogramSeries>).all) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i] as number;
        values.push({ labels: { le: this.bounds[i] } as LabelValues<T>, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null } as MetricValueWithName<T>);
      }
      values.push(
        { labels: { le: '+Inf' } as LabelValues<T>, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null } as MetricValueWithName<T>,
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${m.name}_sum`, exemplar: undefined } as MetricValueWithName<T>,
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${m.name}_count`, exemplar: undefined } as MetricValueWithName<T>,
      );
    }
    return { name: m.name, help: m.help, type: 'histogram', values, aggregator: m.aggregator } as unknown as MetricObjectWithValues<MetricValueWithName<T>>;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const data = await this.getForPromString();
    data.values = data.values.map((v) => {
      const { sharedLabels, labels, ...rest } = v as MetricValueWithName<T> & { sharedLabels: Labels };
      return { ...rest, labels: { ...labels, ...sharedLabels } as LabelValues<T> };
    });
    return data;
  }

  /** As prom-client's: every series goes, an unlabelled histogram's too (its constructor made that one). */
  override reset(): void {
    if (this.names === undefined) return;
    this.series = new SeriesIndex(this.names);
  }

  override labels(): never {
    return unsupported('labels()');
  }
  override remove(): never {
    return unsupported('remove()');
  }
  override zero(): never {
    return unsupported('zero()');
  }
}
