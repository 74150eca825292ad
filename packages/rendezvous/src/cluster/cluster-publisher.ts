import { BATCH_HEADER_BYTES, MESSAGE_KINDS } from './cluster-messages.js'
import { sendEncodedCommand } from '../internals/ioredis-internals.js'
import { encodeSpublish } from './spublish.js'
import type { ClusterMessage } from './cluster-messages.js'
import type { SpublishMessages } from './spublish.js'
import type { Redis } from 'ioredis'

/**
 * What one node of a cluster publishes to the others (cluster-link.ts):
 * messages to one channel queued within one event-loop turn go out as one
 * SPUBLISH (a batch, at most BATCH_MAX_BYTES), in order, on one connection,
 * so Redis keeps the frames of a dial in order. Imports the codec, the
 * SPUBLISH encoding and ioredis-internals.ts.
 */

/** a batch is published once it holds this many bytes (else at the end of the event-loop turn) */
const BATCH_MAX_BYTES = 1024 * 1024

/** Messages and body bytes per message type (index = type), published or received: plain numbers, read at scrape time. */
export interface LinkTraffic {
  messages: Float64Array
  bytes: Float64Array
}

export function linkTraffic (): LinkTraffic {
  return { messages: new Float64Array(MESSAGE_KINDS.length), bytes: new Float64Array(MESSAGE_KINDS.length) }
}

/** Messages to one channel waiting for the end of this event-loop turn (their fields as `encodeSpublish` takes them). */
interface Outbox extends SpublishMessages {
  channel: string
  types: ClusterMessage[]
  /** resolves with the receivers of the SPUBLISH (0: the node is gone) */
  done: Promise<number>
  resolve: (receivers: number) => void
  reject: (err: unknown) => void
}

export class ClusterPublisher {
  readonly #redis: Redis
  readonly #prefix: string
  /** per channel: messages of this event-loop turn */
  readonly #outboxes = new Map<string, Outbox>()
  /** frames and control messages published to other nodes */
  published = 0
  /** SPUBLISH commands those went out in (batches) */
  publishes = 0
  /** per message type: what this node published */
  readonly sent = linkTraffic()

  /**
   * @param redis the publishing connection (shared with the socket.io adapter)
   * @param prefix the key and channel prefix, as the registry's
   */
  constructor (redis: Redis, prefix: string) {
    this.#redis = redis
    this.#prefix = prefix
  }

  /** The channel only node `nodeId` is subscribed to. */
  nodeChannel (nodeId: string): string {
    return `${this.#prefix}to:${nodeId}`
  }

  /**
   * Queues a message to `nodeId`; every message to one node of this
   * event-loop turn goes out in one SPUBLISH, in order. Resolves with the
   * receivers (0: nobody listens, the node is gone).
   */
  publish (nodeId: string, type: ClusterMessage, id: string, body: string | Uint8Array): Promise<number> {
    return this.publishTo(this.nodeChannel(nodeId), type, id, body)
  }

  publishTo (channel: string, type: ClusterMessage, id: string, body: string | Uint8Array): Promise<number> {
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
    box.ids.push(id)
    box.bodies.push(body)
    box.bodyLengths.push(bodyLength)
    box.bytes += BATCH_HEADER_BYTES + id.length + bodyLength
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
    sendEncodedCommand(this.#redis, 'spublish', encodeSpublish(box.channel, box)).then((receivers) => { box.resolve(Number(receivers)) }, box.reject)
  }
}
