import { ErrorCode, WsStarError } from '@wsstar/protocol'
import { TokenBucket } from '../session/token-bucket.js'
import type { RendezvousMetrics } from './metrics.js'
import type { WireError } from '@wsstar/protocol'
import type { Logger } from 'pino'

/**
 * Turns anything a handler threw into a wire error, counts it in
 * `wsstar_rejected_total{code}` and logs it at debug level, at most
 * `linesPerSecond` lines a second over the whole server (a client spraying
 * garbage must not be able to flood the log).
 */
export class Rejections {
  readonly #metrics: RendezvousMetrics
  readonly #logger: Logger
  readonly #debugLines: TokenBucket
  readonly #warnLines: TokenBucket
  #suppressed = 0

  constructor (metrics: RendezvousMetrics, logger: Logger, linesPerSecond = 20) {
    this.#metrics = metrics
    this.#logger = logger
    this.#debugLines = new TokenBucket(linesPerSecond, linesPerSecond)
    this.#warnLines = new TokenBucket(1, 5)
  }

  /** Counts and logs `err`; returns what to put on the wire. */
  reject (err: unknown, event: string, socketId?: string): WireError {
    let wire: WireError
    if (err instanceof WsStarError) {
      wire = err.toWire()
    } else {
      // not an input problem but a bug of ours: worth a (rate-limited) warning
      wire = { code: ErrorCode.BAD_REQUEST, message: 'internal error' }
      if (this.#warnLines.take()) {
        this.#logger.warn({ err, event, socket: socketId }, 'handler failed unexpectedly')
      }
    }
    this.count(wire.code, event, socketId, wire.message)
    return wire
  }

  /** Counts a rejection that is already a code (dropped frames, refused connects). */
  count (code: ErrorCode, event: string, socketId?: string, message?: string): void {
    this.#metrics.rejected(code)
    if (!this.#logger.isLevelEnabled('debug')) {
      return
    }
    if (!this.#debugLines.take()) {
      this.#suppressed++
      return
    }
    const suppressed = this.#suppressed
    this.#suppressed = 0
    this.#logger.debug({ code, event, socket: socketId, ...(suppressed > 0 ? { suppressed } : {}) }, message ?? code)
  }
}
