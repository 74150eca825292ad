import { EndKind, ErrorCode, Event, WsStarError, createDialId, parseCreditFrame, parseDataFrame, parseEndFrame } from '@wsstar/protocol'
import { Command } from 'ioredis'
import { BATCH_HEADER_BYTES, ClusterMessage, MESSAGE_KINDS, decodeAnswer, decodeChannelMessage, decodeCredit, decodeData, decodeDialRequest, decodeEnd, decodeEviction, decodeGone, decodePeers, encodeAnswer, encodeCredit, encodeDialRequest, encodeEnd, encodeEviction, encodeGone, encodePeers, isClusterMessage } from './cluster-messages.js'
import { Dial } from './dial.js'
import { askCallee } from './incoming-dial.js'
import type { DialLimit } from './dial-router.js'
import { NO_ROOM_FOR_DATA } from './outgoing-backlog.js'
import { encodeSpublish } from './spublish.js'
import type { SpublishMessages } from './spublish.js'
import type { RedisPeerRegistry } from './redis-peer-registry.js'
import type { RendezvousLimits } from './options.js'
import type { PeerRecord } from './peer-registry.js'
import type { Rejections } from './rejections.js'
import type { Relay } from './relay.js'
import type { DialRequest } from './cluster-messages.js'
import type { DialEnd } from './dial-end.js'
import type { Session } from './session.js'
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
 *   SPUBLISH (a batch, at most BATCH_MAX_BYTES), in order.
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
 */

export const PEER_ROOM_PREFIX = 'wsstar:peer:'

export function peerRoom (peerId: string): string {
  return PEER_ROOM_PREFIX + peerId
}

/** Messages and body bytes per message type (index = type), published or received: plain numbers, read at scrape time. */
export interface LinkTraffic {
  messages: Float64Array
  bytes: Float64Array
}

function linkTraffic (): LinkTraffic {
  return { messages: new Float64Array(MESSAGE_KINDS.length), bytes: new Float64Array(MESSAGE_KINDS.length) }
}

/** extra time the home node gives a remote callee's node beyond the dial timeout */
const REMOTE_ANSWER_MARGIN_MS = 2000

/** a batch is published once it holds this many bytes (else at the end of the event-loop turn) */
const BATCH_MAX_BYTES = 1024 * 1024

/** Messages to one channel waiting for the end of this event-loop turn (their fields as `encodeSpublish` takes them). */
interface Outbox extends SpublishMessages {
  channel: string
  types: ClusterMessage[]
  /** resolves with the receivers of the SPUBLISH (0: the node is gone) */
  done: Promise<number>
  resolve: (receivers: number) => void
  reject: (err: unknown) => void
}

/** What ioredis hands `toWritable`: the connection's socket (we never pipeline). */
interface CorkableStream {
  write(chunk: Uint8Array): boolean
  cork(): void
  uncork(): void
}

function isCorkable (stream: unknown): stream is CorkableStream {
  const s = stream as Partial<CorkableStream> | null
  return s != null && typeof s.write === 'function' && typeof s.cork === 'function' && typeof s.uncork === 'function'
}

/**
 * A command sent as RESP bytes we encoded ourselves. Small batches are one
 * buffer. A large batch is its framing plus the frames' own buffers:
 * ioredis writes what `toWritable` returns right after calling it with the
 * socket, so all but the last part are written here inside a cork, and the
 * last one by ioredis, leaving one `writev` and no copy of the frames (at
 * 64 KiB per data frame, the copy and its allocation were what the cross-node
 * path's garbage collector spent most on).
 */
class RawCommand extends Command {
  readonly #parts: Buffer[]

  constructor (name: string, parts: Buffer[]) {
    super(name, [])
    this.#parts = parts
  }

  override toWritable (stream?: unknown): Buffer {
    const parts = this.#parts
    if (parts.length === 1) {
      return parts[0]
    }
    if (!isCorkable(stream)) {
      return Buffer.concat(parts)
    }
    stream.cork()
    for (let i = 0; i < parts.length - 1; i++) {
      stream.write(parts[i])
    }
    process.nextTick(() => { stream.uncork() })
    return parts[parts.length - 1]
  }
}

/** What a `RemoteEnd` sends its frames through: the link's publisher. */
export interface RemoteEndLink {
  /** queues a message to `nodeId` (see ClusterLink.#publish); resolves with its receivers */
  publish(nodeId: string, type: ClusterMessage, dialId: string, body: string | Uint8Array): Promise<number>
  /** a frame to `remote` could not be published (Redis away): the dial has lost bytes */
  lost(remote: RemoteEnd, dialId: string): void
}

/** A remote end never answers a stray frame: its node judged the frame already. */
const NO_STRAY_ANSWERS = { take: (): boolean => false }

/**
 * The callee end of a dial homed on this node whose callee is on another
 * node: its `d`, `c` and `e` frames go to the callee's node on that node's
 * channel, which writes them to the callee's socket.
 */
export class RemoteEnd implements DialEnd {
  readonly id: string
  readonly nodeId: string
  readonly peerId: string
  connected = true
  readonly dials = new Set<Dial>()
  readonly strayBucket = NO_STRAY_ANSWERS
  /** while pending: the callee's node accepted */
  accept?: () => void
  timer?: ReturnType<typeof setTimeout>
  readonly #link: RemoteEndLink

  constructor (nodeId: string, peerId: string, link: RemoteEndLink) {
    this.id = `${nodeId}/${peerId}`
    this.nodeId = nodeId
    this.peerId = peerId
    this.#link = link
  }

  /** the callee's own replica checks what it queues for the callee (#toLocalCallee), so here there is always room */
  hasRoomFor (): boolean {
    return true
  }

  sendData (dialId: string, bytes: Uint8Array): void {
    this.#send(ClusterMessage.TO_DATA, dialId, bytes)
  }

  sendCredit (dialId: string, bytes: number): void {
    this.#send(ClusterMessage.TO_CREDIT, dialId, encodeCredit(bytes))
  }

  sendEnd (dialId: string, kind: EndKind, error?: WireError): void {
    this.#send(ClusterMessage.TO_END, dialId, encodeEnd(kind, error))
  }

  #send (type: ClusterMessage, dialId: string, body: string | Uint8Array): void {
    this.#link.publish(this.nodeId, type, dialId, body).catch(() => { this.#link.lost(this, dialId) })
  }
}

/** Callee-side entry of a dial homed on another node. */
interface Forward {
  id: string
  home: string
  callee: Session
  calleePeerId: string
  state: 'pending' | 'open'
}

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
  isShuttingDown(): boolean
  /** `peerId` of local socket `socketId` re-joined on another node: end it here (ERR_REPLACED) */
  evict(socketId: string, peerId: string): void
  /** another node's discovery delta: send it to this node's registered sockets */
  onPeers?(delta: PeersDelta): void
  /** dials per socket (max-dials-per-socket and what max-socket-buffered-bytes holds) */
  dialLimit: DialLimit
}

/** Cross-node dials, frames and evictions of one cluster node. See the top of this file. */
export class ClusterLink {
  readonly #init: ClusterLinkInit
  readonly #channel: string
  /** every node's discovery deltas */
  readonly #peersChannel: string
  readonly #forwards = new Map<string, Forward>()
  readonly #forwardsBySession = new Map<DialEnd, Set<Forward>>()
  /** per channel: messages of this event-loop turn */
  readonly #outboxes = new Map<string, Outbox>()
  #started = false
  #closed = false
  /** frames and control messages published to other nodes */
  published = 0
  /** SPUBLISH commands those went out in (batches) */
  publishes = 0
  /** per message type: what this node published and received */
  readonly sent = linkTraffic()
  readonly received = linkTraffic()
  /** cross-replica dials homed here (callee on another node) and forwarded for (callee here) */
  dialsHome = 0
  dialsCallee = 0
  /** frames of cross-replica dials written to a local callee, and published from one */
  framesToCallee = 0
  framesFromCallee = 0

  constructor (init: ClusterLinkInit) {
    this.#init = init
    this.#channel = this.#nodeChannel(init.nodeId)
    this.#peersChannel = `${init.prefix}peers`
  }

  get nodeId (): string {
    return this.#init.nodeId
  }

  /** cross-node dials this node forwards for (callee side) */
  get forwardCount (): number {
    return this.#forwards.size
  }

  /** Subscribes to this node's channel. Resolves once Redis confirmed. */
  async start (): Promise<void> {
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
    this.#publishTo(this.#peersChannel, ClusterMessage.PEERS, this.#init.nodeId, encodePeers(delta)).catch((err: unknown) => {
      this.#init.logger.debug({ err }, 'cannot publish a discovery delta')
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
    this.#publish(previous.nodeId, ClusterMessage.EVICT, '', encodeEviction({ peerId: previous.peerId, socketId: previous.socketId })).catch(() => {})
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
    const remote = new RemoteEnd(nodeId, record.peerId, this.#remoteEndLink)
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
      this.#publish(nodeId, ClusterMessage.DIAL, dial.id, body).then((receivers) => {
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

  /** The relay forgot `dial`: a remote callee's node drops its forwarding entry. */
  onForget (dial: Dial): void {
    const remote = dial.callee
    if (!(remote instanceof RemoteEnd)) {
      return
    }
    clearTimeout(remote.timer)
    remote.accept = undefined
    // the relay forgets a dial before it tells the ends (a reset), and may
    // hold its frames right after the accept until the caller's ack is out
    // (microtasks later, never a later turn): let them
    // reach the remote callee first, then drop the forwarding entry
    setImmediate(() => {
      if (remote.connected) {
        remote.connected = false
        this.#publish(remote.nodeId, ClusterMessage.FORGET, dial.id, '').catch(() => {})
      }
    })
  }

  /** How this node's remote ends publish their frames. */
  readonly #remoteEndLink: RemoteEndLink = {
    publish: (nodeId, type, dialId, body) => this.#publish(nodeId, type, dialId, body),
    lost: (remote, dialId) => {
      // Redis away: bytes of the dial are lost, end it (the callee's node resets its end when it cannot publish)
      const dial = this.#init.relay.dials.get(dialId)
      if (dial != null && dial.callee === remote) {
        remote.connected = false
        this.#init.relay.reset(dial, { code: ErrorCode.PEER_GONE, message: 'the other end\'s server cannot be reached' })
      }
    }
  }

  /** A frame of the home node for the local callee of a dial we forward for. */
  #toLocalCallee (type: ClusterMessage, dialId: string, body: Buffer): void {
    const forward = this.#forwards.get(dialId)
    if (forward == null || forward.state !== 'open') {
      return
    }
    const callee = forward.callee
    if (!callee.connected) {
      return
    }
    this.framesToCallee++
    if (type === ClusterMessage.TO_DATA) {
      const bytes = decodeData(body)
      const { limits } = this.#init
      if (!callee.hasRoomFor(bytes.length, limits.maxSocketBufferedBytes)) {
        // as the relay does for a local receiver: the dial ends, the callee stays
        const error = { code: ErrorCode.LIMIT_EXCEEDED, message: NO_ROOM_FOR_DATA }
        this.#init.rejections.count(error.code, Event.DATA, callee.id, error.message)
        this.fromCallee(callee, Event.END, dialId, EndKind.RESET, error)
        callee.sendEnd(dialId, EndKind.RESET, error)
        return
      }
      callee.sendData(dialId, bytes)
    } else if (type === ClusterMessage.TO_CREDIT) {
      callee.sendCredit(dialId, decodeCredit(body))
    } else {
      const end = decodeEnd(body)
      if (end.kind === EndKind.RESET) {
        this.#dropForward(forward)
      }
      callee.sendEnd(dialId, end.kind, end.error)
    }
  }

  // --- callee side (callee here, dial homed on another node) --------------------

  /**
   * A frame from a local socket: forwards it to the home node when it belongs
   * to a cross-node dial this socket is the callee of. False: not ours, the
   * relay handles it.
   */
  fromCallee (session: Session, event: string, dialId: unknown, a: unknown, b?: unknown): boolean {
    if (typeof dialId !== 'string') {
      return false
    }
    const forward = this.#forwards.get(dialId)
    if (forward == null || forward.callee !== session || forward.state !== 'open') {
      return false
    }
    this.framesFromCallee++
    try {
      if (event === Event.DATA) {
        const frame = parseDataFrame(dialId, a)
        this.#publish(forward.home, ClusterMessage.DATA, dialId, frame.bytes).catch(() => { this.#lost(forward) })
      } else if (event === Event.CREDIT) {
        const frame = parseCreditFrame(dialId, a)
        this.#publish(forward.home, ClusterMessage.CREDIT, dialId, encodeCredit(frame.bytes)).catch(() => { this.#lost(forward) })
      } else {
        const frame = parseEndFrame(dialId, a, b)
        if (frame.kind === EndKind.RESET) {
          this.#dropForward(forward)
        }
        this.#publish(forward.home, ClusterMessage.END, dialId, encodeEnd(frame.kind, frame.error)).catch(() => {})
      }
    } catch (err) {
      this.#init.rejections.reject(err, event, session.id)
    }
    return true
  }

  /** Relay hook: `peerId` of `end` (a local socket) left or was replaced. */
  dropPeer (end: DialEnd, peerId: string, toOthers: WireError, toSelf: WireError | null): void {
    const forwards = this.#forwardsBySession.get(end)
    if (forwards == null) {
      return
    }
    for (const forward of [...forwards]) {
      if (forward.calleePeerId === peerId) {
        this.#gone(forward, toOthers, toSelf)
      }
    }
  }

  /** Relay hook: `end` (a local socket) disconnected. */
  dropSession (end: DialEnd, toOthers: WireError): void {
    const forwards = this.#forwardsBySession.get(end)
    if (forwards == null) {
      return
    }
    for (const forward of [...forwards]) {
      this.#gone(forward, toOthers, null)
    }
  }

  /** Dials (pending or open) a local socket takes part in as a remote dial's callee. */
  forwardsOf (session: Session): number {
    return this.#forwardsBySession.get(session)?.size ?? 0
  }

  /** A frame of the callee could not be published (Redis away): the dial is broken, reset the callee's end. */
  #lost (forward: Forward): void {
    if (this.#forwards.get(forward.id) !== forward) {
      return
    }
    this.#dropForward(forward)
    if (forward.callee.connected) {
      forward.callee.sendEnd(forward.id, EndKind.RESET, { code: ErrorCode.PEER_GONE, message: 'the other end\'s server cannot be reached' })
    }
  }

  #gone (forward: Forward, toOthers: WireError, toSelf: WireError | null): void {
    this.#dropForward(forward)
    this.#publish(forward.home, ClusterMessage.GONE, forward.id, encodeGone(toOthers)).catch(() => {})
    if (toSelf != null && forward.state === 'open' && forward.callee.connected) {
      forward.callee.sendEnd(forward.id, EndKind.RESET, toSelf)
    }
  }

  #dropForward (forward: Forward): void {
    if (this.#forwards.get(forward.id) === forward) {
      this.#forwards.delete(forward.id)
    }
    const set = this.#forwardsBySession.get(forward.callee)
    if (set != null) {
      set.delete(forward)
      if (set.size === 0) {
        this.#forwardsBySession.delete(forward.callee)
      }
    }
  }

  #onDialRequest (dialId: string, request: DialRequest): void {
    const answer = (error?: WireError): void => {
      this.#publish(request.home, ClusterMessage.ANSWER, dialId, encodeAnswer(error)).catch(() => {})
    }
    if (this.#init.isShuttingDown() || this.#closed) {
      answer({ code: ErrorCode.SHUTTING_DOWN, message: 'the callee\'s server is shutting down' })
      return
    }
    const callee = this.#init.sessions.get(request.socketId)
    if (callee == null || !callee.connected || callee.addresses.get(request.to) == null) {
      answer({ code: ErrorCode.PEER_NOT_FOUND, message: 'the dialled peer is not online in this cluster' })
      return
    }
    const { limits } = this.#init
    try {
      this.#init.dialLimit.check(callee.dials.size + this.forwardsOf(callee), 'callee')
    } catch (err) {
      answer((err as WsStarError).toWire())
      return
    }
    this.dialsCallee++
    const forward: Forward = { id: dialId, home: request.home, callee, calleePeerId: request.to, state: 'pending' }
    this.#forwards.set(dialId, forward)
    let set = this.#forwardsBySession.get(callee)
    if (set == null) {
      set = new Set()
      this.#forwardsBySession.set(callee, set)
    }
    set.add(forward)
    askCallee(callee, dialId, request.from, limits.dialTimeoutMs, (error) => {
      if (this.#forwards.get(dialId) !== forward) {
        return false
      }
      if (error != null) {
        this.#dropForward(forward)
      } else {
        forward.state = 'open'
      }
      answer(error)
      return true
    })
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

  #handle (type: ClusterMessage, dialId: string, body: Buffer): void {
    switch (type) {
      case ClusterMessage.TO_DATA:
      case ClusterMessage.TO_CREDIT:
      case ClusterMessage.TO_END:
        this.#toLocalCallee(type, dialId, body)
        return
      case ClusterMessage.DIAL:
        this.#onDialRequest(dialId, decodeDialRequest(body))
        return
      case ClusterMessage.FORGET: {
        const forward = this.#forwards.get(dialId)
        if (forward != null) {
          this.#dropForward(forward)
        }
        return
      }
      case ClusterMessage.PEERS:
        // the id is the sending node's; our own deltas went to our sockets already
        if (dialId !== this.#init.nodeId) {
          this.#init.onPeers?.(decodePeers(body))
        }
        return
      case ClusterMessage.EVICT: {
        const { peerId, socketId } = decodeEviction(body)
        this.#init.registry.forgetLocal(peerId, socketId)
        this.#init.evict(socketId, peerId)
        return
      }
      default:
        break
    }
    // home side: messages about a dial of ours whose callee is remote
    const relay = this.#init.relay
    const dial = relay.dials.get(dialId)
    const remote = dial?.callee
    if (dial == null || !(remote instanceof RemoteEnd)) {
      return
    }
    switch (type) {
      case ClusterMessage.ANSWER: {
        if (dial.state !== 'pending') {
          return
        }
        const error = decodeAnswer(body)
        if (error != null) {
          remote.connected = false
          relay.reset(dial, error)
        } else {
          remote.accept?.()
          remote.accept = undefined
          clearTimeout(remote.timer)
        }
        return
      }
      case ClusterMessage.DATA:
        // judged by the relay as any client's frame
        relay.onData(remote, dialId, body)
        return
      case ClusterMessage.CREDIT:
        relay.onCredit(remote, dialId, decodeCredit(body))
        return
      case ClusterMessage.END: {
        const end = decodeEnd(body)
        if (end.kind === EndKind.RESET) {
          remote.connected = false
        }
        relay.onEnd(remote, dialId, end.kind, end.error)
        return
      }
      case ClusterMessage.GONE:
        remote.connected = false
        relay.reset(dial, decodeGone(body), { end: remote, error: null })
        return
      default:
        break
    }
  }

  #isOurs (channel: Buffer): boolean {
    const own = this.#channel
    const peers = this.#peersChannel
    return (channel.length === own.length && channel.toString() === own) ||
      (channel.length === peers.length && channel.toString() === peers)
  }

  #nodeChannel (nodeId: string): string {
    return `${this.#init.prefix}to:${nodeId}`
  }

  /**
   * Queues a message to `nodeId`; every message to one node of this
   * event-loop turn goes out in one SPUBLISH, in order. Resolves with the
   * receivers (0: nobody listens, the node is gone).
   */
  #publish (nodeId: string, type: ClusterMessage, dialId: string, body: string | Uint8Array): Promise<number> {
    return this.#publishTo(this.#nodeChannel(nodeId), type, dialId, body)
  }

  #publishTo (channel: string, type: ClusterMessage, dialId: string, body: string | Uint8Array): Promise<number> {
    let box = this.#outboxes.get(channel)
    if (box == null) {
      let resolve!: (receivers: number) => void
      let reject!: (err: unknown) => void
      const done = new Promise<number>((res, rej) => { resolve = res; reject = rej })
      const created: Outbox = { channel, types: [], ids: [], bodies: [], bodyLengths: [], bytes: 0, done, resolve, reject }
      box = created
      this.#outboxes.set(channel, created)
      setImmediate(() => { this.#flush(created) })
    }
    const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
    box.types.push(type)
    box.ids.push(dialId)
    box.bodies.push(body)
    box.bodyLengths.push(bodyLength)
    box.bytes += BATCH_HEADER_BYTES + dialId.length + bodyLength
    this.published++
    this.sent.messages[type]++
    this.sent.bytes[type] += bodyLength
    const done = box.done
    if (box.bytes >= BATCH_MAX_BYTES) {
      this.#flush(box)
    }
    return done
  }

  #flush (box: Outbox): void {
    if (this.#outboxes.get(box.channel) !== box) {
      return
    }
    this.#outboxes.delete(box.channel)
    this.publishes++
    const command = new RawCommand('spublish', encodeSpublish(box.channel, box))
    const sent = this.#init.pub.sendCommand(command) as Promise<unknown>
    sent.then((receivers) => { box.resolve(Number(receivers)) }, box.reject)
  }
}
