import { randomFillSync } from 'node:crypto'

/** 16 random bytes, as `createDialId` of @wsstar/protocol: 22 base64url chars. */
const DIAL_ID_BYTES = 16
/** ids per refill: one CSPRNG call per 256 dials instead of one per dial */
const IDS_PER_REFILL = 256

/**
 * Unguessable dial ids from a pooled CSPRNG buffer. The bytes come from the
 * same generator as `crypto.getRandomValues` and each byte is used for one id
 * only; a 16-byte call per dial cost more than the rest of the id handling
 * (the same trade Node makes for `crypto.randomUUID`).
 */
export class DialIdPool {
  readonly #pool = Buffer.allocUnsafeSlow(DIAL_ID_BYTES * IDS_PER_REFILL)
  #offset = this.#pool.length

  next (): string {
    if (this.#offset === this.#pool.length) {
      randomFillSync(this.#pool)
      this.#offset = 0
    }
    const start = this.#offset
    this.#offset += DIAL_ID_BYTES
    return this.#pool.toString('base64url', start, this.#offset)
  }
}
