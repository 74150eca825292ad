import { EndKind, ErrorCode, Event, WsStarError } from '@wsstar/protocol'
import type { Session } from '../session/session.js'
import type { WireError } from '@wsstar/protocol'

/**
 * The `ss-incomming` question to a callee socket of this server, for a dial
 * homed here (dial-router.ts) or on another replica of a cluster
 * (cluster-link.ts), and what its answer means. Imports the protocol only.
 */

const ENDED_BEFORE_ACCEPT: WireError = { code: ErrorCode.PEER_GONE, message: 'the dial ended before it was accepted' }

/**
 * Asks `callee` whether it takes dial `dialId` from the address `from`,
 * waiting at most `timeoutMs`. `answered` gets the outcome once: undefined
 * when the callee accepted, else what the dial fails with (ERR_DIAL_REFUSED
 * with the callee's reason, or ERR_DIAL_TIMEOUT). It returns false when the
 * dial no longer waits for an answer (an end went away meanwhile): a callee
 * that accepted is then told the dial ended. A callee that did not answer
 * in time is told the dial is gone, so a late accept finds nothing.
 */
export function askCallee (callee: Session, dialId: string, from: string, timeoutMs: number, answered: (error: WireError | undefined) => boolean): void {
  // socket.timeout() also drops the pending ack from the callee's socket
  // when it never answers, so a silent callee accumulates nothing
  callee.socket.timeout(timeoutMs).emit(Event.INCOMING, dialId, from, (timedOut: Error | null, reply?: unknown) => {
    if (timedOut != null) {
      const timeout = { code: ErrorCode.DIAL_TIMEOUT, message: `the callee did not answer within ${timeoutMs} ms` }
      if (answered(timeout) && callee.connected) {
        callee.sendEnd(dialId, EndKind.RESET, timeout)
      }
      return
    }
    if (reply != null) {
      answered({ code: ErrorCode.DIAL_REFUSED, message: refusalMessage(reply) })
      return
    }
    if (!answered(undefined) && callee.connected) {
      callee.sendEnd(dialId, EndKind.RESET, ENDED_BEFORE_ACCEPT)
    }
  })
}

/** The callee's reason, passed on to the caller as the message of ERR_DIAL_REFUSED. */
function refusalMessage (answer: unknown): string {
  const wire = WsStarError.fromWire(answer)
  return wire.code === ErrorCode.BAD_REQUEST && wire.message === 'malformed error from peer'
    ? 'the callee declined the dial'
    : `the callee declined the dial: ${wire.message}`
}
