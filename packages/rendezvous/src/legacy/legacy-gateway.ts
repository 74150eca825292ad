import { randomBytes, randomUUID } from 'node:crypto'
import { Counter, Gauge } from 'prom-client'
import { LIMIT_NAMES } from '../options.js'
import { TokenBucket } from '../token-bucket.js'
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

/** the period of the per-peer announcement budget (`legacy-announcements` per period) */
export const LEGACY_ANNOUNCE_PERIOD_MS = 10_000
const PULL = 'socket.io-pull-stream.'
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

interface LegacyDial {
  caller: DialEnd
  callee: DialEnd
  /** directions that saw `error` (end) */
  ended: Set<string>
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
    this.announceBucket = new TokenBucket(k / (LEGACY_ANNOUNCE_PERIOD_MS / 1000), k)
    socket.conn.on('flush', () => { this.unflushedBytes = 0 })
  }

  /** bytes queued on the server for this socket (engine.io write buffer + ws) */
  bufferedBytes (): number {
    const ws = (this.socket.conn.transport as unknown as { socket?: { bufferedAmount?: number } }).socket
    const amount = ws?.bufferedAmount
    return this.unflushedBytes + (typeof amount === 'number' ? amount : 0)
  }
}

export interface LegacyGatewayInit {
  limits: RendezvousLimits
  logger: Logger
  metrics: { registry: Registry, limitHit(limit: string): void }
  isShuttingDown(): boolean
  /** is this peer id registered by a wsstar/2 socket (cross-population dials) */
  isV2Peer(peerId: string): Promise<boolean>
  /** registrations of the v2 population on this server (shared max-peers) */
  v2Peers(): number
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
  /** the largest buffer ever seen on a receiving legacy socket right after a relayed write */
  maxBufferedBytes: number
  announcements: number
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
  #maxBuffered = 0
  #announcements = 0
  readonly #resets: Counter
  readonly #joins: Counter<'result'>

  constructor (init: LegacyGatewayInit) {
    this.#init = init
    const registers = [init.metrics.registry]
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
      help: 'ws-peer announcements sent to legacy sockets',
      registers,
      collect () { this.reset(); this.inc(self.#announcements) }
    })
    this.#resets = new Counter({ name: 'wsstar_legacy_dial_resets_total', help: 'Legacy dials reset because the receiver\'s buffer on the server passed legacy-max-buffered-bytes', registers })
    this.#joins = new Counter({ name: 'wsstar_legacy_joins_total', help: 'Legacy join requests by result', labelNames: ['result'], registers })
  }

  get sockets (): number {
    return this.#sessions.size
  }

  get peers (): number {
    return this.#peers.size
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
      maxBufferedBytes: this.#maxBuffered,
      announcements: this.#announcements,
      pendingChallenges
    }
  }

  stop (): void {
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
    socket.on('disconnect', () => { this.#onDisconnect(session) })
  }

  #onEvent (session: LegacySession, event: unknown, args: unknown[]): void {
    if (typeof event !== 'string') return
    if (event.startsWith(PULL)) {
      this.#onPull(session, event, args)
      return
    }
    const last = args[args.length - 1]
    const ack = typeof last === 'function' ? last as Ack : undefined
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

  // --- join -------------------------------------------------------------------

  #join (session: LegacySession, address: unknown, keyOrSignature: unknown, ack: Ack): void {
    const { limits } = this.#init
    if (this.#init.isShuttingDown()) {
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
      for (const dial of [...existing.session.dials.values()]) {
        this.#endDial(dial, LEGACY_ERRORS.GONE)
      }
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
      entry.session.socket.emit(LEGACY_EVENT.PEER, address)
    }
  }

  // --- dial -------------------------------------------------------------------

  async #dial (session: LegacySession, from: unknown, to: unknown, dialId: unknown, ack: Ack): Promise<void> {
    const { limits } = this.#init
    if (this.#init.isShuttingDown()) {
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
      ended: new Set(),
      pendingAck: ack,
      done: false
    }
    session.dials.set(dialId, dial)
    callee.dials.set(calleeId, dial)
    this.#dials.add(dial)
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

  /** relays one socket.io-pull-stream event to the other end of its dial */
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
    const target = dial.caller.session === session && dial.caller.id === id ? dial.callee : dial.caller
    const name = `${PULL}${kind}.${target.id}.${role}`
    if (kind === 'accept') {
      target.session.socket.emit(name)
      return
    }
    if (kind === 'queue') {
      const bytes = args[0]
      if (!(bytes instanceof Uint8Array)) return
      const receiver = target.session
      const buffered = receiver.bufferedBytes()
      if (buffered + bytes.byteLength > this.#init.limits.legacyMaxBufferedBytes) {
        this.#overflow(dial, buffered)
        return
      }
      receiver.unflushedBytes += bytes.byteLength
      this.#relayedBytes += bytes.byteLength
      receiver.socket.emit(name, bytes)
      const after = buffered + bytes.byteLength
      if (after > this.#maxBuffered) this.#maxBuffered = after
      return
    }
    // error: `true` ends this direction, anything else is an error
    const value = args[0] === true ? true : typeof args[0] === 'string' ? args[0].slice(0, 200) : 'error'
    target.session.socket.emit(name, value)
    dial.ended.add(role)
    if (dial.ended.has('dialer') && dial.ended.has('listener')) {
      this.#forget(dial)
    }
  }

  /** the receiver does not read (legacy clients have no backpressure): reset the dial */
  #overflow (dial: LegacyDial, buffered: number): void {
    this.#overflowResets++
    this.#resets.inc()
    this.#init.metrics.limitHit(LIMIT_NAMES.legacyMaxBufferedBytes)
    this.#init.logger.info({ buffered }, 'legacy dial reset: the receiver\'s buffer passed legacy-max-buffered-bytes')
    this.#endDial(dial, true)
  }

  /** ends both directions at both ends and forgets the dial */
  #endDial (dial: LegacyDial, value: true | string): void {
    if (dial.done) return
    for (const end of [dial.caller, dial.callee]) {
      if (!end.session.connected) continue
      for (const role of ['dialer', 'listener']) {
        end.session.socket.emit(`${PULL}error.${end.id}.${role}`, value)
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
