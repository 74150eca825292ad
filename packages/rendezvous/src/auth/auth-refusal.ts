import { ErrorCode, WsStarError } from '@wsstar/protocol'

/**
 * Why a private server refused a client: the `reason` label of
 * `wsstar_auth_refusals_total`. Imports nothing of the server.
 */
export const AUTH_REFUSAL_REASONS = [
  /** token mode: the handshake carried no token */
  'token-missing',
  /** token mode: a token that is not in the token file (or is malformed) */
  'token-unknown',
  /** token mode: the token's registrations are at its max-peers */
  'token-max-peers',
  /** token mode: a join in a namespace the token does not list */
  'token-namespace',
  /** allow-list mode: the verified peer id is not in the list */
  'allow-list',
  /** hook mode: the hook answered no */
  'hook-denied',
  /** hook mode: the hook did not answer in time or answered something else, and the server fails closed */
  'hook-failed',
  /** a legacy (websocket-star 0.10) client on a private server without allowLegacy */
  'legacy'
] as const

export type AuthRefusalReason = typeof AUTH_REFUSAL_REASONS[number]

/** A private server refuses a socket or a join: `ERR_UNAUTHORIZED` on the wire, `reason` in the metrics. */
export class AuthRefusal extends WsStarError {
  static override name = 'AuthRefusal'
  readonly reason: AuthRefusalReason

  constructor (reason: AuthRefusalReason, message: string) {
    super(ErrorCode.UNAUTHORIZED, message)
    this.name = 'AuthRefusal'
    this.reason = reason
  }
}
