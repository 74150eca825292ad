import { Event } from '@wsstar/protocol'
import { engineSocketOf, writePreEncoded } from '../internals/engine-io-internals.js'
import { textFrame } from '../internals/ws-internals.js'
import type { PeersDelta } from '@wsstar/protocol'
import type { Socket } from 'socket.io'

/** Sockets written per event-loop turn; between chunks the server answers joins, dials and frames. */
export const BROADCAST_CHUNK = 256

/** One socket a broadcast reaches (the server's Session). */
export interface PeersRecipient {
  readonly socket: Socket
  /** true: the socket gets `delta` later, not now (its join answer is not out yet) */
  holdDelta?(delta: PeersDelta): boolean
  /** false: every registration of the socket named namespaces, so the default namespace's deltas are not for it */
  readonly inDefaultNamespace?: boolean
}

export interface PeersBroadcastInit {
  /** ids of the registered sockets, read when a broadcast to the default namespace starts */
  members(): Iterable<string>
  /** one lookup per socket written: this runs once per registered socket per broadcast */
  recipient(id: string): PeersRecipient | undefined
  chunk?: number
}

/**
 * `ws-peers` to every registered socket of this server, encoded once (the
 * socket.io packet and its websocket frame), written a chunk of sockets per
 * event-loop turn. socket.io's room broadcast also encodes once, but writes
 * to every socket in one turn: at 10,000 sockets that held the event loop
 * for a quarter of a second each period, stalling every join and dial
 * behind it. A broadcast still running when the next one starts is
 * finished first, so deltas reach each socket in order.
 */
export class PeersBroadcast {
  readonly #init: PeersBroadcastInit
  readonly #chunk: number
  /** each broadcast: its sockets (ids looked up when written, or the sockets themselves), and whether only those in the default namespace get it */
  #queue: Array<{ targets: Array<string | PeersRecipient>, defaultOnly: boolean, delta: PeersDelta, data: string, frame: Buffer[] }> = []
  #offset = 0
  #timer?: ReturnType<typeof setImmediate>

  constructor (init: PeersBroadcastInit) {
    this.#init = init
    this.#chunk = init.chunk ?? BROADCAST_CHUNK
  }

  /** `delta` to the registered sockets in the default namespace. */
  send (delta: PeersDelta): void {
    this.#enqueue([...this.#init.members()], true, delta)
  }

  /** `delta` to `recipients` (the sockets of one named namespace), read now. */
  sendTo (delta: PeersDelta, recipients: Iterable<PeersRecipient>): void {
    const targets = [...recipients]
    if (targets.length > 0) {
      this.#enqueue(targets, false, delta)
    }
  }

  #enqueue (targets: Array<string | PeersRecipient>, defaultOnly: boolean, delta: PeersDelta): void {
    // the socket.io EVENT packet for namespace "/" without an ack id, as socket.io-parser encodes it
    const data = `2${JSON.stringify([Event.PEERS, delta])}`
    // engine.io adds its MESSAGE type "4"
    const payload = Buffer.from(`4${data}`, 'utf8')
    this.#queue.push({ targets, defaultOnly, delta, data, frame: [textFrame(payload)] })
    if (this.#timer == null) {
      this.#run()
    }
  }

  /** Drops what is not written yet. */
  stop (): void {
    if (this.#timer != null) {
      clearImmediate(this.#timer)
      this.#timer = undefined
    }
    this.#queue = []
    this.#offset = 0
  }

  #run (): void {
    this.#timer = undefined
    let budget = this.#chunk
    while (budget > 0 && this.#queue.length > 0) {
      const current = this.#queue[0]
      const end = Math.min(current.targets.length, this.#offset + budget)
      for (let i = this.#offset; i < end; i++) {
        const target = current.targets[i]
        const recipient = typeof target === 'string' ? this.#init.recipient(target) : target
        if (recipient?.socket.connected === true && !(current.defaultOnly && recipient.inDefaultNamespace === false) && recipient.holdDelta?.(current.delta) !== true) {
          writePreEncoded(engineSocketOf(recipient.socket), current.data, current.frame)
        }
      }
      budget -= end - this.#offset
      this.#offset = end
      if (this.#offset >= current.targets.length) {
        this.#queue.shift()
        this.#offset = 0
      }
    }
    if (this.#queue.length > 0) {
      this.#timer = setImmediate(() => { this.#run() })
    }
  }
}
