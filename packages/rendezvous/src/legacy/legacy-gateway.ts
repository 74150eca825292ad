import { randomBytes, randomUUID } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { Counter, Gauge } from 'prom-client'
import { LIMIT_NAMES } from '../limits.js'
import { engineSocketOf, terminate, webSocketBufferedAmount } from '../internals/engine-io-internals.js'
import { TokenBucket } from '../session/token-bucket.js'
import { upgradeHost } from '../session/upgrade-request.js'
import type { JoinServerRule } from '../join/join-server-rule.js'
import type { ShutdownGuard } from '../shutdown-guard.js'
import { parseLegacyAddress, parseLegacyKey, verifyLegacySignature } from './legacy-keys.js'
import type { RendezvousLimits } from '../options.js'
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Socket } from 'socket.io'

/**
 * Legacy mode: `libp2p-websocket-star@0.10` clients (socket.io v2 / Engine.IO 3).
 * A separate population on the same server: its own registry (keyed by peer
 * id), its own announcements (`ws-peer`, bounded), its own dials relayed as
 * `socket.io-pull-stream` events between two legacy sockets. Never mixed with
 * wsstar/2 peers: a legacy dial to a v2 peer gets a string error.
 * See docs/PROTOCOL.md, "Legacy clients".
 */

export const LEGACY_EVENT = {
  JOIN: 'ss-join',
  LEAVE: 'ss-leave',
  DIAL: 'ss-dial',
  INCOMING: 'ss-incomming',
  PEER: 'ws-peer'
} as const

export const LEGACY_ERRORS = {
  DIFFERENT_VERSION: 'peer speaks a different protocol version',
  NOT_FOUND: 'Peer not found',
  NOT_AUTHORIZED: 'Not authorized for this address',
  SIGNATURE: 'Signature Invalid',
  EXPIRED: 'Challenge expired',
  BAD_REQUEST: 'Invalid request',
  BAD_ADDRESS: 'Invalid address',
  BAD_KEY: 'Invalid public key',
  KEY_MISMATCH: 'Public key does not match the peer id',
  RATE: 'Rate limit exceeded',
  LIMIT: 'Limit exceeded',
  DIAL_ID: 'Dial id already in use',
  NO_ANSWER: 'Peer did not answer',
  GONE: 'Peer disconnected',
  SHUTDOWN: 'Server is shutting down'
} as const

const PULL = 'socket.io-pull-stream.'
/** what one queued event costs beyond its payload (packet objects, framing), counted against the receiver's buffer */
const EVENT_OVERHEAD_BYTES = 256
/** legacy sockets re-announced per event-loop turn in a re-announcement round, so a round never blocks the loop */
const ANNOUNCE_SLICE = 256
const DIAL_ID = /^[A-Za-z0-9_-]{1,64}$/
const NONCE_PREFIX = 'wsstar-legacy-join:'

type Ack = (...args: unknown[]) => void

interface PendingLegacyChallenge {
  nonce: string
  keyHex: string
  key: KeyObject
  expiresAt: number
}

interface DialEnd {
  session: LegacySession
  /** the dial id as this socket knows it */
  id: string
}

/** one direction of a dial: `dialer` (the caller writes, the callee reads) or `listener` (the other way) */
interface Direction {
  /** its reader sent `accept` */
  accepted: boolean
  /** its writer sent `error` (the end) */
  ended: boolean
}

type Role = 'dialer' | 'listener'

interface LegacyDial {
  caller: DialEnd
  callee: DialEnd
  /** the peer ids the dial is from and to (a leave resets the dials of that peer id only) */
  callerPeerId: string
  calleePeerId: string
  directions: Record<Role, Direction>
  /** the caller's ss-dial ack while the callee has not answered */
  pendingAck?: Ack
  done: boolean
}

class LegacySession {
  readonly socket: Socket
  /** peer id -> canonical (`/ipfs/`) address */
  readonly addresses = new Map<string, string>()
  /** dial id as this socket knows it -> dial */
  readonly dials = new Map<string, LegacyDial>()
  /** address string -> outstanding nonce */
  readonly challenges = new Map<string, PendingLegacyChallenge>()
  readonly joinBucket: TokenBucket
  readonly dialBucket: TokenBucket
  readonly announceBucket: TokenBucket
  unflushedBytes = 0
  connected = true
  handshakeTimer?: ReturnType<typeof setTimeout>

  constructor (socket: Socket, limits: RendezvousLimits) {
    this.socket = socket
    this.joinBucket = new TokenBucket(limits.joinRate, limits.joinBurst)
    this.dialBucket = new TokenBucket(limits.dialRate, limits.dialBurst)
    const k = limits.legacyAnnouncements
    this.announceBucket = new TokenBucket(k / (limits.legacyAnnounceIntervalMs / 1000), k)
    socket.conn.on('flush', () => { this.unflushedBytes = 0 })
  }

  /** emits an event to this socket, counting what it costs until engine.io hands it to the websocket */
  send (event: string, payload?: unknown): void {
    this.unflushedBytes += EVENT_OVERHEAD_BYTES + event.length + payloadBytes(payload)
    if (payload === undefined) {
      this.socket.emit(event)
    } else {
      this.socket.emit(event, payload)
    }
  }

  /** bytes queued on the server for this socket (engine.io write buffer + ws) */
  bufferedBytes (): number {
    return this.unflushedBytes + webSocketBufferedAmount(engineSocketOf(this.socket))
  }
}

export interface LegacyGatewayInit {
  limits: RendezvousLimits
  logger: Logger
  metrics: { registry: Registry, limitHit(limit: string): void }
  /** requests are refused once the server is stopping */
  shutdown: ShutdownGuard
  /** which server a join may name, as for wsstar/2 joins */
  servers: JoinServerRule
  /** is this peer id registered by a wsstar/2 socket (cross-population dials) */
  isV2Peer(peerId: string): Promise<boolean>
  /** registrations of the v2 population on this server (shared max-peers) */
  v2Peers(): number
  /** a join token of the socket's client address (join-rate-per-ip, shared with v2); false when there is none left */
  takeIpJoin?: (socket: Socket) => boolean
}

export interface LegacyStats {
  sockets: number
  peers: number
  dials: number
  relayedBytes: number
  /** bytes of chunks for unknown or reset dials, read and dropped */
  droppedBytes: number
  /** dials reset because the receiving socket's buffer passed legacy-max-buffered-bytes */
  overflowResets: number
  /** dials reset because an end broke the pull-stream rules (a repeated accept or end, a write after its end, the other end's event) */
  protocolResets: number
  /** the largest buffer ever seen on a receiving legacy socket right after a relayed write */
  maxBufferedBytes: number
  /** ws-peer events sent: announcing a joining peer, and in the periodic re-announcements */
  announcements: number
  periodicAnnouncements: number
  /** legacy peers left out of a re-announcement round because more than legacy-max-buffered-bytes was queued for them */
  announcementsSkipped: number
  /** legacy sockets closed for a message over legacy-max-message-bytes */
  oversizedMessages: number
  /** legacy sockets disconnected for not reading the answers to their requests */
  slowConsumers: number
  pendingChallenges: number
}

export class LegacyGateway {
  readonly #init: LegacyGatewayInit
  readonly #sessions = new Set<LegacySession>()
  /** peer id -> registration */
  readonly #peers = new Map<string, { session: LegacySession, address: string }>()
  /** peer ids of #peers, for O(1) random samples */
  readonly #list: string[] = []
  readonly #index = new Map<string, number>()
  readonly #dials = new Set<LegacyDial>()
  #relayedBytes = 0
  /** chunks for dials that do not exist (any more), e.g. written after a reset: read and dropped */
  #droppedBytes = 0
  #overflowResets = 0
  #protocolResets = 0
  #maxBuffered = 0
  #announcements = 0
  #periodicAnnouncements = 0
  #announcementsSkipped = 0
  #oversizedMessages = 0
  #slowConsumers = 0
  #announceTimer?: ReturnType<typeof setInterval>
  readonly #resets: Counter<'reason'>
  readonly #joins: Counter<'result'>

  constructor (init: LegacyGatewayInit) {
    this.#init = init
    const registers = [init.metrics.registry]
    // prom-client calls collect() with the metric as `this`: the gateway's own fields are read through `self`
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- two `this`s in each collect(), see above
    const self = this
    new Gauge({ name: 'wsstar_legacy_sockets', help: 'Connected legacy (websocket-star 0.10) sockets', registers, collect () { this.set(self.#sessions.size) } })
    new Gauge({ name: 'wsstar_legacy_peers', help: 'Registered legacy peers', registers, collect () { this.set(self.#peers.size) } })
    new Gauge({ name: 'wsstar_legacy_dials', help: 'Legacy dials, pending and open', registers, collect () { this.set(self.#dials.size) } })
    new Counter({
      name: 'wsstar_legacy_relayed_bytes_total',
      help: 'Payload bytes relayed between legacy sockets',
      registers,
      collect () { this.reset(); this.inc(self.#relayedBytes) }
    })
    new Counter({
      name: 'wsstar_legacy_announcements_total',
      help: 'ws-peer announcements sent to legacy sockets, by kind (join: a joining peer announced; periodic: the re-announcement rounds)',
      labelNames: ['kind'],
      registers,
      collect () {
        this.reset()
        this.inc({ kind: 'join' }, self.#announcements)
        this.inc({ kind: 'periodic' }, self.#periodicAnnouncements)
      }
    })
    new Counter({
      name: 'wsstar_legacy_slow_consumers_total',
      help: 'Legacy sockets disconnected because they did not read the answers to their own requests (more than twice legacy-max-buffered-bytes queued)',
      registers,
      collect () { this.reset(); this.inc(self.#slowConsumers) }
    })
    new Counter({
      name: 'wsstar_legacy_announcements_skipped_total',
      help: 'Legacy peers left out of a re-announcement round because more than legacy-max-buffered-bytes was queued for them',
      registers,
      collect () { this.reset(); this.inc(self.#announcementsSkipped) }
    })
    this.#resets = new Counter({
      name: 'wsstar_legacy_dial_resets_total',
      help: 'Legacy dials reset by the server, by reason (buffer: the receiver\'s buffer passed legacy-max-buffered-bytes; protocol: an end repeated or misplaced a socket.io-pull-stream event)',
      labelNames: ['reason'],
      registers
    })
    this.#resets.inc({ reason: 'buffer' }, 0)
    this.#resets.inc({ reason: 'protocol' }, 0)
    this.#announceTimer = setInterval(() => { this.#announceRound() }, init.limits.legacyAnnounceIntervalMs)
    this.#announceTimer.unref?.()
    this.#joins = new Counter({ name: 'wsstar_legacy_joins_total', help: 'Legacy join requests by result', labelNames: ['result'], registers })
  }

  get sockets (): number {
    return this.#sessions.size
  }

  hasPeer (peerId: string): boolean {
    return this.#peers.has(peerId)
  }

  stats (): LegacyStats {
    let pendingChallenges = 0
    for (const s of this.#sessions) pendingChallenges += s.challenges.size
    return {
      sockets: this.#sessions.size,
      peers: this.#peers.size,
      dials: this.#dials.size,
      relayedBytes: this.#relayedBytes,
      droppedBytes: this.#droppedBytes,
      overflowResets: this.#overflowResets,
      protocolResets: this.#protocolResets,
      maxBufferedBytes: this.#maxBuffered,
      announcements: this.#announcements,
      periodicAnnouncements: this.#periodicAnnouncements,
      announcementsSkipped: this.#announcementsSkipped,
      oversizedMessages: this.#oversizedMessages,
      slowConsumers: this.#slowConsumers,
      pendingChallenges
    }
  }

  stop (): void {
    clearInterval(this.#announceTimer)
    this.#announceTimer = undefined
    for (const session of this.#sessions) {
      if (session.handshakeTimer != null) clearTimeout(session.handshakeTimer)
      session.handshakeTimer = undefined
    }
  }

  attach (socket: Socket): void {
    const session = new LegacySession(socket, this.#init.limits)
    this.#sessions.add(session)
    this.#armHandshakeTimer(session)
    socket.onAny((event: unknown, ...args: unknown[]) => {
      try {
        this.#onEvent(session, event, args)
      } catch (err) {
        this.#init.logger.debug({ err, event }, 'legacy event failed')
      }
    })
    socket.on('disconnect', (reason: string, description?: unknown) => {
      if (reason === 'transport error' && /max payload size exceeded/i.test((description as Error | undefined)?.message ?? '')) {
        // ws closed the socket for a message over legacy-max-message-bytes
        this.#oversizedMessages++
        this.#init.metrics.limitHit(LIMIT_NAMES.legacyMaxMessageBytes)
      }
      this.#onDisconnect(session)
    })
  }

  #onEvent (session: LegacySession, event: unknown, args: unknown[]): void {
    if (typeof event !== 'string') return
    if (event.startsWith(PULL)) {
      this.#onPull(session, event, args)
      return
    }
    const last = args[args.length - 1]
    const ack = typeof last === 'function' ? this.#boundedAck(session, last as Ack) : undefined
    if (event === LEGACY_EVENT.LEAVE) {
      // the 0.10 spec sends it without an ack
      this.#leave(session, args[0])
      return
    }
    if (ack == null) return
    if (event === LEGACY_EVENT.JOIN) {
      this.#join(session, args[0], args[1], ack)
    } else if (event === LEGACY_EVENT.DIAL) {
      void this.#dial(session, args[0], args[1], args[2], ack).catch((err: unknown) => {
        this.#init.logger.debug({ err }, 'legacy dial failed')
        ack(LEGACY_ERRORS.BAD_REQUEST)
      })
    } else {
      ack('Unknown event')
    }
  }

  /**
   * The ack of a request, counted against what is queued for the socket.
   * Relayed data stops at legacy-max-buffered-bytes (the dial is reset), so
   * past twice that the socket is not reading the answers to its own
   * requests: it is disconnected rather than answered without end.
   */
  #boundedAck (session: LegacySession, ack: Ack): Ack {
    return (...args: unknown[]) => {
      if (!session.connected) return
      if (session.bufferedBytes() > 2 * this.#init.limits.legacyMaxBufferedBytes) {
        this.#slowConsumer(session)
        return
      }
      session.unflushedBytes += EVENT_OVERHEAD_BYTES + args.reduce<number>((sum, arg) => sum + payloadBytes(arg), 0)
      ack(...args)
    }
  }

  #slowConsumer (session: LegacySession): void {
    this.#slowConsumers++
    this.#init.metrics.limitHit(LIMIT_NAMES.legacyMaxBufferedBytes)
    this.#init.logger.info({ buffered: session.bufferedBytes() }, 'disconnecting a legacy socket that does not read the answers to its requests')
    terminate(session.socket)
  }

  // --- join -------------------------------------------------------------------

  #join (session: LegacySession, address: unknown, keyOrSignature: unknown, ack: Ack): void {
    const { limits } = this.#init
    if (this.#init.shutdown.stopping) {
      ack(LEGACY_ERRORS.SHUTDOWN)
      return
    }
    if (typeof keyOrSignature !== 'string') {
      this.#joins.inc({ result: 'bad-request' })
      ack(LEGACY_ERRORS.BAD_REQUEST)
      return
    }
    const parsed = parseLegacyAddress(address)
    if (parsed == null) {
      this.#joins.inc({ result: 'bad-address' })
      ack(LEGACY_ERRORS.BAD_ADDRESS)
      return
    }
    // a 0.10 client signs any nonce: naming this server is what keeps a join it made elsewhere out
    if (!this.#namesThisServer(session, parsed.server)) {
      this.#joins.inc({ result: 'other-server' })
      ack(LEGACY_ERRORS.BAD_ADDRESS)
      return
    }
    const addressKey = address as string
    const pending = session.challenges.get(addressKey)
    if (pending != null && keyOrSignature !== pending.keyHex) {
      // step 2: single use, whatever the outcome
      session.challenges.delete(addressKey)
      if (pending.expiresAt <= Date.now()) {
        this.#joins.inc({ result: 'expired' })
        ack(LEGACY_ERRORS.EXPIRED)
        return
      }
      if (!verifyLegacySignature(pending.key, pending.nonce, keyOrSignature)) {
        this.#joins.inc({ result: 'bad-signature' })
        ack(LEGACY_ERRORS.SIGNATURE)
        return
      }
      const error = this.#register(session, parsed.peerId, parsed.canonical)
      if (error != null) {
        this.#joins.inc({ result: 'refused' })
        ack(error)
        return
      }
      this.#joins.inc({ result: 'ok' })
      ack(null, null, this.#sample(session, Math.min(limits.sampleSize, limits.legacyAnnouncements)))
      this.#announce(session, parsed.canonical)
      return
    }
    // step 1: the key; answer with a domain-separated, single-use, expiring nonce
    if (!session.joinBucket.take()) {
      this.#init.metrics.limitHit(LIMIT_NAMES.joinRate)
      ack(LEGACY_ERRORS.RATE)
      return
    }
    if (this.#init.takeIpJoin?.(session.socket) === false) {
      this.#init.metrics.limitHit(LIMIT_NAMES.joinRatePerIp)
      ack(LEGACY_ERRORS.RATE)
      return
    }
    const key = parseLegacyKey(keyOrSignature)
    if (key == null) {
      this.#joins.inc({ result: 'bad-key' })
      ack(LEGACY_ERRORS.BAD_KEY)
      return
    }
    if (key.peerId !== parsed.peerId) {
      this.#joins.inc({ result: 'key-mismatch' })
      ack(LEGACY_ERRORS.KEY_MISMATCH)
      return
    }
    session.challenges.delete(addressKey)
    if (session.challenges.size >= limits.maxPendingChallengesPerSocket) {
      const oldest = session.challenges.keys().next().value
      if (oldest != null) session.challenges.delete(oldest)
      this.#init.metrics.limitHit(LIMIT_NAMES.maxPendingChallengesPerSocket)
    }
    const nonce = `${NONCE_PREFIX}${parsed.server}:${randomBytes(16).toString('hex')}`
    session.challenges.set(addressKey, { nonce, keyHex: keyOrSignature, key: key.key, expiresAt: Date.now() + limits.challengeTtlMs })
    this.#joins.inc({ result: 'challenged' })
    ack(null, nonce)
  }

  #namesThisServer (session: LegacySession, server: string): boolean {
    let ma
    try {
      ma = multiaddr(server)
    } catch {
      return false
    }
    return this.#init.servers.refusal(ma, upgradeHost(session.socket.conn)) == null
  }

  /** undefined on success, else the string error */
  #register (session: LegacySession, peerId: string, address: string): string | undefined {
    const { limits } = this.#init
    if (!session.connected) return LEGACY_ERRORS.GONE
    const existing = this.#peers.get(peerId)
    if (existing?.session !== session) {
      if (session.addresses.size >= limits.maxAddressesPerSocket) {
        this.#init.metrics.limitHit(LIMIT_NAMES.maxAddressesPerSocket)
        return LEGACY_ERRORS.LIMIT
      }
      if (existing == null && this.#peers.size + this.#init.v2Peers() >= limits.maxPeers) {
        this.#init.metrics.limitHit(LIMIT_NAMES.maxPeers)
        return LEGACY_ERRORS.LIMIT
      }
    }
    if (existing != null && existing.session !== session) {
      // re-joined from another socket: the old one loses the id and its dials of it
      existing.session.addresses.delete(peerId)
      this.#endDialsOf(existing.session, peerId)
    }
    if (existing == null) {
      this.#index.set(peerId, this.#list.length)
      this.#list.push(peerId)
    }
    this.#peers.set(peerId, { session, address })
    session.addresses.set(peerId, address)
    if (session.handshakeTimer != null) {
      clearTimeout(session.handshakeTimer)
      session.handshakeTimer = undefined
    }
    return undefined
  }

  #unregister (session: LegacySession, peerId: string): void {
    session.addresses.delete(peerId)
    if (this.#peers.get(peerId)?.session !== session) return
    this.#peers.delete(peerId)
    const i = this.#index.get(peerId)
    if (i == null) return
    const lastId = this.#list[this.#list.length - 1]
    this.#list[i] = lastId
    this.#index.set(lastId, i)
    this.#list.pop()
    this.#index.delete(peerId)
  }

  /** `ss-leave(address)`: as on v2, the peer id is unregistered, its dials reset, and no announcements go to or about it */
  #leave (session: LegacySession, address: unknown): void {
    const parsed = parseLegacyAddress(address)
    if (parsed == null || !session.addresses.has(parsed.peerId)) return
    this.#endDialsOf(session, parsed.peerId)
    this.#unregister(session, parsed.peerId)
  }

  /** resets the dials of `session` that are from or to `peerId` */
  #endDialsOf (session: LegacySession, peerId: string): void {
    for (const dial of [...session.dials.values()]) {
      if ((dial.caller.session === session && dial.callerPeerId === peerId) || (dial.callee.session === session && dial.calleePeerId === peerId)) {
        this.#endDial(dial, LEGACY_ERRORS.GONE)
      }
    }
  }

  /** up to `k` distinct random registrations not held by `session` */
  #randomPeers (session: LegacySession | undefined, k: number): Array<{ session: LegacySession, address: string }> {
    const out: Array<{ session: LegacySession, address: string }> = []
    const n = this.#list.length
    if (k <= 0 || n === 0) return out
    const seen = new Set<number>()
    const want = Math.min(k, n)
    for (let attempts = 0; out.length < want && attempts < want * 4 + 8; attempts++) {
      const i = n <= want * 2 && seen.size < n ? this.#nextUnseen(seen, n) : Math.floor(Math.random() * n)
      if (seen.has(i)) continue
      seen.add(i)
      const entry = this.#peers.get(this.#list[i])
      if (entry != null && entry.session !== session) out.push(entry)
    }
    return out
  }

  #nextUnseen (seen: Set<number>, n: number): number {
    let i = Math.floor(Math.random() * n)
    while (seen.has(i)) i = (i + 1) % n
    return i
  }

  #sample (session: LegacySession, k: number): string[] {
    return this.#randomPeers(session, k).map(e => e.address)
  }

  /** tells a bounded random sample of legacy peers about `address`; each peer's budget is legacy-announcements per period */
  #announce (from: LegacySession, address: string): void {
    const k = this.#init.limits.legacyAnnouncements
    const told = new Set<LegacySession>()
    for (const entry of this.#randomPeers(from, k)) {
      if (told.has(entry.session) || !entry.session.connected) continue
      told.add(entry.session)
      if (!entry.session.announceBucket.take()) continue
      this.#announcements++
      entry.session.send(LEGACY_EVENT.PEER, address)
    }
  }

  /**
   * The old server re-announced every peer to every peer every 10 s (N²);
   * here every legacy-announce-interval each registered legacy socket is told
   * about a fresh random sample of at most legacy-announcements others, so a
   * peer it missed is learned within a few periods while what each socket
   * receives stays bounded. Sockets with more than legacy-max-buffered-bytes
   * queued are left out of the round (counted).
   */
  #announceRound (): void {
    const sessions = [...this.#sessions]
    const step = (from: number): void => {
      const { legacyAnnouncements, legacyMaxBufferedBytes } = this.#init.limits
      const end = Math.min(sessions.length, from + ANNOUNCE_SLICE)
      for (let i = from; i < end; i++) {
        const session = sessions[i]
        if (!session.connected || session.addresses.size === 0) continue
        if (session.bufferedBytes() > legacyMaxBufferedBytes) {
          this.#announcementsSkipped++
          continue
        }
        for (const entry of this.#randomPeers(session, legacyAnnouncements)) {
          this.#periodicAnnouncements++
          session.send(LEGACY_EVENT.PEER, entry.address)
        }
      }
      if (end < sessions.length && this.#announceTimer != null) setImmediate(() => { step(end) })
    }
    step(0)
  }

  // --- dial -------------------------------------------------------------------

  async #dial (session: LegacySession, from: unknown, to: unknown, dialId: unknown, ack: Ack): Promise<void> {
    const { limits } = this.#init
    if (this.#init.shutdown.stopping) {
      ack(LEGACY_ERRORS.SHUTDOWN)
      return
    }
    if (typeof dialId !== 'string' || !DIAL_ID.test(dialId)) {
      ack(LEGACY_ERRORS.BAD_REQUEST)
      return
    }
    if (!session.dialBucket.take()) {
      this.#init.metrics.limitHit(LIMIT_NAMES.dialRate)
      ack(LEGACY_ERRORS.RATE)
      return
    }
    const caller = parseLegacyAddress(from)
    if (caller == null || !session.addresses.has(caller.peerId)) {
      ack(LEGACY_ERRORS.NOT_AUTHORIZED)
      return
    }
    const target = parseLegacyAddress(to)
    if (target == null) {
      ack(LEGACY_ERRORS.NOT_FOUND)
      return
    }
    if (session.dials.has(dialId)) {
      ack(LEGACY_ERRORS.DIAL_ID)
      return
    }
    let entry = this.#peers.get(target.peerId)
    if (entry == null) {
      const v2 = await this.#init.isV2Peer(target.peerId)
      ack(v2 ? LEGACY_ERRORS.DIFFERENT_VERSION : LEGACY_ERRORS.NOT_FOUND)
      return
    }
    entry = this.#peers.get(target.peerId)
    const callee = entry?.session
    if (callee == null || !callee.connected || !session.connected || session.dials.has(dialId)) {
      ack(LEGACY_ERRORS.NOT_FOUND)
      return
    }
    if (session.dials.size >= limits.maxDialsPerSocket || callee.dials.size >= limits.maxDialsPerSocket) {
      this.#init.metrics.limitHit(LIMIT_NAMES.maxDialsPerSocket)
      ack(LEGACY_ERRORS.LIMIT)
      return
    }
    // the callee sees a server-chosen id: ids are scoped per socket, so a client
    // cannot name (or collide with) a dial of another socket
    const calleeId = randomUUID()
    const dial: LegacyDial = {
      caller: { session, id: dialId },
      callee: { session: callee, id: calleeId },
      callerPeerId: caller.peerId,
      calleePeerId: target.peerId,
      directions: { dialer: { accepted: false, ended: false }, listener: { accepted: false, ended: false } },
      pendingAck: ack,
      done: false
    }
    session.dials.set(dialId, dial)
    callee.dials.set(calleeId, dial)
    this.#dials.add(dial)
    callee.unflushedBytes += EVENT_OVERHEAD_BYTES + calleeId.length + caller.canonical.length
    callee.socket.timeout(limits.dialTimeoutMs).emit(LEGACY_EVENT.INCOMING, calleeId, caller.canonical, (err: unknown, answer?: unknown) => {
      const pendingAck = dial.pendingAck
      if (dial.done || pendingAck == null) return
      dial.pendingAck = undefined
      if (err != null) {
        this.#endDial(dial, LEGACY_ERRORS.NO_ANSWER)
        pendingAck(LEGACY_ERRORS.NO_ANSWER)
        return
      }
      if (answer != null && answer !== false) {
        this.#endDial(dial, LEGACY_ERRORS.GONE)
        pendingAck(typeof answer === 'string' ? answer.slice(0, 200) : 'Dial refused')
        return
      }
      pendingAck()
    })
  }

  /**
   * Relays one socket.io-pull-stream event to the other end of its dial.
   * Each direction has one writer (`queue`, then one `error` that ends it)
   * and one reader (one `accept`), as the 0.10 client's pull streams do; an
   * event out of that order (a second accept or end, a write after the end,
   * an event from the wrong end) resets the dial. Every relayed event counts
   * against the receiver's buffer bound.
   */
  #onPull (session: LegacySession, event: string, args: unknown[]): void {
    const rest = event.slice(PULL.length)
    const first = rest.indexOf('.')
    const last = rest.lastIndexOf('.')
    if (first <= 0 || last <= first) return
    const kind = rest.slice(0, first)
    const id = rest.slice(first + 1, last)
    const role = rest.slice(last + 1)
    if ((kind !== 'accept' && kind !== 'queue' && kind !== 'error') || (role !== 'dialer' && role !== 'listener')) return
    const dial = session.dials.get(id)
    if (dial == null || dial.done) {
      if (kind === 'queue' && args[0] instanceof Uint8Array) this.#droppedBytes += args[0].byteLength
      return
    }
    const fromCaller = dial.caller.session === session && dial.caller.id === id
    const target = fromCaller ? dial.callee : dial.caller
    const direction = dial.directions[role]
    // the caller writes the dialer direction, the callee the listener direction
    const fromWriter = fromCaller === (role === 'dialer')
    if (kind === 'accept' ? fromWriter || direction.accepted : !fromWriter || direction.ended) {
      this.#protocolReset(dial, kind)
      return
    }
    const name = `${PULL}${kind}.${target.id}.${role}`
    if (kind === 'accept') {
      direction.accepted = true
      this.#relay(dial, target.session, name, undefined)
      return
    }
    if (kind === 'queue') {
      const bytes = args[0]
      if (!(bytes instanceof Uint8Array)) return
      if (this.#relay(dial, target.session, name, bytes)) this.#relayedBytes += bytes.byteLength
      return
    }
    // error: `true` ends this direction, anything else is an error (and ends it too)
    const value = args[0] === true ? true : typeof args[0] === 'string' ? args[0].slice(0, 200) : 'error'
    if (!this.#relay(dial, target.session, name, value)) return
    direction.ended = true
    if (dial.directions.dialer.ended && dial.directions.listener.ended) {
      this.#forget(dial)
    }
  }

  /**
   * Emits one relayed event to `receiver` unless that would take what is
   * queued for it past legacy-max-buffered-bytes (legacy clients have no
   * backpressure): then the dial is reset instead. True if relayed.
   */
  #relay (dial: LegacyDial, receiver: LegacySession, name: string, payload: unknown): boolean {
    const buffered = receiver.bufferedBytes()
    const cost = EVENT_OVERHEAD_BYTES + name.length + payloadBytes(payload)
    if (buffered + cost > this.#init.limits.legacyMaxBufferedBytes) {
      this.#overflow(dial, buffered)
      return false
    }
    receiver.send(name, payload)
    const after = buffered + cost
    if (after > this.#maxBuffered) this.#maxBuffered = after
    return true
  }

  /** the receiver does not read: reset the dial */
  #overflow (dial: LegacyDial, buffered: number): void {
    this.#overflowResets++
    this.#resets.inc({ reason: 'buffer' })
    this.#init.metrics.limitHit(LIMIT_NAMES.legacyMaxBufferedBytes)
    this.#init.logger.info({ buffered }, 'legacy dial reset: the receiver\'s buffer passed legacy-max-buffered-bytes')
    this.#endDial(dial, true)
  }

  /** an end broke the pull-stream rules (e.g. repeated an end or an accept): reset the dial */
  #protocolReset (dial: LegacyDial, kind: string): void {
    this.#protocolResets++
    this.#resets.inc({ reason: 'protocol' })
    this.#init.logger.debug({ kind }, 'legacy dial reset: a socket.io-pull-stream event out of order')
    this.#endDial(dial, true)
  }

  /** ends both directions at both ends and forgets the dial */
  #endDial (dial: LegacyDial, value: true | string): void {
    if (dial.done) return
    for (const end of [dial.caller, dial.callee]) {
      if (!end.session.connected) continue
      for (const role of ['dialer', 'listener'] as const) {
        // a direction that ended was already ended at its reader
        if (dial.directions[role].ended) continue
        end.session.send(`${PULL}error.${end.id}.${role}`, value)
      }
    }
    const pendingAck = dial.pendingAck
    dial.pendingAck = undefined
    this.#forget(dial)
    if (pendingAck != null && dial.caller.session.connected) {
      pendingAck(typeof value === 'string' ? value : LEGACY_ERRORS.GONE)
    }
  }

  #forget (dial: LegacyDial): void {
    dial.done = true
    this.#dials.delete(dial)
    if (dial.caller.session.dials.get(dial.caller.id) === dial) dial.caller.session.dials.delete(dial.caller.id)
    if (dial.callee.session.dials.get(dial.callee.id) === dial) dial.callee.session.dials.delete(dial.callee.id)
  }

  // --- lifecycle ----------------------------------------------------------------

  #armHandshakeTimer (session: LegacySession): void {
    session.handshakeTimer = setTimeout(() => {
      session.handshakeTimer = undefined
      if (session.connected && session.addresses.size === 0) {
        this.#init.metrics.limitHit(LIMIT_NAMES.handshakeTimeoutMs)
        session.socket.disconnect(true)
      }
    }, this.#init.limits.handshakeTimeoutMs)
    session.handshakeTimer.unref?.()
  }

  #onDisconnect (session: LegacySession): void {
    if (!session.connected) return
    session.connected = false
    this.#sessions.delete(session)
    if (session.handshakeTimer != null) clearTimeout(session.handshakeTimer)
    session.handshakeTimer = undefined
    session.challenges.clear()
    for (const dial of [...session.dials.values()]) {
      this.#endDial(dial, LEGACY_ERRORS.GONE)
    }
    for (const peerId of [...session.addresses.keys()]) {
      this.#unregister(session, peerId)
    }
  }
}

/** the bytes of a relayed payload on the wire (a chunk, an error string) */
function payloadBytes (payload: unknown): number {
  if (payload instanceof Uint8Array) return payload.byteLength
  if (typeof payload === 'string') return payload.length
  if (Array.isArray(payload)) return payload.reduce<number>((sum, item) => sum + 8 + payloadBytes(item), 0)
  return payload === undefined ? 0 : 8
}
