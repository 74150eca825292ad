import { ErrorCode, WsStarError } from './errors.js'

/**
 * Namespaces of a join (`ss-join` data `namespaces`): the peer is
 * discovered by, and discovers, only peers that share one of them. Without
 * the field a peer is in the default namespace, as every client that does
 * not know namespaces. This file checks the wire field, for the server
 * (with its configured bounds) and for clients (with the wire's ceilings).
 */

/** Most namespaces the wire allows in one join; a server admits at most its `max-namespaces`. */
export const MAX_NAMESPACES = 64

/** Longest namespace name the wire allows; a server admits at most its `max-namespace-length`. */
export const MAX_NAMESPACE_LENGTH = 256

/**
 * A name is visible ASCII without spaces: it is a Redis key part, a metric
 * label and a log field, and two names that look the same are the same.
 */
const NAMESPACE_PATTERN = /^[\x21-\x7e]+$/

export interface NamespaceBounds {
  /** most names in one join */
  maxNamespaces: number
  /** longest name, in characters */
  maxNamespaceLength: number
  /** a list was refused for crossing one of the two bounds (the server counts these) */
  onLimit?(bound: 'maxNamespaces' | 'maxNamespaceLength'): void
}

/** The wire's ceilings: what a client can check without knowing the server's limits. */
export const WIRE_NAMESPACE_BOUNDS: Readonly<NamespaceBounds> = Object.freeze({ maxNamespaces: MAX_NAMESPACES, maxNamespaceLength: MAX_NAMESPACE_LENGTH })

function badRequest (message: string): WsStarError {
  return new WsStarError(ErrorCode.BAD_REQUEST, message)
}

/**
 * The `namespaces` of a join: a non-empty array of distinct names, each
 * 1..`maxNamespaceLength` visible ASCII characters (no spaces), at most
 * `maxNamespaces` of them; `undefined` (absent or null) is the default
 * namespace. Anything else is ERR_BAD_REQUEST. The array returned is a new
 * one, in the order sent.
 */
export function parseNamespaces (value: unknown, bounds: NamespaceBounds = WIRE_NAMESPACE_BOUNDS): string[] | undefined {
  if (value == null) {
    return undefined
  }
  if (!Array.isArray(value)) {
    throw badRequest('namespaces must be an array of strings')
  }
  if (value.length === 0) {
    throw badRequest('namespaces must not be empty: leave the field out for the default namespace')
  }
  if (value.length > bounds.maxNamespaces) {
    bounds.onLimit?.('maxNamespaces')
    throw badRequest(`at most ${bounds.maxNamespaces} namespaces per join`)
  }
  const out: string[] = []
  for (const name of value) {
    if (typeof name !== 'string' || name.length === 0) {
      throw badRequest('each namespace must be a non-empty string')
    }
    if (name.length > bounds.maxNamespaceLength) {
      bounds.onLimit?.('maxNamespaceLength')
      throw badRequest(`a namespace is at most ${bounds.maxNamespaceLength} characters`)
    }
    if (!NAMESPACE_PATTERN.test(name)) {
      throw badRequest('a namespace is visible ASCII characters without spaces')
    }
    if (out.includes(name)) {
      throw badRequest(`namespace "${name}" is listed twice`)
    }
    out.push(name)
  }
  return out
}
