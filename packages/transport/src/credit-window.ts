import { creditBatchBytes } from '@wsstar/protocol'
import { FlowControlError } from './errors.js'

/**
 * Credit bookkeeping of one dial direction (wire protocol v2, rule 1-3).
 *
 * The sender side starts with `window` bytes of credit, spends it per `d`
 * frame and gets it back through `c` frames. The receiver side grants credit
 * only for bytes the application has consumed, once at least a batch
 * (a quarter of the window) is due, and never for bytes it has not received.
 */
export class SendCredit {
  #available: number
  readonly window: number

  constructor (window: number) {
    this.window = window
    this.#available = window
  }

  get available (): number {
    return this.#available
  }

  spend (bytes: number): void {
    if (bytes > this.#available) {
      throw new FlowControlError(`tried to send ${bytes} bytes with ${this.#available} bytes of credit`)
    }
    this.#available -= bytes
  }

  /** A `c` frame arrived. The server checks that grants never exceed what is in flight. */
  grant (bytes: number): void {
    this.#available = Math.min(this.window, this.#available + bytes)
  }
}

export class ReceiveCredit {
  readonly window: number
  readonly batch: number
  /** bytes received from the remote sender */
  #received = 0
  /** bytes the application consumed (monotonic, never above `#received`) */
  #consumed = 0
  /** bytes credited back to the sender */
  #credited = 0

  constructor (window: number, batch: number = creditBatchBytes(window)) {
    this.window = window
    this.batch = Math.max(1, Math.min(batch, window))
  }

  get credited (): number {
    return this.#credited
  }

  /** Bytes the sender may still send without waiting for us. */
  get outstanding (): number {
    return this.window - (this.#received - this.#credited)
  }

  /** Records a `d` frame; throws when the sender went over its credit. */
  receive (bytes: number): void {
    if (this.#received + bytes - this.#credited > this.window) {
      throw new FlowControlError(`remote sent ${bytes} bytes with only ${this.outstanding} bytes of credit`)
    }
    this.#received += bytes
  }

  /**
   * The application has consumed everything except `unread` bytes. Returns
   * how much credit to grant now: 0 until a full batch is due.
   */
  consume (unread: number): number {
    const consumed = Math.max(0, this.#received - Math.max(0, unread))
    if (consumed > this.#consumed) {
      this.#consumed = consumed
    }
    const due = this.#consumed - this.#credited
    if (due < this.batch) {
      return 0
    }
    this.#credited += due
    return due
  }
}
