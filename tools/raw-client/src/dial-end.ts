/**
 * One end of an open dial as a well-behaved client plays it: sends within its
 * credit and waits for more, grants credit in quarter-window batches as it
 * "consumes" (unless `autoCredit` is off, then `grant()` by hand). Every wait
 * is bounded.
 */
import type { WireErr } from './request.js'
import type { Socket } from 'socket.io-client'

export class DialEnd {
  readonly socket: Socket
  readonly dialId: string
  readonly chunks: Uint8Array[] = []
  receivedBytes = 0
  credit: number
  creditedBytes = 0
  autoCredit: boolean
  remoteClosed = false
  resetError: WireErr | null | undefined = undefined
  #waiters: Array<() => void> = []
  readonly #batch: number
  readonly #keep: boolean
  readonly #onData = (id: string, bytes: Uint8Array): void => {
    if (id !== this.dialId) return
    this.receivedBytes += bytes.byteLength
    if (this.#keep) this.chunks.push(bytes)
    if (this.autoCredit) this.#maybeGrant()
    this.#wake()
  }

  readonly #onCredit = (id: string, n: number): void => {
    if (id !== this.dialId) return
    this.credit += n
    this.#wake()
  }

  readonly #onEnd = (id: string, kind: string, error?: WireErr): void => {
    if (id !== this.dialId) return
    if (kind === 'reset') { if (this.resetError === undefined) this.resetError = error ?? null }
    else this.remoteClosed = true
    this.#wake()
  }

  constructor (socket: Socket, dialId: string, window: number, opts: { autoCredit?: boolean, keepChunks?: boolean } = {}) {
    this.socket = socket
    this.dialId = dialId
    this.credit = window
    this.autoCredit = opts.autoCredit ?? true
    this.#keep = opts.keepChunks ?? true
    this.#batch = Math.floor(window / 4)
    socket.on('d', this.#onData)
    socket.on('c', this.#onCredit)
    socket.on('e', this.#onEnd)
  }

  detach (): void {
    this.socket.off('d', this.#onData)
    this.socket.off('c', this.#onCredit)
    this.socket.off('e', this.#onEnd)
  }

  /** Sends `data` in frames of at most 64 KiB, never beyond the credit. */
  async send (data: Uint8Array, frame = 64 * 1024): Promise<void> {
    let offset = 0
    while (offset < data.byteLength) {
      if (this.resetError !== undefined) throw new Error(`dial reset: ${JSON.stringify(this.resetError)}`)
      if (this.credit === 0) {
        await this.changed()
        continue
      }
      const n = Math.min(frame, this.credit, data.byteLength - offset)
      this.socket.emit('d', this.dialId, data.subarray(offset, offset + n))
      this.credit -= n
      offset += n
    }
  }

  /** Grants credit for everything received and not yet credited. */
  grant (): void {
    const due = this.receivedBytes - this.creditedBytes
    if (due > 0) {
      this.creditedBytes += due
      this.socket.emit('c', this.dialId, due)
    }
  }

  closeWrite (): void {
    this.socket.emit('e', this.dialId, 'close-write')
  }

  received (): Buffer {
    return Buffer.concat(this.chunks)
  }

  async changed (timeoutMs = 5000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`dial end ${this.dialId}: nothing happened within ${timeoutMs} ms`)) }, timeoutMs)
      this.#waiters.push(() => { clearTimeout(timer); resolve() })
    })
  }

  async until (predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`dial end ${this.dialId}: condition not met within ${timeoutMs} ms`)
      await this.changed(left).catch(() => {})
    }
  }

  #maybeGrant (): void {
    if (this.receivedBytes - this.creditedBytes >= this.#batch) this.grant()
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }
}
