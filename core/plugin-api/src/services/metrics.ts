/** A monotonically increasing counter. */
export interface Counter {
  inc(labels?: Record<string, string>, value?: number): void;
}
/** A value that goes up and down. */
export interface Gauge {
  set(labels: Record<string, string>, value: number): void;
  set(value: number): void;
}
/** A distribution of observed values (seconds for durations). */
export interface Histogram {
  observe(labels: Record<string, string>, value: number): void;
  observe(value: number): void;
}

/**
 * Prometheus-style metrics registry (the daemon implements it with prom-client). Names must
 * match `[a-z_][a-z0-9_]*`; the daemon prefixes every plugin metric with `rustynet_plugin_`.
 * Asking twice for the same name returns the same metric.
 */
export interface Metrics {
  counter(name: string, help: string, labelNames?: string[]): Counter;
  gauge(name: string, help: string, labelNames?: string[]): Gauge;
  histogram(name: string, help: string, labelNames?: string[], buckets?: number[]): Histogram;
}
