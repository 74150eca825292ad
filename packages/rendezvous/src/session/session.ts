import { Event, PROTOCOL_VERSION } from '@wsstar/protocol'
import { FRAME_COST, OutgoingBacklog } from './outgoing-backlog.js'
import { TokenBucket } from './token-bucket.js'
import type { Dial } from '../dial/dial.js'
import type { DialEnd } from '../dial/dial-end.js'
import type { OutgoingBacklogBounds } from './outgoing-backlog.js'
import type { RendezvousLimits } from '../options.js'
import type { TokenGrant } from '../auth/token-grants.js'
import type { EndKind, PeersDelta, WireError } from '@wsstar/protocol'
import type { Socket } from 'socket.io'

/** What the socket stated in its socket.io handshake (`auth.protocol`). */
export type HandshakeProtocol = 'wsstar/2' | 'legacy' | 'unknown'

/**
 * The one place that reads the handshake's protocol version. Engine.IO 3
 * connections (socket.io v2: the only way `libp2p-websocket-star@0.10`
 * clients connect, and only accepted in legacy mode) are `legacy`; sockets
 * that do not state `wsstar/2` are accepted and marked `unknown`.
 */
export function handshakeProtocol (socket: Socket): HandshakeProtocol {
  if (socket.conn.protocol === 3) {
    return 'legacy'
  }
  const auth: unknown = socket.handshake.auth
  if (auth != null && typeof auth === 'object' && (auth as Record<string, unknown>).protocol === PROTOCOL_VERSION) {
    return PROTOCOL_VERSION
  }
  return 'unknown'
}

/**
 * `ws-peers` deltas one socket may have waiting for its join answer. An
 * answer is out within a registry round trip; the bound only matters if
 * the registry hangs (deltas come at most once a period per server).
 */
const MAX_HELD_DELTAS = 16

/**
 * Server-side state of one connected socket: its registrations, the dials
 * it takes part in, its rate limit buckets and timers.
 */
export class Session implements DialEnd {
  readonly id: string
  readonly socket: Socket
  readonly protocol: HandshakeProtocol
  /** peer id -> canonical address registered by this socket */
  readonly addresses = new Map<string, string>()
  /** peer ids of `addresses`, for sample exclusion */
  readonly peerIds = new Set<string>()
  /** dials this socket takes part in, pending or open */
  readonly dials = new Set<Dial>()
  readonly joinBucket: TokenBucket
  /** registrations of new addresses and leaves: each is broadcast to every peer */
  readonly churnBucket: TokenBucket
  /** every request event (`ss-join`, `ss-leave`, `ss-dial`), joined or not */
  readonly requestBucket: TokenBucket
  readonly #limits: RendezvousLimits
  // made on first use: most peers never dial, nearly none sends stray frames,
  // and an idle peer's memory is what a full server is made of
  #dialBucket?: TokenBucket
  #strayBucket?: TokenBucket
  /** requests refused in a row by `requestBucket` (the first is answered, the rest dropped) */
  requestsRefused = 0
  /** what the server has queued for this socket (see outgoing-backlog.ts) */
  readonly backlog: OutgoingBacklog<Session>
  connected = true
  /** verified joins of new addresses between their limit check and their registration */
  joinsInProgress = 0
  /** the socket's deadline to register while it holds no registration: handshake-timeout.ts only */
  handshakeTimer?: ReturnType<typeof setTimeout>
  /** the next fresh sample for a registered socket: Discovery only */
  resampleTimer?: ReturnType<typeof setTimeout>
  /** join requests whose answer is not sent yet: `ws-peers` wait for them */
  pendingJoinAnswers = 0
  /** `ws-peers` held until the pending join answers are out */
  heldDeltas?: PeersDelta[]
  /** token mode: what the socket's token grants; its registrations count against the token's */
  grant?: TokenGrant
  /** peer ids this socket made a verified one-request join for: nearly always one, held as a string until there is a second */
  #oneRequestJoins?: string | Set<string>

  /**
   * @param backlogBounds past these the socket is cut: `onOverflow` is called once
   */
  constructor (socket: Socket, limits: RendezvousLimits, backlogBounds: OutgoingBacklogBounds, onOverflow: (session: Session, bound: keyof OutgoingBacklogBounds) => void) {
    this.id = socket.id
    this.socket = socket
    this.protocol = handshakeProtocol(socket)
    this.#limits = limits
    this.joinBucket = new TokenBucket(limits.joinRate, limits.joinBurst)
    this.churnBucket = new TokenBucket(limits.churnRate, limits.churnBurst)
    this.requestBucket = new TokenBucket(limits.requestRate, limits.requestBurst)
    this.backlog = new OutgoingBacklog<Session>(socket, backlogBounds, this as Session, onOverflow)
  }

  get dialBucket (): TokenBucket {
    this.#dialBucket ??= new TokenBucket(this.#limits.dialRate, this.#limits.dialBurst)
    return this.#dialBucket
  }

  /** `ERR_DIAL_NOT_FOUND` answers to stray data frames (`strayReplyRate`) */
  get strayBucket (): TokenBucket {
    this.#strayBucket ??= new TokenBucket(this.#limits.strayReplyRate, this.#limits.strayReplyBurst)
    return this.#strayBucket
  }

  get registered (): boolean {
    return this.addresses.size > 0
  }

  /**
   * Whether one more relayed frame of `bytes` keeps the relayed data queued
   * for this socket, by cost (OutgoingBacklog.dataBytes), within `maxBuffered`.
   */
  hasRoomFor (bytes: number, maxBuffered: number): boolean {
    return this.backlog.dataBytes() + bytes + FRAME_COST <= maxBuffered
  }

  sendData (dialId: string, bytes: Uint8Array): void {
    this.socket.emit(Event.DATA, dialId, bytes)
  }

  sendCredit (dialId: string, bytes: number): void {
    this.socket.emit(Event.CREDIT, dialId, bytes)
  }

  sendEnd (dialId: string, kind: EndKind, error?: WireError): void {
    // no error: no fourth argument on the wire (not a null)
    if (error == null) {
      this.socket.emit(Event.END, dialId, kind)
    } else {
      this.socket.emit(Event.END, dialId, kind, error)
    }
  }

  /** True once this socket made a verified one-request join (signed over its id) for `peerId`: that signature would verify again. */
  madeOneRequestJoin (peerId: string): boolean {
    const made = this.#oneRequestJoins
    return typeof made === 'string' ? made === peerId : made?.has(peerId) === true
  }

  addOneRequestJoin (peerId: string): void {
    const made = this.#oneRequestJoins
    if (made == null || made === peerId) {
      this.#oneRequestJoins = peerId
    } else if (typeof made === 'string') {
      this.#oneRequestJoins = new Set([made, peerId])
    } else {
      made.add(peerId)
    }
  }

  addAddress (peerId: string, address: string): void {
    if (this.grant != null && !this.addresses.has(peerId)) {
      this.grant.registrations++
    }
    this.addresses.set(peerId, address)
    this.peerIds.add(peerId)
  }

  removeAddress (peerId: string): string | undefined {
    const address = this.addresses.get(peerId)
    if (this.grant != null && address != null) {
      this.grant.registrations--
    }
    this.addresses.delete(peerId)
    this.peerIds.delete(peerId)
    return address
  }

  /**
   * A socket's join answer goes out before any `ws-peers` (PROTOCOL.md): the
   * server puts a joiner in the discovery room before it takes its sample,
   * so a delta may be ready while the answer is still being made. True:
   * `delta` waits for the answer (see `joinAnswered`).
   */
  holdDelta (delta: PeersDelta): boolean {
    if (this.pendingJoinAnswers === 0) {
      return false
    }
    this.heldDeltas ??= []
    if (this.heldDeltas.length >= MAX_HELD_DELTAS) {
      this.heldDeltas.shift()
    }
    this.heldDeltas.push(delta)
    return true
  }

  /** One join answer was sent: the deltas to send now that none is pending. */
  joinAnswered (): PeersDelta[] | undefined {
    this.pendingJoinAnswers = Math.max(0, this.pendingJoinAnswers - 1)
    if (this.pendingJoinAnswers > 0 || this.heldDeltas == null) {
      return undefined
    }
    const held = this.heldDeltas
    this.heldDeltas = undefined
    return held
  }
}
