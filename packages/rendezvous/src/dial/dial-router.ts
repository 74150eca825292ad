import { ErrorCode, WsStarError } from '@wsstar/protocol'
import { AddressPeerIds } from './address-peer-ids.js'
import { Dial } from './dial.js'
import { DialIdPool } from './dial-ids.js'
import { askCallee } from './incoming-dial.js'
import { LIMIT_NAMES } from '../limits.js'
import { dialsWithinBuffer } from '../session/outgoing-backlog.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { DialScope, RendezvousLimits } from '../options.js'
import type { PeerRecord, PeerRegistry } from '../discovery/peer-registry.js'
import type { Relay } from '../relay/relay.js'
import type { Session } from '../session/session.js'
import type { ShutdownGuard } from '../shutdown-guard.js'
import type { DialResult, WireError } from '@wsstar/protocol'

export interface DialRouterInit {
  registry: PeerRegistry
  sessions: ReadonlyMap<string, Session>
  relay: Relay
  limits: RendezvousLimits
  metrics: RendezvousMetrics
  /** refuses dials once the server is stopping */
  shutdown: ShutdownGuard
  /** cluster mode: dials to peers held by other nodes */
  cluster?: DialRouterCluster
  /** dials per socket, shared with the cluster link */
  dialLimit: DialLimit
  /** legacy mode: is this peer id a legacy (websocket-star 0.10) peer, which v2 peers cannot dial */
  isLegacyPeer?: (peerId: string) => boolean
  /** `namespace`: caller and callee must share a namespace (options.ts, `dialScope`) */
  dialScope: DialScope
}

/** Cross-node dials (cluster mode only). */
export interface DialRouterCluster {
  dial(caller: Session, callerPeerId: string, callerAddress: string, record: PeerRecord): Promise<DialResult>
  /** remote dials a local socket is the callee of */
  forwardsOf(session: Session): number
}

const NOT_ONLINE = 'the dialled peer is not online at this server'

/** Whether two registrations share a namespace (undefined: the default namespace, which they share when both are in it). */
function shareNamespace (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a == null || b == null) {
    return a == null && b == null
  }
  return a.some(name => b.includes(name))
}

/** An accepted dial: what the caller's ack carries, and what must follow that ack at once. */
export interface DialAnswer {
  value: DialResult
  /** sends what the relay held back on the new dial (Relay.open), right behind the ack */
  afterAck(): void
}

/**
 * `ss-dial`: checks the caller owns `from` and `to` is online here, assigns
 * a dial id, asks the callee with `ss-incomming` and answers the caller once
 * the callee accepted, declined, or did not answer within the dial timeout.
 */
export class DialRouter {
  readonly #init: DialRouterInit
  readonly #peerIds = new AddressPeerIds()
  readonly #dialIds = new DialIdPool()
  readonly #dialLimit: DialLimit

  constructor (init: DialRouterInit) {
    this.#init = init
    this.#dialLimit = init.dialLimit
  }

  async dial (session: Session, from: unknown, to: unknown): Promise<DialAnswer> {
    const started = performance.now()
    try {
      const result = await this.#dial(session, from, to)
      this.#init.metrics.dial('ok', (performance.now() - started) / 1000)
      const relay = this.#init.relay
      return { value: result, afterAck: () => { relay.release(result.dialId) } }
    } catch (err) {
      this.#init.metrics.dial(err instanceof WsStarError ? err.code : ErrorCode.BAD_REQUEST)
      throw err
    }
  }

  async #dial (session: Session, from: unknown, to: unknown): Promise<DialResult> {
    const { limits, metrics, relay } = this.#init
    this.#init.shutdown.check()
    if (!session.dialBucket.take()) {
      metrics.limitHit(LIMIT_NAMES.dialRate)
      throw new WsStarError(ErrorCode.RATE_LIMITED, 'too many dial requests; slow down')
    }
    // both addresses are checked before anything else, `from` first
    const callerPeerId = this.#peerIds.of(from)
    const calleePeerId = this.#peerIds.of(to)
    const callerAddress = session.addresses.get(callerPeerId)
    if (callerAddress == null) {
      throw new WsStarError(ErrorCode.NOT_REGISTERED, 'this socket has not joined with the from address')
    }
    if (calleePeerId === callerPeerId) {
      throw new WsStarError(ErrorCode.BAD_REQUEST, 'a peer cannot dial itself')
    }
    const record = await this.#init.registry.get(calleePeerId)
    if (record != null && this.#init.dialScope === 'namespace' && !shareNamespace(session.namespacesOf(callerPeerId), record.namespaces)) {
      // the answer for a peer that is not online: the refusal does not tell it is there
      throw new WsStarError(ErrorCode.PEER_NOT_FOUND, NOT_ONLINE)
    }
    const cluster = this.#init.cluster
    if (record?.nodeId != null && cluster != null) {
      if (!session.connected || session.addresses.get(callerPeerId) == null) {
        throw new WsStarError(ErrorCode.NOT_REGISTERED, 'the from address left during the dial')
      }
      this.#dialLimit.check(session.dials.size + cluster.forwardsOf(session), 'caller')
      return await cluster.dial(session, callerPeerId, callerAddress, record)
    }
    const callee = record == null ? undefined : this.#init.sessions.get(record.socketId)
    const calleeAddress = callee?.addresses.get(calleePeerId)
    if (callee == null || calleeAddress == null || !callee.connected) {
      if (this.#init.isLegacyPeer?.(calleePeerId) === true) {
        throw new WsStarError(ErrorCode.PEER_NOT_FOUND, 'the dialled peer is a legacy websocket-star client: it speaks a different protocol version')
      }
      throw new WsStarError(ErrorCode.PEER_NOT_FOUND, NOT_ONLINE)
    }
    if (callee === session) {
      // frames of a dial name no direction, so both ends must be distinct sockets
      throw new WsStarError(ErrorCode.BAD_REQUEST, 'a socket cannot dial another of its own addresses')
    }
    if (!session.connected || session.addresses.get(callerPeerId) == null) {
      throw new WsStarError(ErrorCode.NOT_REGISTERED, 'the from address left during the dial')
    }
    this.#dialLimit.check(session.dials.size, 'caller')
    this.#dialLimit.check(callee.dials.size, 'callee')
    const dial = new Dial({ id: this.#dialIds.next(), caller: session, callerPeerId, callerAddress, callee, calleePeerId, calleeAddress })
    relay.add(dial)
    return await new Promise<DialResult>((resolve, reject) => {
      dial.abort = (error: WireError) => {
        reject(new WsStarError(error.code, error.message))
      }
      askCallee(callee, dial.id, callerAddress, limits.dialTimeoutMs, (error) => {
        if (dial.state !== 'pending') {
          return false
        }
        if (error != null) {
          relay.reset(dial, error)
        } else {
          relay.open(dial)
          resolve({ dialId: dial.id })
        }
        return true
      })
    })
  }
}

/**
 * How many dials one socket may take part in, caller or callee: at most
 * `maxDialsPerSocket`, and no more than its `maxSocketBufferedBytes` can
 * hold full windows of (each dial lets the other end send it a window it
 * has not read yet), so senders can never owe a receiver more than the
 * server will queue for it.
 */
export class DialLimit {
  readonly #limits: RendezvousLimits
  readonly #metrics: RendezvousMetrics
  readonly #withinBuffer: number

  constructor (limits: RendezvousLimits, metrics: RendezvousMetrics) {
    this.#limits = limits
    this.#metrics = metrics
    this.#withinBuffer = dialsWithinBuffer(limits.maxSocketBufferedBytes, limits.windowBytes)
  }

  /** Throws ERR_LIMIT_EXCEEDED when a socket in `dials` dials already cannot take one more. */
  check (dials: number, end: 'caller' | 'callee'): void {
    if (dials >= this.#limits.maxDialsPerSocket) {
      this.#metrics.limitHit(LIMIT_NAMES.maxDialsPerSocket)
      throw new WsStarError(ErrorCode.LIMIT_EXCEEDED, end === 'caller' ? `at most ${this.#limits.maxDialsPerSocket} concurrent dials per socket` : 'the dialled peer has too many concurrent dials')
    }
    if (dials >= this.#withinBuffer) {
      this.#metrics.limitHit(LIMIT_NAMES.maxSocketBufferedBytes)
      throw new WsStarError(ErrorCode.LIMIT_EXCEEDED, `${end === 'caller' ? 'this socket' : 'the dialled peer'} cannot be owed more data: ${this.#withinBuffer} dials' windows fill what the server queues for one socket`)
    }
  }
}
