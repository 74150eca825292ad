import { ErrorCode, WsStarError } from './errors.js'

/**
 * What a client may present in the socket.io handshake besides the
 * protocol version: `auth: { protocol: 'wsstar/2', token }`, the bearer
 * token of a private server (docs/PROTOCOL.md, "Transport and handshake").
 */

/** Longest bearer token a client may present. */
export const MAX_AUTH_TOKEN_LENGTH = 1024

/** visible ASCII, no spaces: tokens live one per line in the server's token file */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/

/**
 * The bearer token of a socket.io handshake `auth` object; undefined when it
 * carries none. A token that is not 1..MAX_AUTH_TOKEN_LENGTH visible ASCII
 * characters is refused with ERR_UNAUTHORIZED.
 */
export function parseHandshakeToken (auth: unknown): string | undefined {
  if (auth == null || typeof auth !== 'object') {
    return undefined
  }
  const token = (auth as Record<string, unknown>).token
  if (token === undefined) {
    return undefined
  }
  if (typeof token !== 'string' || token.length > MAX_AUTH_TOKEN_LENGTH || !TOKEN_PATTERN.test(token)) {
    throw new WsStarError(ErrorCode.UNAUTHORIZED, `the handshake token must be 1..${MAX_AUTH_TOKEN_LENGTH} visible ASCII characters`)
  }
  return token
}
