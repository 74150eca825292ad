import { Event, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '@wsstar/protocol'
import { FRAME_COST, OutgoingBacklog } from './outgoing-backlog.js'
import { RelayRate } from './relay-rate.js'
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

/** What a session tells the server about, shared by every session. */
export interface SessionHooks {
  /** past the backlog bounds the socket is cut: called once */
  onOverflow(session: Session, bound: keyof OutgoingBacklogBounds): void
  /** credit for this socket began to be held back for its relay rate */
  onRelayRateHold(): void
}

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
  /** payload bytes this socket sent over its dials, relayed by this server (or, for a dial homed on another replica, passed on to it) */
  relayedOut = 0
  /** payload bytes relayed to this socket */
  relayedIn = 0
  /** what the relay holds for this socket while dials share it (relay/fair-share.ts) */
  heldCost = 0
  readonly #hooks: SessionHooks
  /** the socket's relay rate; none: unlimited (the default) */
  #relayRate?: RelayRate
  /**
   * peer id -> the namespaces it joined, for the registrations that named
   * any; made on the first such registration, so a socket in the default
   * namespace holds nothing more than before namespaces existed
   */
  #namespaces?: Map<string, readonly string[]>

  /**
   * @param backlogBounds past these the socket is cut: `hooks.onOverflow` is called once
   */
  constructor (socket: Socket, limits: RendezvousLimits, backlogBounds: OutgoingBacklogBounds, hooks: SessionHooks) {
    this.id = socket.id
    this.socket = socket
    this.protocol = handshakeProtocol(socket)
    this.#limits = limits
    this.#hooks = hooks
    this.joinBucket = new TokenBucket(limits.joinRate, limits.joinBurst)
    this.churnBucket = new TokenBucket(limits.churnRate, limits.churnBurst)
    this.requestBucket = new TokenBucket(limits.requestRate, limits.requestBurst)
    this.backlog = new OutgoingBacklog<Session>(socket, backlogBounds, this as Session, hooks.onOverflow)
    if (limits.relayRate > 0) {
      this.setRelayRate(limits.relayRate)
    }
  }

  /** payload bytes per second this socket may send over all its dials; 0: no limit */
  get relayRate (): number {
    return this.#relayRate?.bytesPerSecond ?? 0
  }

  /**
   * Sets how many payload bytes per second this socket may send over all its
   * dials (`relay-rate`, see relay-rate.ts), e.g. from what its credentials
   * allow; 0 lifts the limit. Takes effect at once: credit held back under
   * the previous rate is released, the new bucket starts full.
   *
   * @param burstBytes the bucket's size (default: the server's `relay-burst`); at least one full frame
   */
  setRelayRate (bytesPerSecond: number, burstBytes: number = this.#limits.relayBurst): void {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) {
      throw new RangeError(`relay rate must be a number of bytes per second >= 0, got ${bytesPerSecond}`)
    }
    if (!Number.isFinite(burstBytes) || burstBytes < MAX_FRAME_BYTES) {
      throw new RangeError(`relay burst must be at least ${MAX_FRAME_BYTES} bytes, got ${burstBytes}`)
    }
    const previous = this.#relayRate
    this.#relayRate = bytesPerSecond === 0 ? undefined : new RelayRate(bytesPerSecond, burstBytes, this.#releaseCredit, this.#hooks.onRelayRateHold)
    previous?.releaseAll()
  }

  readonly #releaseCredit = (dialId: string, bytes: number): void => {
    if (this.connected) {
      this.socket.emit(Event.CREDIT, dialId, bytes)
    }
  }

  /** This socket sent `bytes` of payload that are relayed: counted, and charged to its relay rate. */
  sentData (bytes: number): void {
    this.relayedOut += bytes
    if (this.grant != null) {
      this.grant.relayedOut += bytes
    }
    this.#relayRate?.charge(bytes)
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
   * for this socket, by cost (OutgoingBacklog.dataBytes, and what the relay
   * holds for it), within `maxBuffered`.
   */
  hasRoomFor (bytes: number, maxBuffered: number): boolean {
    return this.backlog.dataBytes() + this.heldCost + bytes + FRAME_COST <= maxBuffered
  }

  sendData (dialId: string, bytes: Uint8Array): void {
    this.relayedIn += bytes.byteLength
    if (this.grant != null) {
      this.grant.relayedIn += bytes.byteLength
    }
    this.socket.emit(Event.DATA, dialId, bytes)
  }

  /** A `c` frame, held back while this socket is over its relay rate (relay-rate.ts). */
  sendCredit (dialId: string, bytes: number): void {
    if (this.#relayRate?.hold(dialId, bytes) === true) {
      return
    }
    this.socket.emit(Event.CREDIT, dialId, bytes)
  }

  /** The relay forgot a dial of this socket: credit held back for it is dropped. */
  forgotten (dialId: string): void {
    this.#relayRate?.forget(dialId)
  }

  /** The socket disconnected: nothing held back is sent any more. */
  closed (): void {
    this.connected = false
    this.#relayRate?.stop()
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

  /** `namespaces`: what the join named (undefined: the default namespace) */
  addAddress (peerId: string, address: string, namespaces?: readonly string[]): void {
    if (this.grant != null && !this.addresses.has(peerId)) {
      this.grant.registrations++
    }
    this.addresses.set(peerId, address)
    this.peerIds.add(peerId)
    if (namespaces != null) {
      this.#namespaces ??= new Map()
      this.#namespaces.set(peerId, namespaces)
    } else {
      this.#namespaces?.delete(peerId)
    }
  }

  removeAddress (peerId: string): string | undefined {
    const address = this.addresses.get(peerId)
    if (this.grant != null && address != null) {
      this.grant.registrations--
    }
    this.addresses.delete(peerId)
    this.peerIds.delete(peerId)
    this.#namespaces?.delete(peerId)
    return address
  }

  /** The namespaces `peerId`'s registration on this socket joined; undefined: the default namespace (or not registered). */
  namespacesOf (peerId: string): readonly string[] | undefined {
    return this.#namespaces?.get(peerId)
  }

  /** peer id -> namespaces of the registrations that named any; undefined when none did (the common case). */
  get namespaces (): ReadonlyMap<string, readonly string[]> | undefined {
    return this.#namespaces == null || this.#namespaces.size === 0 ? undefined : this.#namespaces
  }

  /** Whether a registration of this socket is in the default namespace: it gets the default namespace's deltas. */
  get inDefaultNamespace (): boolean {
    return this.addresses.size > (this.#namespaces?.size ?? 0)
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
