import { ErrorCode, WsStarError } from '@wsstar/protocol'

/** re-exported so `err instanceof WsStarError` needs no second package import */
export { WsStarError }

/**
 * Named errors of the wsstar transport. Errors the server sends keep their
 * stable wire `code` (they extend `WsStarError`), so callers can switch on
 * either `err.name` or `err.code`. Errors that only exist on the client
 * (the server cannot be reached, an answer never came) extend `Error` and
 * carry a client-side `code`.
 */

/** The dialled peer is not online at that rendezvous server (`ERR_PEER_NOT_FOUND`). */
export class PeerNotFoundError extends WsStarError {
  static override name = 'PeerNotFoundError'
  constructor (message = 'peer is not online at this rendezvous server') {
    super(ErrorCode.PEER_NOT_FOUND, message)
    this.name = 'PeerNotFoundError'
  }
}

/** The callee declined the dial (`ERR_DIAL_REFUSED`). */
export class DialRefusedError extends WsStarError {
  static override name = 'DialRefusedError'
  constructor (message = 'the remote peer refused the dial') {
    super(ErrorCode.DIAL_REFUSED, message)
    this.name = 'DialRefusedError'
  }
}

/** The callee did not answer in time (`ERR_DIAL_TIMEOUT`), or the server did not answer the dial. */
export class DialTimeoutError extends WsStarError {
  static override name = 'DialTimeoutError'
  constructor (message = 'the remote peer did not answer the dial in time') {
    super(ErrorCode.DIAL_TIMEOUT, message)
    this.name = 'DialTimeoutError'
  }
}

/** The server does not know this socket under the `from` address (`ERR_NOT_REGISTERED`). */
export class NotRegisteredError extends WsStarError {
  static override name = 'NotRegisteredError'
  constructor (message = 'not registered at this rendezvous server') {
    super(ErrorCode.NOT_REGISTERED, message)
    this.name = 'NotRegisteredError'
  }
}

/** Join or dial rate over the server's per-socket budget (`ERR_RATE_LIMITED`). */
export class RateLimitedError extends WsStarError {
  static override name = 'RateLimitedError'
  constructor (message = 'rate limited by the rendezvous server') {
    super(ErrorCode.RATE_LIMITED, message)
    this.name = 'RateLimitedError'
  }
}

/** A server count limit was hit: peers, dials per socket, buffered bytes (`ERR_LIMIT_EXCEEDED`). */
export class LimitExceededError extends WsStarError {
  static override name = 'LimitExceededError'
  constructor (message = 'a rendezvous server limit was exceeded') {
    super(ErrorCode.LIMIT_EXCEEDED, message)
    this.name = 'LimitExceededError'
  }
}

/** The server is stopping (`ERR_SHUTTING_DOWN`); the client reconnects with backoff. */
export class ServerShuttingDownError extends WsStarError {
  static override name = 'ServerShuttingDownError'
  constructor (message = 'the rendezvous server is shutting down') {
    super(ErrorCode.SHUTTING_DOWN, message)
    this.name = 'ServerShuttingDownError'
  }
}

/**
 * A private server does not admit this node (`ERR_UNAUTHORIZED`): no token
 * or one it does not know (at connect), or its peer id is not allowed, its
 * authorization hook said no, or the token's limits (at join). Permanent
 * for these credentials: the node does not retry that server; listening
 * there fails with it, and so does a dial through it.
 */
export class UnauthorizedError extends WsStarError {
  static override name = 'UnauthorizedError'
  constructor (message = 'the rendezvous server does not admit this node') {
    super(ErrorCode.UNAUTHORIZED, message)
    this.name = 'UnauthorizedError'
  }
}

/** The server refused the join: bad address, key, signature or an expired challenge. */
export class JoinRejectedError extends WsStarError {
  static override name = 'JoinRejectedError'
  constructor (code: ErrorCode, message: string) {
    super(code, message)
    this.name = 'JoinRejectedError'
  }
}

/** The other end of a relayed connection went away (`ERR_PEER_GONE`). */
export class PeerGoneError extends WsStarError {
  static override name = 'PeerGoneError'
  constructor (message = 'the other end of the relayed connection went away') {
    super(ErrorCode.PEER_GONE, message)
    this.name = 'PeerGoneError'
  }
}

/** The same peer id registered at this server from another socket (`ERR_REPLACED`, in `ss-evicted`). */
export class RegistrationReplacedError extends WsStarError {
  static override name = 'RegistrationReplacedError'
  constructor (message = 'this peer id registered at the server from another connection') {
    super(ErrorCode.REPLACED, message)
    this.name = 'RegistrationReplacedError'
  }
}

/** A side broke the credit rules of the data plane (`ERR_FLOW_CONTROL`). */
export class FlowControlError extends WsStarError {
  static override name = 'FlowControlError'
  constructor (message = 'flow control violation') {
    super(ErrorCode.FLOW_CONTROL, message)
    this.name = 'FlowControlError'
  }
}

/** Any other error code from the server (`ERR_BAD_REQUEST`, `ERR_DIAL_NOT_FOUND`, ...), or a malformed answer. */
export class RendezvousProtocolError extends WsStarError {
  static override name = 'RendezvousProtocolError'
  constructor (code: ErrorCode, message: string) {
    super(code, message)
    this.name = 'RendezvousProtocolError'
  }
}

/** The rendezvous server cannot be reached, or the socket to it dropped. Client side only. */
export class ServerUnavailableError extends Error {
  static override name = 'ServerUnavailableError'
  readonly code = 'ERR_SERVER_UNAVAILABLE'
  constructor (message = 'the rendezvous server is not reachable') {
    super(message)
    this.name = 'ServerUnavailableError'
  }
}

/** The server did not answer a request (join step, leave) in time. Client side only. */
export class RequestTimeoutError extends Error {
  static override name = 'RequestTimeoutError'
  readonly code = 'ERR_REQUEST_TIMEOUT'
  constructor (message = 'the rendezvous server did not answer in time') {
    super(message)
    this.name = 'RequestTimeoutError'
  }
}

/**
 * The server registered the peer without a join challenge while this client
 * requires one (`challenge: true`, the default). Client side only.
 */
export class ChallengeRequiredError extends Error {
  static override name = 'ChallengeRequiredError'
  readonly code = 'ERR_CHALLENGE_REQUIRED'
  constructor (message = 'the rendezvous server skipped the join challenge; pass `challenge: false` to accept such (trusted test) servers') {
    super(message)
    this.name = 'ChallengeRequiredError'
  }
}

/**
 * A dial names a rendezvous server this node was not configured with (not a
 * listen address's server, not in the `servers` option). Client side only:
 * nothing is sent to that server.
 */
export class UnknownServerError extends Error {
  static override name = 'UnknownServerError'
  readonly code = 'ERR_UNKNOWN_SERVER'
  constructor (message = 'the address names a rendezvous server this node was not configured with') {
    super(message)
    this.name = 'UnknownServerError'
  }
}

const JOIN_CODES = new Set<string>([
  ErrorCode.INVALID_ADDRESS,
  ErrorCode.INVALID_KEY,
  ErrorCode.PEER_ID_MISMATCH,
  ErrorCode.INVALID_SIGNATURE,
  ErrorCode.CHALLENGE_EXPIRED
])

/**
 * Turns an error the server sent (first argument of an ack, third of an `e`
 * frame) into the matching named error. Malformed values become a
 * `RendezvousProtocolError` with `ERR_BAD_REQUEST` instead of being trusted.
 */
export function errorFromWire (value: unknown): WsStarError {
  const { code, message } = WsStarError.fromWire(value)
  switch (code) {
    case ErrorCode.PEER_NOT_FOUND: return new PeerNotFoundError(message)
    case ErrorCode.DIAL_REFUSED: return new DialRefusedError(message)
    case ErrorCode.DIAL_TIMEOUT: return new DialTimeoutError(message)
    case ErrorCode.NOT_REGISTERED: return new NotRegisteredError(message)
    case ErrorCode.RATE_LIMITED: return new RateLimitedError(message)
    case ErrorCode.LIMIT_EXCEEDED: return new LimitExceededError(message)
    case ErrorCode.SHUTTING_DOWN: return new ServerShuttingDownError(message)
    case ErrorCode.PEER_GONE: return new PeerGoneError(message)
    case ErrorCode.REPLACED: return new RegistrationReplacedError(message)
    case ErrorCode.FLOW_CONTROL: return new FlowControlError(message)
    case ErrorCode.UNAUTHORIZED: return new UnauthorizedError(message)
    default:
      if (JOIN_CODES.has(code)) {
        return new JoinRejectedError(code, message)
      }
      return new RendezvousProtocolError(code, message)
  }
}

/** The direct upgrade cannot run: the node has no transport that dials `/webrtc/p2p/<peer>` (add `webRTC()` from `@libp2p/webrtc`). */
export class DirectUpgradeUnavailableError extends Error {
  static override name = 'DirectUpgradeUnavailableError'
  readonly code = 'ERR_DIRECT_UPGRADE_UNAVAILABLE'
  constructor (message = 'no transport can dial /webrtc addresses; add webRTC() from @libp2p/webrtc') {
    super(message)
    this.name = 'DirectUpgradeUnavailableError'
  }
}

/** The direct connection was not up within the upgrade timeout; the relayed connection stays. */
export class DirectUpgradeTimeoutError extends Error {
  static override name = 'DirectUpgradeTimeoutError'
  readonly code = 'ERR_DIRECT_UPGRADE_TIMEOUT'
  constructor (message = 'the direct connection was not up in time', options?: ErrorOptions) {
    super(message, options)
    this.name = 'DirectUpgradeTimeoutError'
  }
}
