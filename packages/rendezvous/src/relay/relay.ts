import { EndKind, ErrorCode, Event, WsStarError, parseCreditFrame, parseDataFrame, parseEndFrame } from '@wsstar/protocol'
import { LIMIT_NAMES } from '../limits.js'
import { NO_ROOM_FOR_DATA } from '../session/outgoing-backlog.js'
import { FairShare } from './fair-share.js'
import { PowerOfTwoSizeHistogram } from '../metrics/size-histogram.js'
import type { Dial, DialDirection } from '../dial/dial.js'
import type { Rejections } from '../metrics/rejections.js'
import type { DialEnd } from '../dial/dial-end.js'
import type { WireError } from '@wsstar/protocol'
import type { Logger } from 'pino'

export interface RelayInit {
  windowBytes: number
  /** a data frame that would take its receiver's queued data (DialEnd.hasRoomFor) past this resets its dial */
  maxSocketBufferedBytes: number
  /** payload bytes one dial may relay in each direction (`max-dial-bytes`); 0: no cap */
  maxDialBytes: number
  /** how long one dial may stay open (`max-dial-duration`); 0: no cap */
  maxDialDurationMs: number
  rejections: Rejections
  logger: Logger
  /** counts a limit hit by its public name */
  onLimit(limit: string): void
}

/** Who gets told about a reset, and with what. */
export interface ResetOrigin {
  /** the end that caused the reset */
  end: DialEnd
  /** what that end is told; null: nothing (it asked for the reset, or it is gone) */
  error: WireError | null
}

/**
 * The data plane: every dial (pending and open) by id, and the `d`/`c`/`e`
 * rules of PROTOCOL.md. Per dial and direction the relay tracks bytes in
 * flight (forwarded, not yet credited back); a sender over its credit or a
 * receiver crediting bytes it never got resets the dial, so the bytes held
 * for one dial never exceed the window. A frame its receiver has no room
 * for (a receiver that credits ahead of what it read, tiny frames that cost
 * more than their bytes) resets its dial too: the receiver is never cut off
 * for bytes its peers sent. While several dials send to one receiver, each
 * keeps only its share of it on the way and the rest waits here (FairShare).
 */
export class Relay {
  readonly dials = new Map<string, Dial>()
  readonly window: number
  readonly #maxBuffered: number
  readonly #maxDialBytes: number
  readonly #maxDialDurationMs: number
  readonly #fair: FairShare
  readonly #rejections: Rejections
  readonly #logger: Logger
  readonly #onLimit: (limit: string) => void
  #idle: Array<() => void> = []
  #pending = 0
  /** opened dials whose caller's ack is not out yet (their frames are held): see `open` */
  readonly #held = new Map<string, Dial>()

  /** bytes in flight over all dials */
  inFlightBytes = 0
  /** data frames that waited on the server for their share of a receiver (FairShare) */
  heldFrames = 0
  /** the most bytes ever in flight in one direction of one dial */
  maxDialInFlight = 0
  relayedBytes = 0
  dataFrames = 0
  /** payload sizes of the relayed data frames, 64 B .. 64 KiB (MAX_FRAME_BYTES) */
  readonly frameSizes = new PowerOfTwoSizeHistogram(6, 16)
  creditFrames = 0
  endFrames = 0

  constructor (init: RelayInit) {
    this.window = init.windowBytes
    this.#maxBuffered = init.maxSocketBufferedBytes
    this.#maxDialBytes = init.maxDialBytes
    this.#maxDialDurationMs = init.maxDialDurationMs
    this.#fair = new FairShare(init.windowBytes)
    this.#rejections = init.rejections
    this.#logger = init.logger
    this.#onLimit = init.onLimit
  }

  get pendingCount (): number {
    return this.#pending
  }

  /** opened dials whose caller's ack has not been released yet (0 when idle) */
  get heldCount (): number {
    return this.#held.size
  }

  get openCount (): number {
    return this.dials.size - this.#pending
  }

  /** Registers a new (pending) dial with both ends. */
  add (dial: Dial): void {
    this.dials.set(dial.id, dial)
    dial.caller.dials.add(dial)
    dial.callee.dials.add(dial)
    this.#pending++
  }

  /**
   * The callee accepted: frames flow from now on. Until the caller's ack is
   * written (`release`, called by whoever sends that ack), what the server
   * sends on this dial is held back: a callee may send data, or reset, at
   * once after accepting, and its frames, processed in the same turn, must
   * not reach the caller before the dial id they name.
   */
  open (dial: Dial): void {
    if (dial.state === 'pending') {
      dial.state = 'open'
      dial.abort = undefined
      this.#pending--
      dial.held = []
      this.#held.set(dial.id, dial)
      if (this.#maxDialDurationMs > 0) {
        dial.deadline = setTimeout(() => { this.#capped(dial, LIMIT_NAMES.maxDialDurationMs, `the dial reached the server's time cap of ${this.#maxDialDurationMs} ms`) }, this.#maxDialDurationMs)
      }
    }
  }

  /**
   * The caller's `ss-dial` ack naming this dial has just been emitted: send
   * what was held back, right behind it. Not later (a timer, the next turn):
   * once the ack is out the caller may send on the dial, and an answer to
   * that (ERR_DIAL_NOT_FOUND when the dial was reset meanwhile) must not
   * overtake the held reset that says why the dial ended.
   */
  release (dialId: string): void {
    const dial = this.#held.get(dialId)
    if (dial == null) {
      return
    }
    this.#held.delete(dialId)
    const held = dial.held ?? []
    dial.held = undefined
    for (const send of held) {
      send()
    }
  }

  // --- frames from clients --------------------------------------------------

  onData (session: DialEnd, dialId: unknown, bytes: unknown): void {
    let frame
    try {
      frame = parseDataFrame(dialId, bytes)
    } catch (err) {
      this.#rejections.reject(err, Event.DATA, session.id)
      return
    }
    const dial = this.dials.get(frame.dialId)
    const direction = dial?.state === 'open' ? dial.sendingOf(session) : undefined
    if (dial == null || direction == null) {
      this.#stray(session, frame.dialId)
      return
    }
    const n = frame.bytes.byteLength
    if (direction.closed) {
      this.#violation(dial, session, Event.DATA, ErrorCode.BAD_REQUEST, 'data after close-write')
      return
    }
    const inFlight = direction.inFlight + n
    if (inFlight > this.window) {
      this.#onLimit(LIMIT_NAMES.windowBytes)
      this.#violation(dial, session, Event.DATA, ErrorCode.FLOW_CONTROL, `sender exceeded its credit: ${inFlight} bytes in flight, window ${this.window}`)
      return
    }
    if (this.#maxDialBytes > 0 && direction.relayed + n > this.#maxDialBytes) {
      this.#capped(dial, LIMIT_NAMES.maxDialBytes, `the dial reached the server's cap of ${this.#maxDialBytes} bytes in one direction`)
      return
    }
    const receiver = direction.to
    if (!receiver.hasRoomFor(n, this.#maxBuffered)) {
      this.#onLimit(LIMIT_NAMES.maxSocketBufferedBytes)
      this.#violation(dial, session, Event.DATA, ErrorCode.LIMIT_EXCEEDED, NO_ROOM_FOR_DATA)
      return
    }
    direction.inFlight = inFlight
    if (inFlight > dial.maxInFlight) {
      dial.maxInFlight = inFlight
      if (inFlight > this.maxDialInFlight) {
        this.maxDialInFlight = inFlight
      }
    }
    direction.relayed += n
    session.sentData(n)
    this.inFlightBytes += n
    this.relayedBytes += n
    this.dataFrames++
    this.frameSizes.observe(n)
    const now = performance.now()
    direction.lastFrameAt = now
    if (dial.held != null) {
      dial.held.push(() => { receiver.sendData(frame.dialId, frame.bytes) })
    } else if (this.#fair.holds(dial, direction, now)) {
      this.heldFrames++
      this.#fair.hold(direction, frame.bytes)
    } else {
      receiver.sendData(frame.dialId, frame.bytes)
    }
  }

  onCredit (session: DialEnd, dialId: unknown, bytes: unknown): void {
    let frame
    try {
      frame = parseCreditFrame(dialId, bytes)
    } catch (err) {
      this.#rejections.reject(err, Event.CREDIT, session.id)
      return
    }
    const dial = this.dials.get(frame.dialId)
    // credit on a dial we do not know races with normal closes: drop silently
    const direction = dial?.state === 'open' ? dial.receivingOf(session) : undefined
    if (dial == null || direction == null) {
      return
    }
    // what waits on the server for its share has not reached the receiver
    const sent = direction.inFlight - direction.queuedBytes
    if (frame.bytes > sent) {
      this.#violation(dial, session, Event.CREDIT, ErrorCode.FLOW_CONTROL, `credit of ${frame.bytes} bytes exceeds the ${sent} bytes in flight`)
      return
    }
    direction.inFlight -= frame.bytes
    this.inFlightBytes -= frame.bytes
    this.creditFrames++
    if (frame.bytes > direction.maxGrant) {
      direction.maxGrant = frame.bytes
    }
    if (!direction.closed) {
      const from = direction.from
      this.#send(dial, () => { from.sendCredit(frame.dialId, frame.bytes) })
    }
    if (direction.queue !== undefined) {
      this.#drain(dial, direction)
    }
  }

  onEnd (session: DialEnd, dialId: unknown, kind: unknown, error: unknown): void {
    let frame
    try {
      frame = parseEndFrame(dialId, kind, error)
    } catch (err) {
      this.#rejections.reject(err, Event.END, session.id)
      return
    }
    const dial = this.dials.get(frame.dialId)
    const direction = dial?.state === 'open' ? dial.sendingOf(session) : undefined
    if (dial == null || direction == null) {
      return
    }
    this.endFrames++
    const other = direction.to
    if (frame.kind === EndKind.RESET) {
      this.#forget(dial)
      if (other.connected) {
        if (frame.error != null) {
          const error = frame.error
          this.#send(dial, () => { other.sendEnd(dial.id, EndKind.RESET, error) })
        } else {
          this.#send(dial, () => { other.sendEnd(dial.id, EndKind.RESET) })
        }
      }
      return
    }
    if (direction.closed) {
      return
    }
    direction.closed = true
    if (direction.queue !== undefined) {
      // after the data that waits for its share
      direction.closeWriteQueued = true
      return
    }
    if (other.connected) {
      this.#send(dial, () => { other.sendEnd(dial.id, EndKind.CLOSE_WRITE) })
    }
    this.#forgetWhenDone(dial)
  }

  // --- resets from the server -------------------------------------------------

  /**
   * Ends a dial and tells its ends: both get `error`, except `origin`,
   * which gets `origin.error` (or nothing). A pending dial fails the
   * caller's dial request instead.
   */
  reset (dial: Dial, error: WireError, origin?: ResetOrigin): void {
    if (dial.state === 'closed') {
      return
    }
    const wasPending = dial.state === 'pending'
    const abort = dial.abort
    this.#logger.trace({ dial: dial.id, code: error.code, pending: wasPending }, 'dial reset')
    this.#forget(dial)
    if (wasPending) {
      // the caller's dial request fails; the callee is told if it accepts later
      abort?.(origin?.end === dial.caller && origin.error != null ? origin.error : error)
      return
    }
    for (const end of [dial.caller, dial.callee]) {
      const told = origin?.end === end ? origin.error : error
      if (told != null && end.connected) {
        this.#send(dial, () => { if (end.connected) end.sendEnd(dial.id, EndKind.RESET, told) })
      }
    }
  }

  /**
   * Resets every dial of `end` as `peerId` (a leave or a replacement). In a
   * cluster, the dials this node only forwards for `end` are the link's
   * (ClusterLink.dropPeer).
   */
  dropPeer (end: DialEnd, peerId: string, toOthers: WireError, toSelf: WireError | null): void {
    for (const dial of [...end.dials]) {
      if (dial.hasEnd(end, peerId)) {
        this.reset(dial, toOthers, { end, error: toSelf })
      }
    }
  }

  /** Resets every dial of an end that is gone (a socket that disconnected); the link's forwards as in dropPeer. */
  dropSession (end: DialEnd, toOthers: WireError): void {
    for (const dial of [...end.dials]) {
      this.reset(dial, toOthers, { end, error: null })
    }
  }

  /** Resolves when no dial is left (pending or open). */
  async whenIdle (): Promise<void> {
    if (this.dials.size === 0) {
      return
    }
    await new Promise<void>(resolve => { this.#idle.push(resolve) })
  }

  // --- internals ----------------------------------------------------------

  /** A protocol violation by `session` on `dial`: count it, reset both ends. */
  #violation (dial: Dial, session: DialEnd, event: string, code: ErrorCode, message: string): void {
    const wire = this.#rejections.reject(new WsStarError(code, message), event, session.id)
    this.reset(dial, wire)
  }

  /** Sends what waits on `direction` as its share allows; then its close-write, if it came meanwhile. */
  #drain (dial: Dial, direction: DialDirection): void {
    if (!this.#fair.drain(dial, direction, performance.now()) || !direction.closeWriteQueued) {
      return
    }
    direction.closeWriteQueued = false
    if (direction.to.connected) {
      direction.to.sendEnd(dial.id, EndKind.CLOSE_WRITE)
    }
    this.#forgetWhenDone(dial)
  }

  /** Both directions closed and delivered: the dial is over. */
  #forgetWhenDone (dial: Dial): void {
    if (dial.forward.closed && dial.backward.closed && dial.forward.queue === undefined && dial.backward.queue === undefined) {
      this.#forget(dial)
    }
  }

  /** A dial reached a cap of the operator's (`max-dial-bytes`, `max-dial-duration`): both ends get ERR_RELAY_LIMIT. */
  #capped (dial: Dial, limit: string, message: string): void {
    this.#onLimit(limit)
    this.reset(dial, { code: ErrorCode.RELAY_LIMIT, message })
  }

  /** A data frame for a dial this socket is not an open end of: tell the sender only, rate limited. */
  #stray (session: DialEnd, dialId: string): void {
    this.#rejections.count(ErrorCode.DIAL_NOT_FOUND, Event.DATA, session.id)
    if (session.strayBucket.take()) {
      session.sendEnd(dialId, EndKind.RESET, { code: ErrorCode.DIAL_NOT_FOUND, message: 'no such dial on this socket' })
    }
  }

  /** Sends now, or after the caller's ack when the dial was accepted in this tick (see `open`). */
  #send (dial: Dial, send: () => void): void {
    if (dial.held != null) {
      dial.held.push(send)
    } else {
      send()
    }
  }

  #forget (dial: Dial): void {
    if (dial.state === 'pending') {
      this.#pending--
    }
    dial.state = 'closed'
    dial.abort = undefined
    if (dial.deadline != null) {
      clearTimeout(dial.deadline)
      dial.deadline = undefined
    }
    this.#fair.drop(dial.forward)
    this.#fair.drop(dial.backward)
    this.dials.delete(dial.id)
    dial.caller.dials.delete(dial)
    dial.callee.dials.delete(dial)
    this.inFlightBytes -= dial.forward.inFlight + dial.backward.inFlight
    if (this.dials.size === 0 && this.#idle.length > 0) {
      const idle = this.#idle
      this.#idle = []
      for (const resolve of idle) {
        resolve()
      }
    }
    dial.caller.forgotten?.(dial.id)
    dial.callee.forgotten?.(dial.id)
    this.#logger.trace({ dial: dial.id }, 'dial closed')
  }
}
