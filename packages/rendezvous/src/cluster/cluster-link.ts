import { ErrorCode, WsStarError, createDialId } from '@wsstar/protocol'
import { ClusterForwards } from './cluster-forwards.js'
import { ClusterMessage, decodeChannelMessage, decodeDialRequest, decodeEviction, decodeNamespacePeers, decodePeers, encodeDialRequest, encodeEviction, encodeNamespacePeers, encodePeers, isClusterMessage } from './cluster-messages.js'
import { ClusterPublisher, linkTraffic } from './cluster-publisher.js'
import { Dial } from '../dial/dial.js'
import { RemoteEnd } from './remote-end.js'
import type { LinkTraffic } from './cluster-publisher.js'
import type { DialEnd } from '../dial/dial-end.js'
import type { DialLimit } from '../dial/dial-router.js'
import type { RendezvousLimits } from '../options.js'
import type { PeerRecord } from '../discovery/peer-registry.js'
import type { RedisPeerRegistry } from './redis-peer-registry.js'
import type { Rejections } from '../metrics/rejections.js'
import type { Relay } from '../relay/relay.js'
import type { Session } from '../session/session.js'
import type { ShutdownGuard } from '../shutdown-guard.js'
import type { DialResult, PeersDelta, WireError } from '@wsstar/protocol'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'

/**
 * How a dial between peers on two servers of a cluster works.
 *
 * The dial lives on the caller's node (its *home*): the same `Dial` and the
 * same relay rules as on one server, with the callee end a `RemoteEnd`.
 * - Frames to the callee (`d`, `c`, `e`) leave the home node on the callee
 *   node's channel (`<prefix>to:<nodeId>`, SPUBLISH), to which only that
 *   node is subscribed, as binary messages (type, dial id, raw payload: no
 *   msgpack, no socket.io adapter). That node writes them to the socket of
 *   its forwarding entry for the dial, and only to it.
 * - The callee's node keeps a small forwarding entry per dial and sends the
 *   callee's frames (`d`, `c`, `e`) to the home node's channel the same
 *   way, where the relay judges them exactly as if the callee were local:
 *   window, credit, close, reset. The callee's node does not check the
 *   callee's credit itself: a callee over its credit is reset by the home
 *   node one Redis hop later (its excess bytes never reach the caller).
 * - Messages to one node published within one event-loop turn go out as one
 *   SPUBLISH, in order (cluster-publisher.ts).
 * - The dial handshake is node to node: the home node publishes the request
 *   on the callee node's channel (0 receivers: that node is gone,
 *   ERR_PEER_NOT_FOUND at once), the callee's node asks its socket with the
 *   dial timeout and publishes the answer back. No cluster-wide ack: a hung
 *   node only fails the dials that involve it (the home node gives up after
 *   the dial timeout plus a margin).
 * - Evictions (a peer re-joined on another node) are published on the old
 *   node's channel.
 * Every frame of one dial in one direction goes through one publisher
 * connection and one channel, so Redis keeps them in order.
 *
 * This file wires the parts: the subscription and what comes in on it, the
 * home side's dial handshake, membership and discovery. The messages are in
 * cluster-messages.ts, the callee end of a dial homed here in remote-end.ts,
 * the callee side's entries in cluster-forwards.ts.
 */

export const PEER_ROOM_PREFIX = 'wsstar:peer:'

export function peerRoom (peerId: string): string {
  return PEER_ROOM_PREFIX + peerId
}

/** extra time the home node gives a remote callee's node beyond the dial timeout */
const REMOTE_ANSWER_MARGIN_MS = 2000

export interface ClusterLinkInit {
  nodeId: string
  /** key / channel prefix, as the registry's */
  prefix: string
  /** publishing connection (shared with the socket.io adapter, so frames stay in order) */
  pub: Redis
  /** subscriber connection (shared with the socket.io adapter) */
  sub: Redis
  registry: RedisPeerRegistry
  sessions: ReadonlyMap<string, Session>
  relay: Relay
  rejections: Rejections
  limits: RendezvousLimits
  logger: Logger
  /** dial requests from other replicas are refused once the server is stopping */
  shutdown: ShutdownGuard
  /** dials per socket (max-dials-per-socket and what max-socket-buffered-bytes holds) */
  dialLimit: DialLimit
}

/**
 * What other replicas tell this one that is not about a dial, and where it
 * goes: handed over when the link subscribes (nothing arrives before).
 */
export interface ClusterDeliveries {
  /** `peerId` of local socket `socketId` re-joined on another node: end it here (ERR_REPLACED) */
  evict(socketId: string, peerId: string): void
  /** another node's discovery delta: send it to this node's registered sockets */
  peers(delta: PeersDelta): void
  /** another node's delta of the named namespace `namespace`: send it to this node's sockets in it */
  namespacePeers(namespace: string, delta: PeersDelta): void
}

/** Cross-node dials, frames and evictions of one cluster node. See the top of this file. */
export class ClusterLink {
  readonly #init: ClusterLinkInit
  readonly #channel: string
  /** every node's discovery deltas */
  readonly #peersChannel: string
  readonly #publisher: ClusterPublisher
  readonly #forwards: ClusterForwards
  #started = false
  #closed = false
  #deliveries?: ClusterDeliveries
  /** per message type: what this node received */
  readonly received = linkTraffic()
  /** cross-replica dials homed here (callee on another node) */
  dialsHome = 0

  constructor (init: ClusterLinkInit) {
    this.#init = init
    this.#publisher = new ClusterPublisher(init.pub, init.prefix)
    this.#channel = this.#publisher.nodeChannel(init.nodeId)
    this.#peersChannel = `${init.prefix}peers`
    this.#forwards = new ClusterForwards({
      publisher: this.#publisher,
      sessions: init.sessions,
      rejections: init.rejections,
      limits: init.limits,
      dialLimit: init.dialLimit,
      isShuttingDown: () => init.shutdown.stopping || this.#closed
    })
  }

  get nodeId (): string {
    return this.#init.nodeId
  }

  /** per message type: what this node published */
  get sent (): LinkTraffic {
    return this.#publisher.sent
  }

  /** cross-replica dials forwarded for (callee here) */
  get dialsCallee (): number {
    return this.#forwards.dialsCallee
  }

  /** frames of cross-replica dials written to a local callee */
  get framesToCallee (): number {
    return this.#forwards.framesToCallee
  }

  /** frames of cross-replica dials published from a local callee */
  get framesFromCallee (): number {
    return this.#forwards.framesFromCallee
  }

  /** cross-node dials this node forwards for (callee side) */
  get forwardCount (): number {
    return this.#forwards.size
  }

  /** Subscribes to this node's channel, delivering what comes in to `deliveries`. Resolves once Redis confirmed. */
  async start (deliveries: ClusterDeliveries): Promise<void> {
    this.#deliveries = deliveries
    this.#started = true
    this.#init.sub.on('smessageBuffer', this.#onMessage)
    await this.#init.sub.ssubscribe(this.#channel)
    await this.#init.sub.ssubscribe(this.#peersChannel)
  }

  async close (): Promise<void> {
    if (this.#closed) {
      return
    }
    this.#closed = true
    this.#init.sub.off('smessageBuffer', this.#onMessage)
    if (this.#init.sub.status === 'ready') {
      await this.#init.sub.sunsubscribe(this.#channel).catch(() => {})
      await this.#init.sub.sunsubscribe(this.#peersChannel).catch(() => {})
    }
  }

  // --- discovery ---------------------------------------------------------------

  /** This node's discovery delta, for the registered sockets of the other nodes. */
  publishPeers (delta: PeersDelta): void {
    if (this.#closed) {
      return
    }
    this.#publisher.publishTo(this.#peersChannel, ClusterMessage.PEERS, this.#init.nodeId, encodePeers(delta)).catch((err: unknown) => {
      this.#init.logger.debug({ err }, 'cannot publish a discovery delta')
    })
  }

  /** This node's delta of one named namespace, for that namespace's sockets on the other nodes. */
  publishNamespacePeers (namespace: string, delta: PeersDelta): void {
    if (this.#closed) {
      return
    }
    this.#publisher.publishTo(this.#peersChannel, ClusterMessage.NAMESPACE_PEERS, this.#init.nodeId, encodeNamespacePeers(namespace, delta)).catch((err: unknown) => {
      this.#init.logger.debug({ err }, 'cannot publish a namespace\'s discovery delta')
    })
  }

  // --- membership ------------------------------------------------------------

  /** `session` holds `peerId` now: frames for the peer reach this node. */
  registered (session: Session, peerId: string): void {
    void session.socket.join(peerRoom(peerId))
  }

  unregistered (session: Session, peerId: string): void {
    if (session.connected) {
      void session.socket.leave(peerRoom(peerId))
    }
  }

  /** `previous` (on another node) was replaced by a join here: tell its node. */
  evictRemote (previous: PeerRecord): void {
    if (previous.nodeId == null) {
      return
    }
    this.#publisher.publish(previous.nodeId, ClusterMessage.EVICT, '', encodeEviction({ peerId: previous.peerId, socketId: previous.socketId })).catch(() => {})
  }

  // --- home side (caller here, callee on another node) -------------------------

  /** Dials `record` (held by another node) for the caller `session`. */
  async dial (caller: Session, callerPeerId: string, callerAddress: string, record: PeerRecord): Promise<DialResult> {
    const nodeId = record.nodeId
    if (!this.#started || nodeId == null || this.#closed) {
      throw new WsStarError(ErrorCode.PEER_NOT_FOUND, 'the dialled peer is not online in this cluster')
    }
    const relay = this.#init.relay
    this.dialsHome++
    const remote = new RemoteEnd(nodeId, record.peerId, this.#publisher, relay)
    const dial = new Dial({
      id: createDialId(),
      caller,
      callerPeerId,
      callerAddress,
      callee: remote,
      calleePeerId: record.peerId,
      calleeAddress: record.address
    })
    relay.add(dial)
    return await new Promise<DialResult>((resolve, reject) => {
      dial.abort = (error: WireError) => {
        reject(new WsStarError(error.code, error.message))
      }
      remote.accept = () => {
        relay.open(dial)
        resolve({ dialId: dial.id })
      }
      const timeoutMs = this.#init.limits.dialTimeoutMs
      remote.timer = setTimeout(() => {
        relay.reset(dial, { code: ErrorCode.DIAL_TIMEOUT, message: `the callee's server did not answer within ${timeoutMs} ms` })
      }, timeoutMs + REMOTE_ANSWER_MARGIN_MS)
      const body = encodeDialRequest({ from: callerAddress, to: record.peerId, socketId: record.socketId, home: this.#init.nodeId })
      this.#publisher.publish(nodeId, ClusterMessage.DIAL, dial.id, body).then((receivers) => {
        if (receivers === 0 && dial.state === 'pending') {
          // nobody listens on that node's channel: the node is gone
          remote.connected = false
          relay.reset(dial, { code: ErrorCode.PEER_NOT_FOUND, message: 'the dialled peer is not online in this cluster' })
        }
      }, (err: unknown) => {
        this.#init.logger.warn({ err, node: nodeId }, 'cannot reach the callee\'s server')
        relay.reset(dial, { code: ErrorCode.PEER_NOT_FOUND, message: 'the callee\'s server cannot be reached' })
      })
    })
  }

  // --- callee side (callee here, dial homed on another node) --------------------

  /**
   * A frame from a local socket: published to the home node when it belongs
   * to a cross-node dial this socket is the callee of. False: not ours, the
   * relay handles it.
   */
  fromCallee (session: Session, event: string, dialId: unknown, a: unknown, b?: unknown): boolean {
    return this.#forwards.fromCallee(session, event, dialId, a, b)
  }

  /** `peerId` of `end` (a local socket) left or was replaced: the dials forwarded for it end too (Relay.dropPeer ends those homed here). */
  dropPeer (end: DialEnd, peerId: string, toOthers: WireError, toSelf: WireError | null): void {
    this.#forwards.dropPeer(end, peerId, toOthers, toSelf)
  }

  /** `end` (a local socket) disconnected: as dropPeer, for all its dials. */
  dropSession (end: DialEnd, toOthers: WireError): void {
    this.#forwards.dropSession(end, toOthers)
  }

  /** Dials (pending or open) a local socket takes part in as a remote dial's callee. */
  forwardsOf (session: Session): number {
    return this.#forwards.of(session)
  }

  // --- messages from other nodes -------------------------------------------------

  readonly #onMessage = (channel: Buffer, message: Buffer): void => {
    if (!this.#isOurs(channel)) {
      return
    }
    try {
      decodeChannelMessage(message, this.#handleSafely)
    } catch (err) {
      this.#init.logger.warn({ err }, 'bad cluster message')
    }
  }

  /** One message of a channel message; one bad message does not stop the others of its batch. */
  readonly #handleSafely = (type: number, id: string, body: Buffer): void => {
    if (!isClusterMessage(type)) {
      // a newer replica's message: not ours to read
      return
    }
    this.received.messages[type]++
    this.received.bytes[type] += body.length
    try {
      this.#handle(type, id, body)
    } catch (err) {
      this.#init.logger.warn({ err, type }, 'bad cluster message')
    }
  }

  #handle (type: ClusterMessage, id: string, body: Buffer): void {
    switch (type) {
      case ClusterMessage.TO_DATA:
      case ClusterMessage.TO_CREDIT:
      case ClusterMessage.TO_END:
        this.#forwards.toCallee(type, id, body)
        return
      case ClusterMessage.DIAL:
        this.#forwards.request(id, decodeDialRequest(body))
        return
      case ClusterMessage.FORGET:
        this.#forwards.forget(id)
        return
      case ClusterMessage.PEERS:
        // the id is the sending node's; our own deltas went to our sockets already
        if (id !== this.#init.nodeId) {
          this.#deliveries?.peers(decodePeers(body))
        }
        return
      case ClusterMessage.NAMESPACE_PEERS:
        if (id !== this.#init.nodeId) {
          const { namespace, delta } = decodeNamespacePeers(body)
          this.#deliveries?.namespacePeers(namespace, delta)
        }
        return
      case ClusterMessage.EVICT: {
        const { peerId, socketId } = decodeEviction(body)
        this.#init.registry.forgetLocal(peerId, socketId)
        this.#deliveries?.evict(socketId, peerId)
        return
      }
      default: {
        // home side: ANSWER, DATA, CREDIT, END, GONE about a dial of ours whose callee is remote
        const dial = this.#init.relay.dials.get(id)
        if (dial != null && dial.callee instanceof RemoteEnd) {
          dial.callee.receive(dial, type, body)
        }
      }
    }
  }

  #isOurs (channel: Buffer): boolean {
    const own = this.#channel
    const peers = this.#peersChannel
    return (channel.length === own.length && channel.toString() === own) ||
      (channel.length === peers.length && channel.toString() === peers)
  }
}
