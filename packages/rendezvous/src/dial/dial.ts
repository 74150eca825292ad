import type { DialEnd } from './dial-end.js'
import type { WireError } from '@wsstar/protocol'

/** pending: the callee has not accepted yet; open: relaying; closed: forgotten. */
export type DialState = 'pending' | 'open' | 'closed'

/** One direction of a dial: bytes from `from` to `to` under the receiver's credit. */
export class DialDirection {
  readonly from: DialEnd
  readonly to: DialEnd
  /** bytes forwarded to `to` and not yet credited back by it */
  inFlight = 0
  /** `from` sent close-write: no more data this way */
  closed = false
  /** payload bytes relayed this way (`max-dial-bytes`) */
  relayed = 0
  /** when the last data frame came this way (performance.now()): whether the receiver is shared (relay/fair-share.ts) */
  lastFrameAt = -Infinity
  /** the largest credit `to` granted at once: the share it gets while shared */
  maxGrant = 0
  /** frames waiting on the server for their share of `to` (counted in `inFlight`), oldest first */
  queue?: Uint8Array[]
  /** their payload bytes */
  queuedBytes = 0
  /** `from` sent close-write while frames waited: it follows them */
  closeWriteQueued = false

  constructor (from: DialEnd, to: DialEnd) {
    this.from = from
    this.to = to
  }
}

export interface DialInit {
  id: string
  caller: DialEnd
  callerPeerId: string
  callerAddress: string
  callee: DialEnd
  calleePeerId: string
  calleeAddress: string
}

/**
 * A relayed connection between two registered peers, identified by a
 * server-assigned id. Ends are (socket, peer id) pairs: a socket with
 * several registrations only loses the dials of the one it leaves.
 */
export class Dial {
  readonly id: string
  readonly caller: DialEnd
  readonly callerPeerId: string
  readonly callerAddress: string
  readonly callee: DialEnd
  readonly calleePeerId: string
  readonly calleeAddress: string
  /** caller -> callee */
  readonly forward: DialDirection
  /** callee -> caller */
  readonly backward: DialDirection
  readonly createdAt = Date.now()
  state: DialState = 'pending'
  /** the most bytes ever in flight in one direction of this dial */
  maxInFlight = 0
  /** while pending: fails the caller's dial request (set by the dial router) */
  abort?: (error: WireError) => void
  /** frames to send once the caller's ack is out: set by `Relay.open` for the tick of the accept */
  held?: Array<() => void>
  /** the end of the dial's time cap (`max-dial-duration`), set by `Relay.open` when there is one */
  deadline?: ReturnType<typeof setTimeout>

  constructor (init: DialInit) {
    this.id = init.id
    this.caller = init.caller
    this.callerPeerId = init.callerPeerId
    this.callerAddress = init.callerAddress
    this.callee = init.callee
    this.calleePeerId = init.calleePeerId
    this.calleeAddress = init.calleeAddress
    this.forward = new DialDirection(init.caller, init.callee)
    this.backward = new DialDirection(init.callee, init.caller)
  }

  /** The direction `end` sends in; undefined if it is not an end of this dial. */
  sendingOf (end: DialEnd): DialDirection | undefined {
    return end === this.caller ? this.forward : end === this.callee ? this.backward : undefined
  }

  /** The direction `end` receives in; undefined if it is not an end of this dial. */
  receivingOf (end: DialEnd): DialDirection | undefined {
    return end === this.caller ? this.backward : end === this.callee ? this.forward : undefined
  }

  /** True when `end` takes part in this dial as `peerId`. */
  hasEnd (end: DialEnd, peerId: string): boolean {
    return (end === this.caller && peerId === this.callerPeerId) || (end === this.callee && peerId === this.calleePeerId)
  }

  inspect (): DialInfo {
    return {
      id: this.id,
      state: this.state,
      caller: this.callerAddress,
      callee: this.calleeAddress,
      forward: { inFlight: this.forward.inFlight, closed: this.forward.closed, relayed: this.forward.relayed, queued: this.forward.queuedBytes },
      backward: { inFlight: this.backward.inFlight, closed: this.backward.closed, relayed: this.backward.relayed, queued: this.backward.queuedBytes },
      maxInFlight: this.maxInFlight,
      ageMs: Date.now() - this.createdAt
    }
  }
}

/** A snapshot of a dial, for tests and debugging. */
export interface DialInfo {
  id: string
  state: DialState
  caller: string
  callee: string
  /** queued: the bytes in flight that wait on the server for their share of the receiver */
  forward: { inFlight: number, closed: boolean, relayed: number, queued: number }
  backward: { inFlight: number, closed: boolean, relayed: number, queued: number }
  maxInFlight: number
  ageMs: number
}
