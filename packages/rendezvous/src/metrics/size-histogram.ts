/** One sample of the exposition: `<metricName>{labels} value`. */
export interface HistogramSample {
  metricName: string
  labels: Record<string, string>
  value: number
}

/**
 * A histogram of sizes in power-of-two buckets (`le` 2^minExponent ..
 * 2^maxExponent bytes, then +Inf) for the data path: `observe` is a
 * `Math.clz32` and two array increments, no allocation and no label lookup.
 * A prom-client Histogram's observe hashes its labels and walks its bucket
 * list on every call, which the relay would pay per frame; this one is
 * turned into the Prometheus histogram only at scrape time (`collect`).
 */
export class PowerOfTwoSizeHistogram {
  readonly #minExponent: number
  /** non-cumulative counts: [0] <= 2^min, [i] in (2^(min+i-1), 2^(min+i)], last: +Inf */
  readonly #counts: Float64Array
  #sum = 0

  constructor (minExponent: number, maxExponent: number) {
    this.#minExponent = minExponent
    this.#counts = new Float64Array(maxExponent - minExponent + 2)
  }

  observe (size: number): void {
    // the exponent of the smallest power of two >= size
    const exponent = size <= 1 ? 0 : 32 - Math.clz32(size - 1)
    const i = Math.max(0, exponent - this.#minExponent)
    this.#counts[Math.min(i, this.#counts.length - 1)]++
    this.#sum += size
  }

  /** The Prometheus histogram's samples: cumulative `_bucket{le}`, `_sum`, `_count`. */
  samples (name: string): HistogramSample[] {
    const values: HistogramSample[] = []
    let cumulative = 0
    for (let i = 0; i < this.#counts.length; i++) {
      cumulative += this.#counts[i]
      const le = i === this.#counts.length - 1 ? '+Inf' : String(2 ** (this.#minExponent + i))
      values.push({ metricName: `${name}_bucket`, labels: { le }, value: cumulative })
    }
    values.push({ metricName: `${name}_sum`, labels: {}, value: this.#sum })
    values.push({ metricName: `${name}_count`, labels: {}, value: cumulative })
    return values
  }
}
