// Leak judgement of a soak run (bench/relay-soak.mjs): least-squares slopes over the second half.

/**
 * Least-squares fit of ys over xs: `slope` (units of y per unit of x) and its standard error `se`
 * (residual standard deviation / sqrt(sum of squared x deviations)). NaN with too few points
 * (2 for the slope, 3 for its error).
 */
export function fitSlope(xs, ys) {
  const n = xs.length;
  if (n < 2) return { slope: NaN, se: NaN };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  if (den === 0) return { slope: NaN, se: NaN };
  const slope = num / den;
  const intercept = my - slope * mx;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (ys[i] - intercept - slope * xs[i]) ** 2;
  const se = n > 2 ? Math.sqrt(sq / (n - 2) / den) : NaN;
  return { slope, se };
}

/**
 * Thresholds (documented in docs/performance.md, "Relay soak"). A process leaks when, over the
 * second half of the run (warm-up excluded), the lower bound of its least-squares slope
 * (slope − 2 standard errors, about 95 %) exceeds `perMinute` AND its last sample exceeds its
 * first second-half sample by more than `total`. The error term keeps garbage-collector noise in
 * a short run from reading as growth; in a long run (24 h: ~720 second-half points) it shrinks
 * and the rule tends to the plain slope threshold.
 */
export const LEAK_THRESHOLDS = {
  rssMiB: { perMinute: 0.5, total: 4 },
  fds: { perMinute: 0.1, total: 2 },
};

/**
 * Judges one process's series. `samples`: [{ minute, rssMiB, fds }], minute 0 first.
 * @returns {{ judged, points, rssSlopeMiBPerMin, rssSlopeStdErr, fdSlopePerMin, fdSlopeStdErr,
 *   rssGrowthMiB, fdGrowth, leaks: string[] }} `leaks` names what grew beyond the thresholds
 *   (empty: no leak); with fewer than 3 second-half points nothing is judged (`judged: false`).
 */
export function judgeLeak(samples, thresholds = LEAK_THRESHOLDS) {
  const last = samples.at(-1)?.minute ?? 0;
  const half = samples.filter((s) => s.minute >= last / 2 && Number.isFinite(s.rssMiB) && Number.isFinite(s.fds));
  const xs = half.map((s) => s.minute);
  const rss = fitSlope(
    xs,
    half.map((s) => s.rssMiB),
  );
  const fd = fitSlope(
    xs,
    half.map((s) => s.fds),
  );
  const rssGrowth = half.length ? half.at(-1).rssMiB - half[0].rssMiB : NaN;
  const fdGrowth = half.length ? half.at(-1).fds - half[0].fds : NaN;
  const judged = half.length >= 3;
  const lower = (f) => f.slope - 2 * (Number.isFinite(f.se) ? f.se : 0);
  const leaks = [];
  if (judged && lower(rss) > thresholds.rssMiB.perMinute && rssGrowth > thresholds.rssMiB.total) leaks.push('rss');
  if (judged && lower(fd) > thresholds.fds.perMinute && fdGrowth > thresholds.fds.total) leaks.push('fds');
  return {
    judged,
    points: half.length,
    rssSlopeMiBPerMin: rss.slope,
    rssSlopeStdErr: rss.se,
    fdSlopePerMin: fd.slope,
    fdSlopeStdErr: fd.se,
    rssGrowthMiB: rssGrowth,
    fdGrowth,
    leaks,
  };
}
