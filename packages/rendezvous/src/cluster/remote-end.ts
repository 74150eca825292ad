import { EndKind, ErrorCode } from '@wsstar/protocol'
import { ClusterMessage, decodeAnswer, decodeCredit, decodeEnd, decodeGone, encodeCredit, encodeEnd } from './cluster-messages.js'
import type { ClusterPublisher } from './cluster-publisher.js'
import type { Dial } from '../dial/dial.js'
import type { DialEnd } from '../dial/dial-end.js'
import type { Relay } from '../relay/relay.js'
import type { WireError } from '@wsstar/protocol'

/**
 * The callee end of a dial homed on this node whose callee is held by
 * another replica of the cluster (cluster-link.ts). Frames to it go to the
 * callee's node on that node's channel, which writes them to the callee's
 * socket; the messages that node sends back about the dial come in through
 * `receive`, and the relay judges the callee's frames as a local socket's.
 * Imports the codec, the publisher and the relay's types.
 */

/** A remote end never gets an answer to a stray frame: its node sends only frames of dials it forwards. */
const NO_STRAY_ANSWERS = { take: (): boolean => false }

const SERVER_UNREACHABLE: WireError = { code: ErrorCode.PEER_GONE, message: 'the other end\'s server cannot be reached' }

export class RemoteEnd implements DialEnd {
  readonly id: string
  readonly nodeId: string
  readonly peerId: string
  connected = true
  readonly dials = new Set<Dial>()
  readonly strayBucket = NO_STRAY_ANSWERS
  /** while pending: the callee's node accepted */
  accept?: () => void
  /** while pending: the home node gives up on the callee's node */
  timer?: ReturnType<typeof setTimeout>
  readonly #publisher: ClusterPublisher
  readonly #relay: Relay

  constructor (nodeId: string, peerId: string, publisher: ClusterPublisher, relay: Relay) {
    this.id = `${nodeId}/${peerId}`
    this.nodeId = nodeId
    this.peerId = peerId
    this.#publisher = publisher
    this.#relay = relay
  }

  /** the callee's own replica checks what it queues for the callee (ClusterForwards.toCallee), so here there is always room */
  hasRoomFor (): boolean {
    return true
  }

  /** the frames the relay holds here for the callee; what its own replica queues it bounds there */
  heldCost = 0

  /** counted and charged on the callee's own replica (ClusterForwards.fromCallee) */
  sentData (): void {}

  sendData (dialId: string, bytes: Uint8Array): void {
    this.#send(ClusterMessage.TO_DATA, dialId, bytes)
  }

  sendCredit (dialId: string, bytes: number): void {
    this.#send(ClusterMessage.TO_CREDIT, dialId, encodeCredit(bytes))
  }

  sendEnd (dialId: string, kind: EndKind, error?: WireError): void {
    this.#send(ClusterMessage.TO_END, dialId, encodeEnd(kind, error))
  }

  /** A message from the callee's node about `dial`, whose callee this is. */
  receive (dial: Dial, type: ClusterMessage, body: Buffer): void {
    const relay = this.#relay
    switch (type) {
      case ClusterMessage.ANSWER: {
        if (dial.state !== 'pending') {
          return
        }
        const error = decodeAnswer(body)
        if (error != null) {
          this.connected = false
          relay.reset(dial, error)
        } else {
          this.accept?.()
          this.accept = undefined
          clearTimeout(this.timer)
        }
        return
      }
      case ClusterMessage.DATA:
        // judged by the relay as any client's frame
        relay.onData(this, dial.id, body)
        return
      case ClusterMessage.CREDIT:
        relay.onCredit(this, dial.id, decodeCredit(body))
        return
      case ClusterMessage.END: {
        const end = decodeEnd(body)
        if (end.kind === EndKind.RESET) {
          this.connected = false
        }
        relay.onEnd(this, dial.id, end.kind, end.error)
        return
      }
      case ClusterMessage.GONE:
        this.connected = false
        relay.reset(dial, decodeGone(body), { end: this, error: null })
        return
      default:
        break
    }
  }

  /** The relay forgot dial `dialId`: the callee's node drops its forwarding entry. */
  forgotten (dialId: string): void {
    clearTimeout(this.timer)
    this.accept = undefined
    // the relay forgets a dial before it tells the ends (a reset), and may
    // hold its frames right after the accept until the caller's ack is out
    // (microtasks later, never a later turn): let them
    // reach the remote callee first, then drop the forwarding entry
    setImmediate(() => {
      if (this.connected) {
        this.connected = false
        this.#publisher.publish(this.nodeId, ClusterMessage.FORGET, dialId, '').catch(() => {})
      }
    })
  }

  #send (type: ClusterMessage, dialId: string, body: string | Uint8Array): void {
    this.#publisher.publish(this.nodeId, type, dialId, body).catch(() => { this.#lost(dialId) })
  }

  /** Redis away: bytes of the dial are lost, end it (the callee's node resets its end when it cannot publish). */
  #lost (dialId: string): void {
    const dial = this.#relay.dials.get(dialId)
    if (dial != null && dial.callee === this) {
      this.connected = false
      this.#relay.reset(dial, SERVER_UNREACHABLE)
    }
  }
}
