import { ErrorCode } from '@wsstar/protocol'
import { LIMIT_NAMES } from '../limits.js'
import { terminate } from '../internals/engine-io-internals.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { Rejections } from '../metrics/rejections.js'
import type { Session } from '../session/session.js'
import type { Logger } from 'pino'

/**
 * The request events (`ss-join`, `ss-leave`, `ss-dial`) between the socket
 * and their handlers: the per-socket request budget, the ack, and what
 * nothing may throw out of. Imports the limits' names, engine.io's
 * terminate(), and the metrics, rejections and session types.
 */

type Ack = (...args: unknown[]) => void

/** What a request handler resolves with: the value its ack carries (none: `ack(null)`), and what must follow the ack at once. */
export interface Answer {
  value?: unknown
  afterAck?: () => void
}

/** an answer without a value */
export const NO_VALUE: Answer = {}

export interface RequestsInit {
  /** `request-burst`: refusals in a row past which a socket is cut */
  requestBurst: number
  metrics: RendezvousMetrics
  rejections: Rejections
  logger: Logger
}

export class Requests {
  readonly #init: RequestsInit

  constructor (init: RequestsInit) {
    this.#init = init
  }

  /**
   * Every request event takes a token from the socket's request bucket.
   * Without one, the first request of a refused run is answered
   * ERR_RATE_LIMITED (a client learns why) and the next ones are dropped
   * unanswered (replies a client does not read must not pile up); a socket
   * that keeps sending through a whole bucket's worth of refusals is cut.
   */
  withinBudget (session: Session, event: string, args: unknown[]): boolean {
    if (session.requestBucket.take()) {
      session.requestsRefused = 0
      return true
    }
    this.#init.metrics.limitHit(LIMIT_NAMES.requestRate)
    this.#init.rejections.count(ErrorCode.RATE_LIMITED, event, session.id, 'over the request budget')
    session.requestsRefused++
    if (session.requestsRefused === 1) {
      const ack = args[args.length - 1]
      if (typeof ack === 'function') {
        (ack as Ack)({ code: ErrorCode.RATE_LIMITED, message: 'too many requests; slow down' })
      }
    } else if (session.requestsRefused > this.#init.requestBurst) {
      this.#init.logger.info({ socket: session.id }, 'disconnecting a socket that keeps sending over its request budget')
      terminate(session.socket)
    }
    return false
  }

  /**
   * Runs a request handler so nothing can throw out of it: its answer's
   * value or a `{ code, message }` error goes to the ack when there is one;
   * requests that need an answer but came without an ack are dropped. The
   * answer's `afterAck` runs right after its ack is emitted (even if the ack
   * threw), `afterAnswer` after any answer (or none, for a dropped request).
   */
  run (session: Session, event: string, args: unknown[], needsAck: boolean, handler: () => Promise<Answer>, afterAnswer?: () => void): void {
    const { rejections, logger } = this.#init
    const last = args[args.length - 1]
    let ack: Ack | undefined
    if (typeof last === 'function') {
      ack = last as Ack
      args.length--
    }
    if (ack == null && needsAck) {
      rejections.count(ErrorCode.BAD_REQUEST, event, session.id, `${event} without an ack`)
      afterAnswer?.()
      return
    }
    let result: Promise<Answer>
    try {
      result = handler()
    } catch (err) {
      result = Promise.reject(err)
    }
    result.then((answer) => {
      try {
        if (answer.value === undefined) {
          ack?.(null)
        } else {
          ack?.(null, answer.value)
        }
      } finally {
        answer.afterAck?.()
      }
    }, (err: unknown) => {
      const wire = rejections.reject(err, event, session.id)
      ack?.(wire)
    }).catch((err: unknown) => {
      logger.warn({ err, event }, 'ack failed')
    }).finally(() => {
      try {
        afterAnswer?.()
      } catch (err) {
        logger.warn({ err, event }, 'after-answer step failed')
      }
    })
  }
}
