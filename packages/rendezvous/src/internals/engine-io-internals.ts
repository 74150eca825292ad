import type { EventEmitter } from 'node:events'
import type { Server as EngineServer } from 'engine.io'
import type { Socket } from 'socket.io'

/**
 * The one module that reaches into engine.io past its documented API, and
 * into the ws WebSocket its websocket transport holds (engine.io's own ws
 * copy; in legacy mode the server's, see legacy/engine-io-3.ts):
 * - an engine.io socket's `writeBuffer` (packets not yet handed to the
 *   transport; a flush replaces it with an empty array) and its
 *   `packetCreate` event (emitted before a packet joins it);
 * - its transport's websocket: `bufferedAmount`, `terminate()`, and the TCP
 *   socket under it (`_socket`), whose once-'close' listener is the upgrade
 *   request shim's;
 * - the engine.io server's `clients`;
 * - `write(data, { wsPreEncodedFrame })`, the option socket.io's own
 *   broadcast uses to write one encoded websocket frame to many sockets,
 *   and that the websocket transport writes such a frame without reading
 *   `data` (so a packet may be queued as its frame alone) when its
 *   `perMessageDeflate` is off and its ws has a Sender with `sendFrame`.
 * engine.io is pinned to an exact version in package.json and
 * test/contracts/engine-io.test.ts checks every item against a real
 * engine.io server, with its own ws and with the server's, so an upgrade
 * that changes one fails a test. Imports types only.
 */

/** A packet as engine.io's `packetCreate` event hands it over. */
export interface EnginePacket {
  type: string
  data?: unknown
  options?: { wsPreEncodedFrame?: readonly Buffer[] }
}

/** The engine.io socket under a socket.io socket (`socket.conn`), as read here. */
export interface EngineSocket {
  on(event: 'packetCreate', listener: (packet: EnginePacket) => void): unknown
  on(event: 'flush', listener: () => void): unknown
  /** packets not handed to the transport yet */
  writeBuffer: unknown[]
  transport: unknown
  request: unknown
  write(data: string | undefined, options: unknown): unknown
}

/** The ws WebSocket under engine.io's websocket transport: only what is read here. */
interface RawWebSocket {
  bufferedAmount?: number
  terminate?: () => void
  /** the TCP socket (ws's private field) */
  _socket?: EventEmitter
  /** ws's Sender (private field), whose `sendFrame` engine.io writes pre-encoded frames with */
  _sender?: { sendFrame?: unknown }
}

export function engineSocketOf (socket: Socket): EngineSocket {
  return socket.conn as unknown as EngineSocket
}

function webSocketOf (conn: EngineSocket): RawWebSocket | undefined {
  return (conn.transport as { socket?: RawWebSocket } | undefined)?.socket
}

/** Packets engine.io holds for `conn` that it has not handed to the websocket yet. */
export function writeBufferLength (conn: EngineSocket): number {
  return conn.writeBuffer.length
}

/** Bytes the websocket under `conn` has been handed and has not yet handed to the kernel (0 without one). */
export function webSocketBufferedAmount (conn: EngineSocket): number {
  const amount = webSocketOf(conn)?.bufferedAmount
  return typeof amount === 'number' ? amount : 0
}

/** Cuts the connection at once, without waiting for what is queued to drain (that may be never). */
export function terminate (socket: Socket): void {
  const ws = webSocketOf(engineSocketOf(socket))
  socket.disconnect(true)
  ws?.terminate?.()
}

/** Cuts every connection of `engine` at once (a stop whose grace ran out). */
export function terminateAll (engine: EngineServer): void {
  const clients = (engine as unknown as { clients: Record<string, EngineSocket> }).clients
  for (const conn of Object.values(clients)) {
    webSocketOf(conn)?.terminate?.()
  }
}

/**
 * Lets the HTTP upgrade request of a websocket connection be collected once
 * the connection is open (about 2 KiB per connected socket). engine.io keeps
 * it reachable for the whole life of the connection twice: as
 * `conn.request`, and through the `WebSocketResponse` shim it builds for
 * upgrade middlewares, whose `socket.once('close')` listener on the TCP
 * socket holds the shim, which holds the request. This server registers no
 * engine.io middlewares (nothing listens on that shim). At this point the
 * TCP socket's only once-listener for 'close' is the shim's (ws listens with
 * `on`); if engine.io stops adding it, nothing is removed.
 */
export function dropUpgradeRequest (conn: { request: unknown, transport?: unknown }): void {
  conn.request = null
  const tcp = webSocketOf(conn as EngineSocket)?._socket
  if (tcp == null) {
    return
  }
  for (const listener of tcp.rawListeners('close')) {
    const original = (listener as { listener?: (...args: unknown[]) => void }).listener
    if (original != null) {
      tcp.removeListener('close', original)
    }
  }
}

/**
 * Queues `data` (a socket.io packet) for `conn` with its websocket frame
 * already encoded (`frame`, see ws-internals.ts): engine.io writes the frame
 * as it is on a websocket, and encodes `data` on any other transport.
 */
export function writePreEncoded (conn: EngineSocket, data: string, frame: Buffer[]): void {
  conn.write(data, { wsPreEncodedFrame: frame })
}

/**
 * Whether `conn` writes pre-encoded frames as they are, so that a packet
 * may be queued as its frame alone (`writeFrameOnly`): engine.io's
 * websocket transport does when it has a ws Sender and no per-message
 * deflate (its `_canSendPreEncodedFrame`).
 */
export function writesFramesAsTheyAre (conn: EngineSocket): boolean {
  const transport = conn.transport as { name?: unknown, perMessageDeflate?: unknown } | undefined
  return transport?.name === 'websocket' && (transport.perMessageDeflate == null || transport.perMessageDeflate === false) && typeof webSocketOf(conn)?._sender?.sendFrame === 'function'
}

/**
 * Queues a socket.io packet that exists only as its websocket frame: no
 * string of the packet is made (a re-sample's 64 addresses were two copies
 * of several KiB on the heap each: the encoded packet and its flattened
 * engine.io form). engine.io's packet then has no `data`; what listens to
 * its `packetCreate` finds the frame in `options.wsPreEncodedFrame`. Only
 * where `writesFramesAsTheyAre(conn)`: any other transport would send an
 * empty message.
 */
export function writeFrameOnly (conn: EngineSocket, frame: Buffer[]): void {
  conn.write(undefined, { wsPreEncodedFrame: frame })
}
