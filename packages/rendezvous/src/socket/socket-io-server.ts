import { Server as SocketIoServer } from 'socket.io'
import { refuseEngineIo3, webSocketServersPerProtocol } from '../legacy/engine-io-3.js'
import type { RendezvousLimits } from '../options.js'
import type { Server as HttpServer } from 'node:http'
import type { ServerOptions } from 'socket.io'

export interface SocketIoServerInit {
  limits: RendezvousLimits
  /** legacy mode: Engine.IO 3 clients (websocket-star 0.10) are let in */
  legacy: boolean
  /** cluster mode: the sharded Redis adapter */
  adapter?: ServerOptions['adapter']
  /** an Engine.IO 3 client was refused (legacy mode off) */
  onEngineIo3Refused(): void
}

/**
 * The socket.io server on the client port, websocket only, with the
 * message size and connect deadline of the limits. socket.io serves
 * /socket.io/ and passes the rest to the listener's own handler. Imports
 * the legacy mode's Engine.IO 3 gate.
 */
export function socketIoServer (http: HttpServer, init: SocketIoServerInit): SocketIoServer {
  const { limits } = init
  return new SocketIoServer(http, {
    transports: ['websocket'],
    maxHttpBufferSize: limits.maxMessageBytes,
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    // no connectionStateRecovery: every socket gets a fresh random id (12 CSPRNG bytes) that is
    // never reused, which the one-request join relies on (it signs the id as its nonce)
    // legacy mode: socket.io v2 clients (websocket-star 0.10) speak Engine.IO 3, with
    // messages up to legacy-max-message-bytes; without it they get an HTTP 400 before the upgrade
    allowEIO3: init.legacy,
    ...(init.legacy
      ? { wsEngine: webSocketServersPerProtocol(limits.legacyMaxMessageBytes) }
      : { allowRequest: refuseEngineIo3(init.onEngineIo3Refused) }),
    // an engine.io connection that never sends the socket.io CONNECT (default: 45 s)
    connectTimeout: limits.handshakeTimeoutMs,
    ...(init.adapter == null ? {} : { adapter: init.adapter })
  })
}
