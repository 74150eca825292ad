import { ErrorCode } from '@wsstar/protocol'
import { AuthRefusal } from '../auth/auth-refusal.js'
import { clientAddress, compileTrustedProxies, hasForwardedFor, ipKey } from './client-ip.js'
import { LIMIT_NAMES } from '../limits.js'
import { openFileLimit, socketCeiling } from '../runtime/open-file-limit.js'
import { PerIpLimits } from './per-ip-limits.js'
import { handshakeProtocol } from '../session/session.js'
import { SHUTTING_DOWN } from '../shutdown-guard.js'
import type { Authorizer } from '../auth/authorizer.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { RendezvousLimits } from '../options.js'
import type { Rejections } from '../metrics/rejections.js'
import type { ShutdownGuard } from '../shutdown-guard.js'
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type { Socket } from 'socket.io'

export interface AdmissionInit {
  limits: RendezvousLimits
  /** `--trusted-proxies`: whose X-Forwarded-For names the client (client-ip.ts) */
  trustedProxies: string[]
  shutdown: ShutdownGuard
  metrics: RendezvousMetrics
  rejections: Rejections
  logger: Logger
  /** who may use the server: a private server's token check at connect */
  authorizer: Authorizer
}

/** An engine.io connection as its 'connection' event hands it over (before releaseUpgradeRequest). */
export interface EngineConnection {
  request: IncomingMessage
  on(event: 'close', listener: (this: EngineConnection) => void): unknown
}

/**
 * The client address of a connection as the per-IP limits key it, whether
 * it was within its address's socket limit when it opened, and (hook mode
 * only: the hook is told) the whole address.
 */
interface ConnectionIp { ip: string, admitted: boolean, address?: string }

type ConnectError = Error & { data: { code: ErrorCode, message: string } }

/**
 * Who gets a socket: every engine.io connection is counted for its client
 * address until it closes (per-ip-limits.ts), and a socket.io socket is let
 * in unless the server is stopping, holds max-sockets, is near its
 * open-file limit, the address holds max-sockets-per-ip, or a private
 * server does not admit it (auth/). Also the address's join tokens
 * (join-rate-per-ip), which v2 and legacy joins share. Imports the client
 * address rules, the per-IP and open-file limits, the shutdown guard, the
 * auth refusal, the handshake's protocol, and the limits' names.
 */
export class Admission {
  readonly #init: AdmissionInit
  readonly #perIp: PerIpLimits
  readonly #trustedProxy: (address: string, hop: number) => boolean
  /** engine.io connection -> its client address */
  readonly #connectionIps = new WeakMap<object, ConnectionIp>()
  #warnedForwardedFor = false
  /** engine.io connections past which sockets are refused: the open-file limit less fd-reserve (open-file-limit.ts) */
  #socketCeiling = Infinity

  constructor (init: AdmissionInit) {
    this.#init = init
    const { limits } = init
    this.#trustedProxy = compileTrustedProxies(init.trustedProxies)
    this.#perIp = new PerIpLimits({ maxSockets: limits.maxSocketsPerIp, joinRate: limits.joinRatePerIp, joinBurst: limits.joinBurstPerIp })
  }

  /** client addresses the per-IP limits track */
  get clientIps (): number {
    return this.#perIp.size
  }

  /** Reads the process's open-file limit (at start) and logs what it allows. */
  readOpenFileLimit (): void {
    const { limits, logger } = this.#init
    const fileLimit = openFileLimit()
    this.#socketCeiling = socketCeiling(fileLimit, limits.fdReserve)
    logger.info({ openFileLimit: fileLimit ?? null, socketCeiling: Number.isFinite(this.#socketCeiling) ? this.#socketCeiling : null, maxSockets: limits.maxSockets },
      fileLimit == null ? 'open-file limit unknown: sockets are bounded by max-sockets only' : `open-file limit ${fileLimit}: up to ${this.#socketCeiling} connections (fd-reserve ${limits.fdReserve})`)
    if (this.#socketCeiling < limits.maxSockets) {
      logger.warn({ openFileLimit: fileLimit, maxSockets: limits.maxSockets }, `max-sockets is above what the open-file limit allows: connections past ${this.#socketCeiling} are refused with ERR_LIMIT_EXCEEDED (raise the limit, e.g. LimitNOFILE= or ulimit -n, or run more replicas)`)
    }
  }

  /** Counts the connection for its client address (until it closes); its socket is let in or refused by `admit`. */
  connected (conn: EngineConnection): void {
    const request = conn.request
    if (request == null) {
      return
    }
    const address = clientAddress(request, this.#trustedProxy)
    const ip = ipKey(address)
    if (!this.#warnedForwardedFor && this.#init.trustedProxies.length === 0 && hasForwardedFor(request)) {
      this.#warnedForwardedFor = true
      this.#init.logger.warn({ from: request.socket?.remoteAddress }, 'a connection came with X-Forwarded-For, which is ignored without --trusted-proxies: behind a load balancer, set --trusted-proxies or every client counts as the balancer against the per-IP limits')
    }
    this.#connectionIps.set(conn, { ip, admitted: this.#perIp.opened(ip), ...(this.#init.authorizer.mode === 'hook' ? { address } : {}) })
    // 'on', not 'once': engine.io emits 'close' once, and 'once' would wrap the shared handler in a closure per socket
    conn.on('close', this.#onClose)
  }

  /** shared by every connection (`this` is the connection): no closure per socket */
  readonly #onClose = ((admission: Admission) => function (this: EngineConnection): void {
    const conn = admission.#connectionIps.get(this)
    if (conn != null) {
      admission.#perIp.closed(conn.ip)
    }
  })(this)

  /**
   * The socket.io middleware: lets the socket in, or refuses it with a
   * connect error (code and message as data) and closes its connection.
   * `sockets`: the server's sockets now (wsstar/2 and legacy);
   * `connections`: its engine.io connections now.
   */
  admit (socket: Socket, sockets: number, connections: number, next: (err?: Error) => void): void {
    const refusal = this.#refusal(socket, sockets, connections)
    if (refusal == null) {
      next()
      return
    }
    this.#init.rejections.count(refusal.data.code, 'connect', socket.id)
    next(refusal)
    // socket.io writes the CONNECT_ERROR on the next tick; engine.io
    // flushes it before closing the connection
    setImmediate(() => { socket.conn.close() })
  }

  /** The whole client address of an engine.io connection (hook mode; '' otherwise). */
  clientAddress (conn: object): string {
    return this.#connectionIps.get(conn)?.address ?? ''
  }

  /** Takes a join token of the connection's client address; false: none left. */
  takeJoin (conn: object): boolean {
    const ip = this.#connectionIps.get(conn)
    return ip == null || this.#perIp.takeJoin(ip.ip)
  }

  /** undefined: let the socket in; otherwise why not, as a socket.io connect error with data. */
  #refusal (socket: Socket, sockets: number, connections: number): ConnectError | undefined {
    const { limits, metrics } = this.#init
    if (this.#init.shutdown.stopping) {
      return connectError(SHUTTING_DOWN.code, SHUTTING_DOWN.message)
    }
    if (sockets >= limits.maxSockets) {
      metrics.limitHit(LIMIT_NAMES.maxSockets)
      return connectError(ErrorCode.LIMIT_EXCEEDED, 'this server has reached its socket limit')
    }
    if (connections > this.#socketCeiling) {
      metrics.limitHit(LIMIT_NAMES.fdReserve)
      return connectError(ErrorCode.LIMIT_EXCEEDED, 'this server is near its open-file limit')
    }
    if (this.#connectionIps.get(socket.conn)?.admitted === false) {
      metrics.limitHit(LIMIT_NAMES.maxSocketsPerIp)
      return connectError(ErrorCode.LIMIT_EXCEEDED, 'too many connections from this address')
    }
    const authorizer = this.#init.authorizer
    if (authorizer.private) {
      try {
        // the session reads it when the socket is attached (socket-handlers.ts)
        socket.data.grant = authorizer.admitSocket(socket.handshake.auth, handshakeProtocol(socket) === 'legacy')
      } catch (err) {
        if (err instanceof AuthRefusal) {
          return connectError(err.code, err.message)
        }
        throw err
      }
    }
    return undefined
  }
}

function connectError (code: ErrorCode, message: string): ConnectError {
  return Object.assign(new Error(message), { data: { code, message } })
}
