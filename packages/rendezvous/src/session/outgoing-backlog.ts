import { MAX_FRAME_BYTES } from '@wsstar/protocol'
import { engineSocketOf, webSocketBufferedAmount, writeBufferLength } from '../internals/engine-io-internals.js'
import type { EnginePacket, EngineSocket } from '../internals/engine-io-internals.js'
import type { Socket } from 'socket.io'

/**
 * What the server has queued for one socket and not yet handed to the
 * kernel, by what it costs the server's memory: engine.io's write buffer
 * and what its websocket holds, read through engine-io-internals.ts.
 *
 * engine.io queues every packet (acks, events, relayed frames, pings) in
 * its write buffer while the websocket still has the previous batch in
 * flight; a client that stops reading keeps it growing. Each queued packet
 * is charged its payload plus `PACKET_COST` (a queued ~80-byte error ack
 * held ~270 bytes of heap), so many small packets are counted at what they
 * cost, not at their wire size.
 */

/** heap a queued engine.io packet costs besides its payload (packet and options objects, array slot, string or Buffer header) */
export const PACKET_COST = 256
/** a relayed `d` frame is two packets: its header (`51-["d","<id>",{"_placeholder":true,"num":0}]`) and its bytes */
export const FRAME_COST = 2 * PACKET_COST + 64
/** why a dial is reset when a data frame would take its receiver's queue past the bound (local and cross-replica alike) */
export const NO_ROOM_FOR_DATA = 'the receiver has no room for more data on the server: the dial is reset'

/**
 * How many dials a socket may take part in so that a full window on every
 * one of them, in full-size frames, fits in `bufferBytes`: each dial lets
 * its other end send this socket up to `window` bytes it has not read yet.
 */
export function dialsWithinBuffer (bufferBytes: number, window: number): number {
  const perDial = window + Math.ceil(window / MAX_FRAME_BYTES) * FRAME_COST
  return Math.floor(bufferBytes / perDial)
}

function frameBytes (frame: readonly Buffer[] | undefined): number {
  let bytes = 0
  if (frame != null) {
    for (const part of frame) {
      bytes += part.byteLength
    }
  }
  return bytes
}

export interface OutgoingBacklogBounds {
  /**
   * total backlog past which the socket is cut; relayed frames are refused
   * before they take `dataBytes()` past its share (see Relay), so only a
   * path that queued data without that check gets here
   */
  totalBytes: number
  /** cost of queued packets other than relayed frames past which the socket is cut */
  controlBytes: number
}

/**
 * One socket's backlog. Relayed frames (binary events: their header starts
 * with socket.io's BINARY_EVENT type `5`, and their bytes are the only
 * binary packets) count as data; everything else (acks, `ws-peers`,
 * `ss-incomming`, `c`, `e`, pings) as control. Crossing a bound calls
 * `onOverflow` once, from a microtask: never from inside engine.io's write
 * (what is queued meanwhile is bounded by what one read of the client's
 * input can ask for).
 */
export class OutgoingBacklog<Owner> {
  readonly #conn: EngineSocket
  readonly #bounds: OutgoingBacklogBounds
  readonly #owner: Owner
  readonly #onOverflow: (owner: Owner, bound: keyof OutgoingBacklogBounds) => void
  /** cost of the relayed-frame packets counted since engine.io's write buffer was last seen empty */
  #data = 0
  /** cost of the other packets counted since engine.io's write buffer was last seen empty */
  #control = 0
  #overflowed = false

  constructor (socket: Socket, bounds: OutgoingBacklogBounds, owner: Owner, onOverflow: (owner: Owner, bound: keyof OutgoingBacklogBounds) => void) {
    this.#bounds = bounds
    this.#owner = owner
    this.#onOverflow = onOverflow
    this.#conn = engineSocketOf(socket)
    // one listener per socket: a flush (engine.io hands its whole write
    // buffer to the websocket) is seen as an empty write buffer, not heard
    this.#conn.on('packetCreate', this.#onPacket)
  }

  /** Forgets what a flush handed to the websocket (counted there by `bufferedAmount` from then on). */
  #flushed (): void {
    if (writeBufferLength(this.#conn) === 0) {
      this.#data = 0
      this.#control = 0
    }
  }

  /** Cost of everything queued: engine.io's write buffer plus what the websocket has not handed to the kernel. */
  bytes (): number {
    return this.controlBytes + this.dataBytes()
  }

  /**
   * Cost of the relayed frames queued in engine.io plus what the websocket
   * has not handed to the kernel (mostly frames: a socket whose control
   * messages pile up is cut at `controlBytes` long before).
   */
  dataBytes (): number {
    this.#flushed()
    return this.#queuedData()
  }

  #queuedData (): number {
    return this.#data + webSocketBufferedAmount(this.#conn)
  }

  /** Cost of the queued packets that are not relayed frames (engine.io's write buffer only). */
  get controlBytes (): number {
    this.#flushed()
    return this.#control
  }

  readonly #onPacket = (packet: EnginePacket): void => {
    // emitted before the packet joins the write buffer
    this.#flushed()
    const data = packet.data
    if (typeof data === 'string') {
      // '5': a binary event's header, i.e. a relayed frame
      if (data.charCodeAt(0) === 53) {
        this.#data += PACKET_COST + data.length
      } else {
        this.#control += PACKET_COST + data.length
      }
    } else if (data != null && typeof (data as Uint8Array).byteLength === 'number') {
      this.#data += PACKET_COST + (data as Uint8Array).byteLength
    } else {
      // a packet queued as its websocket frame only (writeFrameOnly: `ws-peers`)
      this.#control += PACKET_COST + frameBytes(packet.options?.wsPreEncodedFrame)
    }
    if (this.#overflowed) {
      return
    }
    // not bytes(): the write buffer is still without this packet
    const bound = this.#control > this.#bounds.controlBytes ? 'controlBytes' : this.#control + this.#queuedData() > this.#bounds.totalBytes ? 'totalBytes' : undefined
    if (bound != null) {
      this.#overflowed = true
      queueMicrotask(() => { this.#onOverflow(this.#owner, bound) })
    }
  }
}
