import { ErrorCode, Event } from '@wsstar/protocol'
import { LIMIT_NAMES } from '../limits.js'
import { terminate } from '../internals/engine-io-internals.js'
import { NO_VALUE, Requests } from './requests.js'
import { Session } from '../session/session.js'
import { keepHandshakeAuth } from '../internals/socket-io-internals.js'
import type { DialRouter } from '../dial/dial-router.js'
import type { Discovery } from '../discovery/discovery.js'
import type { HandshakeTimeout } from '../join/handshake-timeout.js'
import type { JoinChallengeStore } from '../join/join-challenge-store.js'
import type { JoinHandler } from '../join/join-handler.js'
import type { Membership } from '../join/membership.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { RendezvousLimits } from '../options.js'
import type { OutgoingBacklogBounds } from '../session/outgoing-backlog.js'
import type { SessionHooks } from '../session/session.js'
import type { Rejections } from '../metrics/rejections.js'
import type { Relay } from '../relay/relay.js'
import type { WireError } from '@wsstar/protocol'
import type { Logger } from 'pino'
import type { Socket } from 'socket.io'

export interface SocketHandlersInit {
  /** every wsstar/2 socket of this server by id: written here only (a session from connect to disconnect) */
  sessions: Map<string, Session>
  limits: RendezvousLimits
  joins: JoinHandler
  dials: DialRouter
  relay: Relay
  membership: Membership
  challenges: JoinChallengeStore
  discovery: Discovery
  handshakeTimeout: HandshakeTimeout
  /** cluster mode: frames of dials homed on another replica */
  cluster?: SocketHandlersCluster
  metrics: RendezvousMetrics
  rejections: Rejections
  logger: Logger
}

/** What the socket events ask of the cluster link (cluster mode only). */
export interface SocketHandlersCluster {
  /** false: not a frame of a dial homed on another replica, the relay takes it */
  fromCallee(session: Session, event: string, dialId: unknown, a: unknown, b?: unknown): boolean
  /** after the relay's: the dials this node forwards for a socket that is gone end too */
  dropSession(session: Session, toOthers: WireError): void
}

type SocketHandler = (this: Socket, ...args: any[]) => void

const PEER_GONE = { code: ErrorCode.PEER_GONE, message: 'the other end disconnected' }

/**
 * A wsstar/2 socket from its connect to its disconnect: its Session, the
 * events it sends (requests through Requests to the join handler and the
 * dial router, frames to the relay or the cluster link), what its
 * disconnect ends, and the cut of a socket that does not read.
 *
 * The handlers are made once and shared by every socket (the emitter calls
 * them with `this` = the socket): eight closures per socket were ~0.5 KiB
 * of heap each at 10,000 sockets.
 */
export class SocketHandlers {
  readonly #init: SocketHandlersInit
  readonly #requests: Requests
  /** what may be queued for one socket (see outgoing-backlog.ts) */
  readonly #backlogBounds: OutgoingBacklogBounds
  /** registrations being removed after a disconnect */
  readonly #cleanups = new Set<Promise<void>>()
  /** the handler table */
  readonly #on: Record<'join' | 'leave' | 'dial' | 'data' | 'credit' | 'end' | 'disconnect', SocketHandler>

  constructor (init: SocketHandlersInit) {
    this.#init = init
    const { limits, sessions, joins, dials, relay, cluster, rejections } = init
    this.#requests = new Requests({ requestBurst: limits.requestBurst, metrics: init.metrics, rejections, logger: init.logger })
    this.#backlogBounds = {
      totalBytes: limits.maxSocketBufferedBytes + limits.maxSocketControlBytes,
      controlBytes: limits.maxSocketControlBytes
    }
    const requests = this.#requests
    const sessionOf = (socket: Socket): Session | undefined => sessions.get(socket.id)
    /**
     * The data plane, one handler per frame event: no acks, no promises, no
     * per-frame allocation of our own; in cluster mode, frames of dials
     * homed on another replica go there.
     */
    const frames = (event: typeof Event.DATA | typeof Event.CREDIT | typeof Event.END, toRelay: (session: Session, dialId: unknown, a: unknown, b: unknown) => void): SocketHandler =>
      function (this: Socket, dialId: unknown, a: unknown, b: unknown): void {
        const session = sessionOf(this)
        if (session == null) return
        try {
          if (cluster === undefined || !cluster.fromCallee(session, event, dialId, a, b)) {
            toRelay(session, dialId, a, b)
          }
        } catch (err) {
          rejections.reject(err, event, session.id)
        }
      }
    const disconnected = (session: Session, reason: string, description: unknown): void => { this.#disconnected(session, reason, description) }
    this.#on = {
      join (this: Socket, ...args: unknown[]): void {
        const session = sessionOf(this)
        if (session == null || !requests.withinBudget(session, Event.JOIN, args)) return
        // ws-peers for this socket wait until the answer is out (Session.holdDelta)
        session.pendingJoinAnswers++
        requests.run(session, Event.JOIN, args, true, async () => ({ value: await joins.join(session, args[0], args[1]) }), () => {
          const held = session.joinAnswered()
          if (held != null && session.connected) {
            for (const delta of held) {
              session.socket.emit(Event.PEERS, delta)
            }
          }
        })
      },
      leave (this: Socket, ...args: unknown[]): void {
        const session = sessionOf(this)
        if (session == null || !requests.withinBudget(session, Event.LEAVE, args)) return
        requests.run(session, Event.LEAVE, args, false, async () => {
          await joins.leave(session, args[0])
          return NO_VALUE
        })
      },
      dial (this: Socket, ...args: unknown[]): void {
        const session = sessionOf(this)
        if (session == null || !requests.withinBudget(session, Event.DIAL, args)) return
        requests.run(session, Event.DIAL, args, true, async () => await dials.dial(session, args[0], args[1]))
      },
      data: frames(Event.DATA, (session, dialId, bytes) => { relay.onData(session, dialId, bytes) }),
      credit: frames(Event.CREDIT, (session, dialId, bytes) => { relay.onCredit(session, dialId, bytes) }),
      end: frames(Event.END, (session, dialId, kind, error) => { relay.onEnd(session, dialId, kind, error) }),
      disconnect (this: Socket, reason: string, description: unknown): void {
        const session = sessionOf(this)
        if (session == null) return
        disconnected(session, reason, description)
      }
    }
  }

  /** registrations still being removed after disconnects */
  get cleanups (): number {
    return this.#cleanups.size
  }

  /** Resolves once the registrations of every socket gone so far are removed (or failed to be). */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.#cleanups])
  }

  /** A new wsstar/2 socket (not a legacy one): its session, its deadline to join, its handlers. */
  attach (socket: Socket): void {
    const { sessions, limits, logger } = this.#init
    const session = new Session(socket, limits, this.#backlogBounds, this.#sessionHooks)
    // a private server's token check put the token's grant here (admission.ts)
    session.grant = socket.data?.grant
    if (session.grant?.relayBytesPerSecond != null) {
      // the token's relay-rate, in place of the server's
      session.setRelayRate(session.grant.relayBytesPerSecond)
    }
    sessions.set(session.id, session)
    keepHandshakeAuth(socket)
    if (session.protocol !== 'wsstar/2') {
      logger.debug({ socket: session.id, auth: socket.handshake.auth }, 'socket did not state protocol wsstar/2 in its handshake')
    }
    this.#init.handshakeTimeout.start(session)
    const on = this.#on
    socket.on(Event.JOIN, on.join)
    socket.on(Event.LEAVE, on.leave)
    socket.on(Event.DIAL, on.dial)
    socket.on(Event.DATA, on.data)
    socket.on(Event.CREDIT, on.credit)
    socket.on(Event.END, on.end)
    socket.on('disconnect', on.disconnect)
  }

  #disconnected (session: Session, reason: string, description?: unknown): void {
    if (!session.connected) {
      return
    }
    const { metrics, rejections, logger } = this.#init
    if (reason === 'transport error' && /max payload size exceeded/i.test((description as Error | undefined)?.message ?? '')) {
      // ws closed the socket for a message over maxHttpBufferSize
      metrics.limitHit(LIMIT_NAMES.maxMessageBytes)
      rejections.count(ErrorCode.LIMIT_EXCEEDED, 'message', session.id, 'message over the size limit')
    }
    session.closed()
    this.#init.sessions.delete(session.id)
    this.#init.handshakeTimeout.stop(session)
    this.#init.discovery.stopResample(session)
    this.#init.challenges.clearSocket(session.id)
    this.#init.relay.dropSession(session, PEER_GONE)
    this.#init.cluster?.dropSession(session, PEER_GONE)
    const cleanup = this.#init.membership.unregisterAll(session).catch((err: unknown) => {
      logger.warn({ err, socket: session.id }, 'cleanup after disconnect failed')
    })
    this.#cleanups.add(cleanup)
    void cleanup.finally(() => { this.#cleanups.delete(cleanup) })
    logger.trace({ socket: session.id, reason }, 'socket disconnected')
  }

  /** shared by every session */
  readonly #sessionHooks: SessionHooks = {
    onOverflow: (session, bound) => { this.#onBacklogOverflow(session, bound) },
    onRelayRateHold: () => { this.#init.metrics.limitHit(LIMIT_NAMES.relayRate) }
  }

  /**
   * A socket does not read what the server queues for it (acks, deltas, dial
   * requests: relayed data cannot get it here, see Relay.onData): cut it off
   * now, without waiting for the queue to drain. Shared by every session.
   */
  readonly #onBacklogOverflow = (session: Session, bound: keyof OutgoingBacklogBounds): void => {
    if (!session.connected) {
      return
    }
    const { metrics, rejections, logger } = this.#init
    const buffered = session.backlog.bytes()
    metrics.limitHit(bound === 'controlBytes' ? LIMIT_NAMES.maxSocketControlBytes : LIMIT_NAMES.maxSocketBufferedBytes)
    rejections.count(ErrorCode.LIMIT_EXCEEDED, 'backlog', session.id, 'slow consumer')
    logger.info({ socket: session.id, buffered, control: session.backlog.controlBytes }, 'disconnecting a slow consumer')
    terminate(session.socket)
  }
}
