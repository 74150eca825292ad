import { Event, parseCreditFrame, parseDataFrame, parseDialId, parseEndFrame } from '@wsstar/protocol'
import type { DialEndpoint } from './relayed-connection.js'
import type { Logger } from '@libp2p/interface'
import type { Socket } from 'socket.io-client'

/** How many unknown dial ids we remember having reset, so a burst of stray frames gets one reset each. */
const MAX_REMEMBERED_RESETS = 256

/**
 * One dispatcher per socket: a single socket.io listener per data-plane
 * event (`d`, `c`, `e`) routes frames to the dial they name. Dials register
 * and unregister here; they never add socket listeners of their own, so
 * many dials over one socket leak nothing.
 */
export class DialDispatcher {
  readonly #dials = new Map<string, DialEndpoint>()
  /**
   * Dials whose ack arrived but whose endpoint is not registered yet: their
   * frames wait here. The server sends the callee's first frames (data sent
   * at once after accepting, a reset) right behind the caller's ack, and the
   * socket delivers them in the same tick as the ack, before the code
   * awaiting the ack can register the dial.
   */
  readonly #early = new Map<string, Array<(endpoint: DialEndpoint) => void>>()
  readonly #resetSent = new Set<string>()
  readonly #log: Logger
  readonly #sendReset: (dialId: string) => void

  /** payload bytes of each well-formed data frame, for the transport's metrics */
  readonly #onReceived: (bytes: number) => void

  constructor (log: Logger, sendReset: (dialId: string) => void, onReceived: (bytes: number) => void = () => {}) {
    this.#log = log
    this.#sendReset = sendReset
    this.#onReceived = onReceived
  }

  get size (): number {
    return this.#dials.size
  }

  has (dialId: string): boolean {
    return this.#dials.has(dialId)
  }

  add (dialId: string, endpoint: DialEndpoint): void {
    this.#dials.set(dialId, endpoint)
    const early = this.#early.get(dialId)
    if (early != null) {
      this.#early.delete(dialId)
      for (const deliver of early) {
        deliver(endpoint)
      }
    }
  }

  /** The ack of `dialId` arrived: hold its frames until `add` (or `unexpect`). Call it synchronously in the ack callback. */
  expect (dialId: string): void {
    if (!this.#dials.has(dialId) && !this.#early.has(dialId)) {
      this.#early.set(dialId, [])
    }
  }

  /** The dial will not be registered after all (the caller gave up): drop what was held. */
  unexpect (dialId: string): void {
    this.#early.delete(dialId)
  }

  delete (dialId: string): boolean {
    return this.#dials.delete(dialId)
  }

  /** The dials routed here right now (a snapshot). */
  entries (): Array<[string, DialEndpoint]> {
    return [...this.#dials.entries()]
  }

  /** Installs the three frame listeners on a socket. Called once per socket. */
  attach (socket: Socket): void {
    socket.on(Event.DATA, (dialId: unknown, bytes: unknown) => {
      this.#onData(dialId, bytes)
    })
    socket.on(Event.CREDIT, (dialId: unknown, bytes: unknown) => {
      this.#onCredit(dialId, bytes)
    })
    socket.on(Event.END, (dialId: unknown, kind: unknown, error?: unknown) => {
      this.#onEnd(dialId, kind, error)
    })
  }

  #onData (dialId: unknown, bytes: unknown): void {
    let frame
    try {
      frame = parseDataFrame(dialId, toBytes(bytes))
    } catch (err) {
      this.#log('dropping malformed data frame - %e', err)
      return
    }
    this.#onReceived(frame.bytes.byteLength)
    const dial = this.#dials.get(frame.dialId)
    if (dial == null) {
      // bounded: the sender cannot exceed the window before this end grants credit
      const early = this.#early.get(frame.dialId)
      if (early != null) {
        const bytes = frame.bytes
        early.push(endpoint => { endpoint.onDataFrame(bytes) })
        return
      }
      this.#unknownDial(frame.dialId)
      return
    }
    dial.onDataFrame(frame.bytes)
  }

  #onCredit (dialId: unknown, bytes: unknown): void {
    let frame
    try {
      frame = parseCreditFrame(dialId, bytes)
    } catch (err) {
      this.#log('dropping malformed credit frame - %e', err)
      return
    }
    const dial = this.#dials.get(frame.dialId)
    if (dial == null) {
      const { bytes } = frame
      this.#early.get(frame.dialId)?.push(endpoint => { endpoint.onCreditFrame(bytes) })
      return
    }
    dial.onCreditFrame(frame.bytes)
  }

  #onEnd (dialId: unknown, kind: unknown, error: unknown): void {
    let frame
    try {
      frame = parseEndFrame(dialId, kind, error)
    } catch (err) {
      this.#log('dropping malformed end frame - %e', err)
      return
    }
    const dial = this.#dials.get(frame.dialId)
    if (dial == null) {
      const { kind, error } = frame
      this.#early.get(frame.dialId)?.push(endpoint => { endpoint.onEndFrame(kind, error) })
      return
    }
    dial.onEndFrame(frame.kind, frame.error)
  }

  /**
   * Data for a dial we do not know (already reset or closed here, or an
   * aborted dial whose id came late): reset it once so the server and the
   * other end forget it too.
   */
  #unknownDial (dialId: string): void {
    try {
      parseDialId(dialId)
    } catch {
      return
    }
    if (this.#resetSent.has(dialId)) {
      return
    }
    if (this.#resetSent.size >= MAX_REMEMBERED_RESETS) {
      const oldest = this.#resetSent.values().next().value
      if (oldest != null) {
        this.#resetSent.delete(oldest)
      }
    }
    this.#resetSent.add(dialId)
    this.#log('data frame for unknown dial %s, resetting it', dialId)
    try {
      this.#sendReset(dialId)
    } catch {
      // not connected: the server drops the socket's dials with it, this one included
    }
  }
}

/** Binary payloads arrive as Buffer (Node) or ArrayBuffer (browsers); make them plain Uint8Array views. */
export function toBytes (value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }
  if (value instanceof ArrayBuffer) {
    return new Uint8Array(value)
  }
  return value
}

