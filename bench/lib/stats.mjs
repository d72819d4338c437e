// Small statistics helpers for the benches (milliseconds in, milliseconds out).

/** Value at quantile q (0..1) of `samples`, nearest-rank method (no interpolation). */
export function quantile(samples, q) {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * s.length));
  return s[Math.min(s.length, rank) - 1];
}

/** { n, median, p95, min, max, mean } of `samples`. */
export function summarize(samples) {
  const n = samples.length;
  if (n === 0) return { n: 0, median: NaN, p95: NaN, min: NaN, max: NaN, mean: NaN };
  return {
    n,
    median: quantile(samples, 0.5),
    p95: quantile(samples, 0.95),
    min: Math.min(...samples),
    max: Math.max(...samples),
    mean: samples.reduce((a, b) => a + b, 0) / n,
  };
}

/** Rounds for printing: 2 decimals under 10, 1 under 100, else integer. */
export function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return 'n/a';
  const a = Math.abs(x);
  return a < 10 ? x.toFixed(2) : a < 100 ? x.toFixed(1) : x.toFixed(0);
}

/** Ratio a/b, or NaN. */
export function ratio(a, b) {
  return b > 0 ? a / b : NaN;
}
