// Small, dependency-free statistics helpers for the benchmark harness.

/** Sorted copy of the finite numbers in `values`. */
function sorted (values) {
  return values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
}

/**
 * Percentile with linear interpolation between closest ranks
 * (the "R-7" / Excel PERCENTILE.INC definition). `p` in [0, 100].
 */
export function percentile (values, p) {
  const s = sorted(values)
  if (s.length === 0) return NaN
  if (s.length === 1) return s[0]
  const rank = (p / 100) * (s.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return s[lo] + (s[hi] - s[lo]) * (rank - lo)
}

export function median (values) {
  return percentile(values, 50)
}

export function mean (values) {
  const s = sorted(values)
  if (s.length === 0) return NaN
  return s.reduce((a, b) => a + b, 0) / s.length
}

export function min (values) {
  const s = sorted(values)
  return s.length === 0 ? NaN : s[0]
}

export function max (values) {
  const s = sorted(values)
  return s.length === 0 ? NaN : s[s.length - 1]
}

/** Sample standard deviation. */
export function stddev (values) {
  const s = sorted(values)
  if (s.length < 2) return 0
  const m = mean(s)
  return Math.sqrt(s.reduce((a, v) => a + (v - m) ** 2, 0) / (s.length - 1))
}

/** { n, min, p50, p90, p99, max, mean, stddev } of `values`. */
export function summarize (values) {
  return {
    n: sorted(values).length,
    min: min(values),
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: max(values),
    mean: mean(values),
    stddev: stddev(values)
  }
}

/** a / b, or NaN when either side is missing or b is 0. */
export function ratio (a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return NaN
  return a / b
}
