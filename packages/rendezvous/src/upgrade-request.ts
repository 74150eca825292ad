import type { EventEmitter } from 'node:events'

/** The engine.io socket as its 'connection' event hands it over: only what is touched here. */
interface RawEngineSocket {
  request: unknown
  transport?: { socket?: { _socket?: EventEmitter } }
}

/** a Host header longer than this names no server a join could (a DNS name is at most 253 characters) */
const MAX_HOST_LENGTH = 300

/** engine.io socket -> the Host header of its upgrade request, the one thing kept from it */
const upgradeHosts = new WeakMap<object, string>()

/**
 * The Host header of the websocket upgrade request of an engine.io socket
 * (`socket.conn`): the name the client connected to, which a join must
 * name (`join-server.ts`). Undefined when there was none, or an oversized one.
 */
export function upgradeHost (conn: object): string | undefined {
  return upgradeHosts.get(conn)
}

/**
 * Keeps the Host header (`upgradeHost`), then lets the HTTP upgrade request
 * of a websocket connection be collected once the connection is open (about
 * 2 KiB per connected socket).
 *
 * engine.io keeps the request reachable for the whole life of the
 * connection twice: as `rawSocket.request`, and through the
 * `WebSocketResponse` shim it builds for upgrade middlewares, whose
 * `socket.once('close')` listener on the TCP socket holds the shim, which
 * holds the request. This server registers no engine.io middlewares (nothing
 * listens on that shim) and reads nothing from the request after the
 * handshake but its Host header, kept here first: socket.io's `handshake`
 * then has empty headers/query, and the only handshake field used here is
 * `auth` (the protocol version), which comes from the socket.io CONNECT
 * packet, not from the request.
 *
 * At this point the TCP socket's only once-listener for 'close' is the
 * shim's (ws listens with `on`); if engine.io stops adding it, nothing is
 * removed.
 */
export function releaseUpgradeRequest (raw: RawEngineSocket): void {
  const host = (raw.request as { headers?: { host?: unknown } } | null)?.headers?.host
  if (typeof host === 'string' && host.length <= MAX_HOST_LENGTH) {
    upgradeHosts.set(raw, host)
  }
  raw.request = null
  const tcp = raw.transport?.socket?._socket
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
 * socket.io keeps a `handshake` object per socket (time string, url, query,
 * headers, address, …: ~0.3 KiB at 10,000 sockets); this server reads only
 * its `auth` (the protocol version), so that is all it keeps.
 */
export function keepHandshakeAuth (socket: { handshake: { auth: unknown } }): void {
  (socket as { handshake: unknown }).handshake = { auth: socket.handshake.auth }
}
