/**
 * Stable error codes of wire protocol v2. Clients switch on `code`, never on
 * `message`, so codes never change meaning once published.
 */
export const ErrorCode = {
  BAD_REQUEST: 'ERR_BAD_REQUEST',
  INVALID_ADDRESS: 'ERR_INVALID_ADDRESS',
  INVALID_KEY: 'ERR_INVALID_KEY',
  PEER_ID_MISMATCH: 'ERR_PEER_ID_MISMATCH',
  INVALID_SIGNATURE: 'ERR_INVALID_SIGNATURE',
  CHALLENGE_EXPIRED: 'ERR_CHALLENGE_EXPIRED',
  NOT_REGISTERED: 'ERR_NOT_REGISTERED',
  PEER_NOT_FOUND: 'ERR_PEER_NOT_FOUND',
  DIAL_NOT_FOUND: 'ERR_DIAL_NOT_FOUND',
  DIAL_REFUSED: 'ERR_DIAL_REFUSED',
  DIAL_TIMEOUT: 'ERR_DIAL_TIMEOUT',
  RATE_LIMITED: 'ERR_RATE_LIMITED',
  LIMIT_EXCEEDED: 'ERR_LIMIT_EXCEEDED',
  FLOW_CONTROL: 'ERR_FLOW_CONTROL',
  SHUTTING_DOWN: 'ERR_SHUTTING_DOWN',
  /** the peer re-joined from another socket; this socket's registration is gone */
  REPLACED: 'ERR_REPLACED',
  /** the other end of a dial went away (disconnect, leave, replacement) */
  PEER_GONE: 'ERR_PEER_GONE',
  /**
   * a private server does not admit this client: no or an unknown token, a
   * peer id it does not allow, its authorization hook said no, or the
   * token's limits. Permanent for the credentials sent: retrying with the
   * same ones gets the same answer
   */
  UNAUTHORIZED: 'ERR_UNAUTHORIZED',
  /** the dial reached a per-dial cap of the server's operator (bytes or time): dial again for more */
  RELAY_LIMIT: 'ERR_RELAY_LIMIT'
} as const

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode))

export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value)
}

/** The shape errors take on the wire: the first argument of an ack, or the third of an `e` frame. */
export interface WireError {
  code: ErrorCode
  message: string
}

/** Longest error message put on the wire; longer ones are cut. */
export const MAX_ERROR_MESSAGE_LENGTH = 512

export class WsStarError extends Error {
  static override name = 'WsStarError'
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string) {
    super(message)
    this.name = 'WsStarError'
    this.code = code
  }

  toWire (): WireError {
    return { code: this.code, message: this.message.slice(0, MAX_ERROR_MESSAGE_LENGTH) }
  }

  /**
   * Reads an error a peer sent. Anything that is not a well-formed WireError
   * becomes ERR_BAD_REQUEST rather than being trusted.
   */
  static fromWire (value: unknown): WsStarError {
    if (value != null && typeof value === 'object') {
      const { code, message } = value as Record<string, unknown>
      if (isErrorCode(code)) {
        return new WsStarError(code, typeof message === 'string' ? message.slice(0, MAX_ERROR_MESSAGE_LENGTH) : code)
      }
    }
    return new WsStarError(ErrorCode.BAD_REQUEST, 'malformed error from peer')
  }
}
