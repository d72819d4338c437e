import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client';
import { invalidInput, type Counter, type Gauge, type Histogram, type Metrics } from '@rustynet/plugin-api';

/** Prefix the daemon puts before every plugin metric name. */
export const PLUGIN_METRIC_PREFIX = 'rustynet_plugin_';

const METRIC_NAME = /^[a-z_][a-z0-9_]*$/;

type AnyProm = PromCounter | PromGauge | PromHistogram;
/** The wrapper type for each metric type name. */
interface Wrappers {
  counter: Counter;
  gauge: Gauge;
  histogram: Histogram;
}

/** {@link Metrics} plus the prom-client registry that backs it (for `GET /metrics`). */
export type HostMetrics = Metrics & { readonly registry: Registry };

/**
 * Metrics on a prom-client {@link Registry}. Asking twice for the same name returns the same
 * metric; asking for an existing name with another type throws `INVALID_INPUT`.
 */
export class PromMetrics implements HostMetrics {
  private readonly metrics = new Map<string, { type: string; metric: AnyProm; wrapper: Counter | Gauge | Histogram }>();

  constructor(readonly registry: Registry = new Registry()) {}

  private check(name: string): void {
    if (!METRIC_NAME.test(name)) throw invalidInput('name', `metric name ${JSON.stringify(name)} must match [a-z_][a-z0-9_]*`);
  }

  private existing<K extends keyof Wrappers>(name: string, type: K): Wrappers[K] | undefined {
    const m = this.metrics.get(name);
    if (!m) return undefined;
    if (m.type !== type) throw invalidInput('name', `metric ${name} already exists as a ${m.type}`);
    return m.wrapper as Wrappers[K];
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    this.check(name);
    const found = this.existing(name, 'counter');
    if (found) return found;
    const metric = new PromCounter({ name, help, labelNames, registers: [this.registry] });
    const wrapper: Counter = {
      inc(labels?: Record<string, string>, value?: number) {
        if (labels) metric.inc(labels, value ?? 1);
        else metric.inc(value ?? 1);
      },
    };
    this.metrics.set(name, { type: 'counter', metric, wrapper });
    return wrapper;
  }

  gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    this.check(name);
    const found = this.existing(name, 'gauge');
    if (found) return found;
    const metric = new PromGauge({ name, help, labelNames, registers: [this.registry] });
    const wrapper: Gauge = {
      set(a: Record<string, string> | number, b?: number) {
        if (typeof a === 'number') metric.set(a);
        else metric.set(a, b ?? 0);
      },
    };
    this.metrics.set(name, { type: 'gauge', metric, wrapper });
    return wrapper;
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram {
    this.check(name);
    const found = this.existing(name, 'histogram');
    if (found) return found;
    const metric = new PromHistogram({ name, help, labelNames, registers: [this.registry], ...(buckets && { buckets }) });
    const wrapper: Histogram = {
      observe(a: Record<string, string> | number, b?: number) {
        if (typeof a === 'number') metric.observe(a);
        else metric.observe(a, b ?? 0);
      },
    };
    this.metrics.set(name, { type: 'histogram', metric, wrapper });
    return wrapper;
  }
}

/** The {@link Metrics} view given to plugins: every name gets {@link PLUGIN_METRIC_PREFIX}. */
export class PrefixedMetrics implements Metrics {
  constructor(
    private readonly inner: Metrics,
    private readonly prefix: string = PLUGIN_METRIC_PREFIX,
  ) {}
  private name(n: string): string {
    return n.startsWith(this.prefix) ? n : `${this.prefix}${n}`;
  }
  counter(name: string, help: string, labelNames?: string[]): Counter {
    return this.inner.counter(this.name(name), help, labelNames);
  }
  gauge(name: string, help: string, labelNames?: string[]): Gauge {
    return this.inner.gauge(this.name(name), help, labelNames);
  }
  histogram(name: string, help: string, labelNames?: string[], buckets?: number[]): Histogram {
    return this.inner.histogram(this.name(name), help, labelNames, buckets);
  }
}
