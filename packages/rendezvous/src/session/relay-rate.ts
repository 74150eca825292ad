import { TokenBucket } from './token-bucket.js'

/**
 * How fast one socket may send through the relay (`relay-rate`): a token
 * bucket of the payload bytes it sends over all its dials, and the credit
 * held back from it while the bucket is in debt.
 *
 * A sender is never cut off nor its data dropped for its rate, and the
 * server queues nothing for it: it is slowed down by its credit. Its frames
 * are relayed as they come (each charges the bucket, into debt if need be);
 * the credit its receivers return is held while the bucket is in debt and
 * sent once it has refilled. A sender only sends within its credit, so on
 * average it sends at the rate, ahead by at most the burst and the credit
 * it held when the debt began (a window per dial).
 */
export class RelayRate {
  readonly #bucket: TokenBucket
  /** sends a `c` frame to the socket */
  readonly #release: (dialId: string, bytes: number) => void
  /** called once per run of held credit (the limit-hit metric) */
  readonly #onHold: () => void
  /** dial id -> credit held back, in the order the dials were first held */
  readonly #held = new Map<string, number>()
  #timer?: ReturnType<typeof setTimeout>

  constructor (bytesPerSecond: number, burstBytes: number, release: (dialId: string, bytes: number) => void, onHold: () => void) {
    this.#bucket = new TokenBucket(bytesPerSecond, burstBytes)
    this.#release = release
    this.#onHold = onHold
  }

  get bytesPerSecond (): number {
    return this.#bucket.rate
  }

  get burstBytes (): number {
    return this.#bucket.burst
  }

  /** credit held back now, over all dials */
  get heldBytes (): number {
    let sum = 0
    for (const bytes of this.#held.values()) sum += bytes
    return sum
  }

  /** The socket sent `bytes` of payload: they are relayed whatever the bucket holds. */
  charge (bytes: number): void {
    this.#bucket.charge(bytes)
  }

  /**
   * Credit for the socket: false when it may go now; true when it is held
   * (the bucket is in debt, or credit is held already: it all goes together,
   * in order) and will be released by the timer.
   */
  hold (dialId: string, bytes: number): boolean {
    if (this.#held.size === 0) {
      if (this.#bucket.tokens >= 0) {
        return false
      }
      this.#onHold()
    }
    this.#held.set(dialId, (this.#held.get(dialId) ?? 0) + bytes)
    this.#schedule()
    return true
  }

  /** The dial ended: its held credit is dropped. */
  forget (dialId: string): void {
    this.#held.delete(dialId)
    if (this.#held.size === 0) {
      this.stop()
    }
  }

  /** The socket is gone, or the rate replaced: nothing more is released. */
  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Releases whatever is held (the rate was lifted or replaced). */
  releaseAll (): void {
    this.stop()
    const held = [...this.#held]
    this.#held.clear()
    for (const [dialId, bytes] of held) {
      this.#release(dialId, bytes)
    }
  }

  #schedule (): void {
    if (this.#timer != null) {
      return
    }
    // when the debt is paid back; at least 1 ms, so a timer never spins
    const ms = Math.max(1, Math.ceil(-this.#bucket.tokens / this.#bucket.rate * 1000))
    this.#timer = setTimeout(this.#due, ms)
  }

  readonly #due = (): void => {
    this.#timer = undefined
    if (this.#bucket.tokens < 0) {
      this.#schedule()
      return
    }
    this.releaseAll()
  }
}
