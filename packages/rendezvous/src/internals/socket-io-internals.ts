/**
 * The one module that writes into socket.io's objects past its documented
 * API: a socket's `handshake` (a public field socket.io itself only reads
 * while the socket connects) replaced by what this server reads of it.
 * socket.io is pinned to an exact version in package.json and
 * test/contracts/engine-io.test.ts checks a socket still connects, talks,
 * joins rooms and disconnects after it. Imports nothing.
 */

/**
 * socket.io keeps a `handshake` object per socket (time string, url, query,
 * headers, address, …: ~0.3 KiB at 10,000 sockets); this server reads only
 * its `auth`'s protocol version once the socket is in, so that is all it
 * keeps (not a private server's bearer token, which admission already read).
 */
export function keepHandshakeAuth (socket: { handshake: { auth: unknown } }): void {
  const auth = socket.handshake.auth
  const protocol = auth != null && typeof auth === 'object' ? (auth as { protocol?: unknown }).protocol : undefined
  ;(socket as { handshake: unknown }).handshake = { auth: protocol === undefined ? {} : { protocol } }
}
