import { EndKind, ErrorCode, Event, parseCreditFrame, parseDataFrame, parseEndFrame } from '@wsstar/protocol'
import { ClusterMessage, decodeCredit, decodeData, decodeEnd, encodeAnswer, encodeCredit, encodeEnd, encodeGone } from './cluster-messages.js'
import { askCallee } from '../dial/incoming-dial.js'
import { NO_ROOM_FOR_DATA } from '../session/outgoing-backlog.js'
import type { ClusterPublisher } from './cluster-publisher.js'
import type { DialRequest } from './cluster-messages.js'
import type { DialEnd } from '../dial/dial-end.js'
import type { DialLimit } from '../dial/dial-router.js'
import type { RendezvousLimits } from '../options.js'
import type { Rejections } from '../metrics/rejections.js'
import type { Session } from '../session/session.js'
import type { WireError, WsStarError } from '@wsstar/protocol'

/**
 * The callee side of cross-replica dials (cluster-link.ts): a dial homed on
 * another node whose callee is a socket of this one. This node keeps a small
 * forwarding entry per such dial, asks the callee, writes the home node's
 * frames to the callee's socket and publishes the callee's frames to the
 * home node, where the relay judges them as a local socket's (window,
 * credit, close, reset). It does not check the callee's credit itself: a
 * callee over its credit is reset by the home node one Redis hop later.
 * Imports the codec, the publisher and askCallee.
 */

/** Callee-side entry of a dial homed on another node. */
interface Forward {
  id: string
  home: string
  callee: Session
  calleePeerId: string
  state: 'pending' | 'open'
}

const SERVER_UNREACHABLE: WireError = { code: ErrorCode.PEER_GONE, message: 'the other end\'s server cannot be reached' }

export interface ClusterForwardsInit {
  publisher: ClusterPublisher
  sessions: ReadonlyMap<string, Session>
  rejections: Rejections
  limits: RendezvousLimits
  /** dials per socket (max-dials-per-socket and what max-socket-buffered-bytes holds) */
  dialLimit: DialLimit
  /** the server or the link is stopping: dial requests are refused */
  isShuttingDown(): boolean
}

export class ClusterForwards {
  readonly #init: ClusterForwardsInit
  readonly #forwards = new Map<string, Forward>()
  readonly #bySession = new Map<DialEnd, Set<Forward>>()
  /** cross-replica dials forwarded for (callee here) */
  dialsCallee = 0
  /** frames of cross-replica dials written to a local callee, and published from one */
  framesToCallee = 0
  framesFromCallee = 0

  constructor (init: ClusterForwardsInit) {
    this.#init = init
  }

  /** cross-node dials this node forwards for */
  get size (): number {
    return this.#forwards.size
  }

  /** Dials (pending or open) a local socket takes part in as a remote dial's callee. */
  of (session: DialEnd): number {
    return this.#bySession.get(session)?.size ?? 0
  }

  /** A DIAL from the home node: checks the callee is here and within its limits, asks it, answers. */
  request (dialId: string, request: DialRequest): void {
    const answer = (error?: WireError): void => {
      this.#init.publisher.publish(request.home, ClusterMessage.ANSWER, dialId, encodeAnswer(error)).catch(() => {})
    }
    if (this.#init.isShuttingDown()) {
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
      this.#init.dialLimit.check(callee.dials.size + this.of(callee), 'callee')
    } catch (err) {
      answer((err as WsStarError).toWire())
      return
    }
    this.dialsCallee++
    const forward: Forward = { id: dialId, home: request.home, callee, calleePeerId: request.to, state: 'pending' }
    this.#forwards.set(dialId, forward)
    let set = this.#bySession.get(callee)
    if (set == null) {
      set = new Set()
      this.#bySession.set(callee, set)
    }
    set.add(forward)
    askCallee(callee, dialId, request.from, limits.dialTimeoutMs, (error) => {
      if (this.#forwards.get(dialId) !== forward) {
        return false
      }
      if (error != null) {
        this.#drop(forward)
      } else {
        forward.state = 'open'
      }
      answer(error)
      return true
    })
  }

  /** A TO_DATA, TO_CREDIT or TO_END of the home node for the local callee of dial `dialId`. */
  toCallee (type: ClusterMessage, dialId: string, body: Buffer): void {
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
      if (!callee.hasRoomFor(bytes.length, this.#init.limits.maxSocketBufferedBytes)) {
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
        this.#drop(forward)
      }
      callee.sendEnd(dialId, end.kind, end.error)
    }
  }

  /**
   * A frame from a local socket: publishes it to the home node when it
   * belongs to a cross-node dial this socket is the callee of. False: not
   * ours, the relay handles it.
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
    const publisher = this.#init.publisher
    try {
      if (event === Event.DATA) {
        const frame = parseDataFrame(dialId, a)
        session.sentData(frame.bytes.byteLength)
        publisher.publish(forward.home, ClusterMessage.DATA, dialId, frame.bytes).catch(() => { this.#lost(forward) })
      } else if (event === Event.CREDIT) {
        const frame = parseCreditFrame(dialId, a)
        publisher.publish(forward.home, ClusterMessage.CREDIT, dialId, encodeCredit(frame.bytes)).catch(() => { this.#lost(forward) })
      } else {
        const frame = parseEndFrame(dialId, a, b)
        if (frame.kind === EndKind.RESET) {
          this.#drop(forward)
        }
        publisher.publish(forward.home, ClusterMessage.END, dialId, encodeEnd(frame.kind, frame.error)).catch(() => {})
      }
    } catch (err) {
      this.#init.rejections.reject(err, event, session.id)
    }
    return true
  }

  /** A FORGET of the home node: the dial is over there. */
  forget (dialId: string): void {
    const forward = this.#forwards.get(dialId)
    if (forward != null) {
      this.#drop(forward)
    }
  }

  /** `peerId` of `end` (a local socket) left or was replaced: its dials end, their home nodes are told. */
  dropPeer (end: DialEnd, peerId: string, toOthers: WireError, toSelf: WireError | null): void {
    const forwards = this.#bySession.get(end)
    if (forwards == null) {
      return
    }
    for (const forward of [...forwards]) {
      if (forward.calleePeerId === peerId) {
        this.#gone(forward, toOthers, toSelf)
      }
    }
  }

  /** `end` (a local socket) disconnected. */
  dropSession (end: DialEnd, toOthers: WireError): void {
    const forwards = this.#bySession.get(end)
    if (forwards == null) {
      return
    }
    for (const forward of [...forwards]) {
      this.#gone(forward, toOthers, null)
    }
  }

  /** A frame of the callee could not be published (Redis away): the dial is broken, reset the callee's end. */
  #lost (forward: Forward): void {
    if (this.#forwards.get(forward.id) !== forward) {
      return
    }
    this.#drop(forward)
    if (forward.callee.connected) {
      forward.callee.sendEnd(forward.id, EndKind.RESET, SERVER_UNREACHABLE)
    }
  }

  #gone (forward: Forward, toOthers: WireError, toSelf: WireError | null): void {
    this.#drop(forward)
    this.#init.publisher.publish(forward.home, ClusterMessage.GONE, forward.id, encodeGone(toOthers)).catch(() => {})
    if (toSelf != null && forward.state === 'open' && forward.callee.connected) {
      forward.callee.sendEnd(forward.id, EndKind.RESET, toSelf)
    }
  }

  #drop (forward: Forward): void {
    if (this.#forwards.get(forward.id) === forward) {
      this.#forwards.delete(forward.id)
    }
    const set = this.#bySession.get(forward.callee)
    if (set != null) {
      set.delete(forward)
      if (set.size === 0) {
        this.#bySession.delete(forward.callee)
      }
    }
  }
}
