import { createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { readTlsCredentials } from './tls-credentials.js'
import type { TlsFiles } from './tls-credentials.js'
import type { IncomingMessage, Server as HttpServer, ServerOptions as HttpServerOptions, ServerResponse } from 'node:http'

/**
 * The server's two HTTP listeners: the client port (HTTP, or HTTPS with
 * `tlsCert` / `tlsKey`), which socket.io shares, and the operator
 * endpoints' own (`adminPort`). Imports the TLS files' reader only.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/**
 * The client port's server. A connection that never becomes a socket.io
 * socket is cut like one that never joins: request headers (a bare TCP
 * connect, a slow upgrade), the TLS handshake, and a connection that sends
 * nothing at all each get the handshake timeout.
 */
export async function clientListener (handshakeMs: number, tls: TlsFiles | undefined, handler: Handler): Promise<HttpServer> {
  const httpOptions: HttpServerOptions = {
    headersTimeout: Math.min(handshakeMs, 60_000),
    requestTimeout: Math.max(Math.min(handshakeMs, 60_000), 30_000),
    connectionsCheckingInterval: Math.max(100, Math.min(Math.floor(handshakeMs / 2), 30_000))
  }
  const http: HttpServer = tls == null
    ? createServer(httpOptions, handler)
    // the TLS handshake gets the same deadline as the rest of the way to a join
    : createHttpsServer({ ...httpOptions, ...await readTlsCredentials(tls), handshakeTimeout: handshakeMs }, handler)
  // and a bare TCP connection that sends nothing at all (headersTimeout only runs once bytes arrive);
  // ws clears this timeout on the sockets it takes over
  http.setTimeout(handshakeMs)
  return http
}

/** The operator endpoints' listener (metrics, status page, debug). */
export function adminListener (handler: Handler): HttpServer {
  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, handler)
}

/** Binds `server`; resolves once it listens, rejects when it cannot. */
export async function listen (server: HttpServer, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

/** Closes a listening server and every connection it holds. */
export async function closeNow (server: HttpServer | undefined): Promise<void> {
  if (server == null || !server.listening) return
  const closed = new Promise<void>(resolve => { server.close(() => { resolve() }) })
  server.closeAllConnections()
  await closed
}

/** `127.0.0.1:9090`, `[::1]:9090` */
export function hostPort (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
