/** One clock for every bucket: a default of `performance.now.bind(performance)` made a bound function per bucket, three per socket. */
const monotonicNow = (): number => performance.now()

/**
 * A token bucket: `burst` tokens at most, refilled at `rate` tokens per
 * second. Used per socket for joins and dials. Time is read lazily on
 * `take`, so an idle bucket costs nothing.
 */
export class TokenBucket {
  readonly rate: number
  readonly burst: number
  readonly #now: () => number
  #tokens: number
  #last: number

  constructor (rate: number, burst: number, now: () => number = monotonicNow) {
    this.rate = rate
    this.burst = burst
    this.#now = now
    this.#tokens = burst
    this.#last = now()
  }

  /** Takes `n` tokens if there are enough; false (and nothing taken) otherwise. */
  take (n = 1): boolean {
    const now = this.#now()
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.rate / 1000)
      this.#last = now
    }
    if (this.#tokens < n) {
      return false
    }
    this.#tokens -= n
    return true
  }

  /**
   * Takes a token even when there is none, leaving a debt that the refill
   * pays back first: for work whose cost is only known once it is done,
   * admitted while `tokens >= 1`.
   */
  charge (n = 1): void {
    this.take(0)
    this.#tokens -= n
  }

  /** Tokens available now (fractional; negative while a `charge` is being paid back). */
  get tokens (): number {
    const elapsed = this.#now() - this.#last
    return Math.min(this.burst, this.#tokens + Math.max(0, elapsed) * this.rate / 1000)
  }
}
