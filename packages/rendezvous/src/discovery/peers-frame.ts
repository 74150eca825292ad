import { Event } from '@wsstar/protocol'
import { engineSocketOf, writeFrameOnly, writesFramesAsTheyAre } from '../internals/engine-io-internals.js'
import { textFrameParts } from '../internals/ws-internals.js'
import type { PeersDelta } from '@wsstar/protocol'
import type { Socket } from 'socket.io'

/**
 * A `ws-peers` packet for one socket (a re-sample, a delta held for a join
 * answer), written straight into its websocket frame: the same bytes
 * socket.io would send (`42["ws-peers",{"joined":[…],"left":[…]}]`), with
 * no string of the packet on the heap. An idle server sends one re-sample
 * per registered socket per period; made by socket.io, each was the
 * packet's JSON plus engine.io's flattened copy of it, several KiB each, and
 * most of what the server allocated while idle. Imports the engine.io and
 * ws internals it writes through.
 */

/** engine.io MESSAGE `4`, socket.io EVENT `2`, the event name, the first list */
const HEAD = `42[${JSON.stringify(Event.PEERS)},{"joined":[`
const MIDDLE = '],"left":['
const TAIL = ']}]'
const QUOTE = 0x22
const COMMA = 0x2c

/** Printable ASCII but `"` and `\`: JSON holds such a string as it is, between quotes (every usual multiaddr) */
const VERBATIM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

function listBytes (addresses: readonly string[]): number {
  let bytes = Math.max(0, addresses.length - 1)
  for (const address of addresses) {
    bytes += VERBATIM.test(address) ? address.length + 2 : Buffer.byteLength(JSON.stringify(address))
  }
  return bytes
}

function writeList (payload: Buffer, offset: number, addresses: readonly string[]): number {
  for (let i = 0; i < addresses.length; i++) {
    if (i > 0) {
      payload[offset++] = COMMA
    }
    const address = addresses[i]
    if (VERBATIM.test(address)) {
      payload[offset++] = QUOTE
      offset += payload.write(address, offset, 'latin1')
      payload[offset++] = QUOTE
    } else {
      offset += payload.write(JSON.stringify(address), offset, 'utf8')
    }
  }
  return offset
}

/** The payload of the websocket text frame of `ws-peers` `delta`: the engine.io message socket.io makes for `emit('ws-peers', delta)`. */
export function peersPayload (delta: PeersDelta): Buffer {
  const payload = Buffer.allocUnsafe(HEAD.length + listBytes(delta.joined) + MIDDLE.length + listBytes(delta.left) + TAIL.length)
  let offset = payload.write(HEAD, 0, 'latin1')
  offset = writeList(payload, offset, delta.joined)
  offset += payload.write(MIDDLE, offset, 'latin1')
  offset = writeList(payload, offset, delta.left)
  payload.write(TAIL, offset, 'latin1')
  return payload
}

/** Sends `delta` to `socket` as its frame alone where its transport allows, else through socket.io. */
export function sendPeers (socket: Socket, delta: PeersDelta): void {
  const conn = engineSocketOf(socket)
  if (writesFramesAsTheyAre(conn)) {
    writeFrameOnly(conn, textFrameParts(peersPayload(delta)))
  } else {
    socket.emit(Event.PEERS, delta)
  }
}
