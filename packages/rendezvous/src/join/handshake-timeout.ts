import { LIMIT_NAMES } from '../limits.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { Session } from '../session/session.js'
import type { Logger } from 'pino'

export interface HandshakeTimeoutInit {
  /** `handshake-timeout` */
  timeoutMs: number
  metrics: RendezvousMetrics
  logger: Logger
}

/**
 * A socket holds a registration or is cut: the timer of a socket without
 * one runs from its connect, and again from the leave or eviction that
 * took its last one. The only writer of `Session.handshakeTimer`. Imports
 * the limits' names, and the metrics and session types.
 */
export class HandshakeTimeout {
  readonly #init: HandshakeTimeoutInit

  constructor (init: HandshakeTimeoutInit) {
    this.#init = init
  }

  /** (Re)starts the timer of a socket that holds no registration. */
  start (session: Session): void {
    this.stop(session)
    session.handshakeTimer = setTimeout(() => {
      session.handshakeTimer = undefined
      if (session.connected && !session.registered) {
        this.#init.metrics.limitHit(LIMIT_NAMES.handshakeTimeoutMs)
        this.#init.logger.debug({ socket: session.id }, 'no join within the handshake timeout; disconnecting')
        session.socket.disconnect(true)
      }
    }, this.#init.timeoutMs)
    session.handshakeTimer.unref?.()
  }

  /** The socket registered, or is gone. */
  stop (session: Session): void {
    if (session.handshakeTimer != null) {
      clearTimeout(session.handshakeTimer)
      session.handshakeTimer = undefined
    }
  }
}
