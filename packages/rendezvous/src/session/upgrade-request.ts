import { dropUpgradeRequest } from '../internals/engine-io-internals.js'

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
 * of a websocket connection be collected (`dropUpgradeRequest`, which says
 * where engine.io holds it). This server reads nothing from the request
 * after the handshake but its Host header, kept here first: socket.io's
 * `handshake` then has empty headers/query, and the only handshake field
 * used here is `auth` (the protocol version), which comes from the
 * socket.io CONNECT packet, not from the request.
 */
export function releaseUpgradeRequest (conn: { request: unknown, transport?: unknown }): void {
  const host = (conn.request as { headers?: { host?: unknown } } | null)?.headers?.host
  if (typeof host === 'string' && host.length <= MAX_HOST_LENGTH) {
    upgradeHosts.set(conn, host)
  }
  dropUpgradeRequest(conn)
}
