/** A monotonically increasing counter. */
export interface Counter {
  /** Adds `value` (default 1, never negative), optionally for one label set. */
  inc(labels?: Record<string, string>, value?: number): void;
}
/** A value that goes up and down. */
export interface Gauge {
  /** Sets the gauge to `value`, optionally for one label set. */
  set(labels: Record<string, string>, value: number): void;
  /** Sets the gauge (without labels) to `value`. */
  set(value: number): void;
}
/** A distribution of observed values (seconds for durations). */
export interface Histogram {
  /** Records one observation (e.g. seconds), optionally for one label set. */
  observe(labels: Record<string, string>, value: number): void;
  /** Records one observation without labels. */
  observe(value: number): void;
}

/**
 * Prometheus-style metrics registry (the daemon implements it with prom-client). Names must
 * match `[a-z_][a-z0-9_]*`; the daemon prefixes every plugin metric with `rustynet_plugin_`.
 * Asking twice for the same name returns the same metric.
 */
export interface Metrics {
  /** Creates (or returns) the counter `name` with the given help text and label names. */
  counter(name: string, help: string, labelNames?: string[]): Counter;
  /** Creates (or returns) the gauge `name` with the given help text and label names. */
  gauge(name: string, help: string, labelNames?: string[]): Gauge;
  /** Creates (or returns) the histogram `name` with the given help text, label names and buckets. */
  histogram(name: string, help: string, labelNames?: string[], buckets?: number[]): Histogram;
}
