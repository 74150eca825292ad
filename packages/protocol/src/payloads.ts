import { toString } from 'uint8arrays'
import { multiaddr } from '@multiformats/multiaddr'
import { parsePeerAddress, MAX_ADDRESS_LENGTH, WebSocketStarServer } from './address.js'
import { ErrorCode, WsStarError } from './errors.js'
import { EndKind } from './events.js'
import { MAX_FRAME_BYTES, MAX_WINDOW_BYTES } from './flow-control.js'
import { MAX_PUBLIC_KEY_LENGTH, MAX_SIGNATURE_LENGTH } from './join-challenge.js'
import { parseNamespaces } from './namespaces.js'
import type { NamespaceBounds } from './namespaces.js'
import type { WebSocketStarAddress } from './address.js'
import type { WireError } from './errors.js'

/**
 * Validators for every event argument, used by both sides. Each either
 * returns a typed value or throws a WsStarError with a stable code; none
 * trusts a property it did not check.
 */

const DIAL_ID_BYTES = 16
const DIAL_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/

/** Most addresses in one join sample or one `ws-peers` list. */
export const MAX_PEERS_PER_MESSAGE = 1024

/** Most server addresses in a join answer's `cluster` list. */
export const MAX_CLUSTER_SERVERS = 256

function badRequest (message: string): WsStarError {
  return new WsStarError(ErrorCode.BAD_REQUEST, message)
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value != null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)
}

/** An unguessable dial id: 16 random bytes, base64url (22 chars). Only the server makes them. */
export function createDialId (): string {
  return toString(globalThis.crypto.getRandomValues(new Uint8Array(DIAL_ID_BYTES)), 'base64url')
}

export function parseDialId (value: unknown): string {
  if (typeof value !== 'string' || !DIAL_ID_PATTERN.test(value)) {
    throw badRequest('dial id must be a 22-char base64url string')
  }
  return value
}

/**
 * `ss-join` step 1 (`hello`, optional public key), step 2 (`proof`,
 * signature over the server's nonce), or the one-round-trip `socket-proof`
 * (signature over the socket id, optional public key). Each may carry
 * `namespaces` (namespaces.ts; absent: the default namespace); a proof's
 * must be the hello's, which the server kept with the nonce.
 */
export type JoinStep =
  | { kind: 'hello', publicKey?: string, namespaces?: string[] }
  | { kind: 'proof', signature: string, namespaces?: string[] }
  | { kind: 'socket-proof', sid: string, signature: string, publicKey?: string, namespaces?: string[] }

/** Longest socket id a one-round-trip join may name (socket.io's are 20 chars). */
export const MAX_SOCKET_ID_LENGTH = 64

export interface JoinRequest {
  address: WebSocketStarAddress
  step: JoinStep
}

function boundedString (value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw badRequest(`${name} must be a string of 1..${max} chars`)
  }
  return value
}

/** `namespaceBounds`: the server's limits on the join's `namespaces` (default: the wire's ceilings). */
export function parseJoinRequest (address: unknown, data: unknown, namespaceBounds?: NamespaceBounds): JoinRequest {
  const parsed = parsePeerAddress(address)
  return { address: parsed, step: parseJoinStep(data, namespaceBounds) }
}

/** The `data` argument of `ss-join` alone: which step, with its bounded strings and namespaces. */
export function parseJoinStep (data: unknown, namespaceBounds?: NamespaceBounds): JoinStep {
  if (data == null) {
    return { kind: 'hello' }
  }
  const step = parseJoinStepFields(data)
  if (isPlainObject(data) && data.namespaces != null) {
    step.namespaces = parseNamespaces(data.namespaces, namespaceBounds)
  }
  return step
}

function parseJoinStepFields (data: unknown): JoinStep {
  if (!isPlainObject(data)) {
    throw badRequest('join data must be an object: { publicKey?, namespaces? }, { signature } or { sid, signature, publicKey?, namespaces? }')
  }
  if (data.sid != null) {
    // one round trip: the socket id the server gave in its CONNECT packet is the nonce
    if (data.signature == null) {
      throw badRequest('a join with sid needs a signature')
    }
    return {
      kind: 'socket-proof',
      sid: boundedString(data.sid, 'sid', MAX_SOCKET_ID_LENGTH),
      signature: boundedString(data.signature, 'signature', MAX_SIGNATURE_LENGTH),
      ...(data.publicKey == null ? {} : { publicKey: boundedString(data.publicKey, 'publicKey', MAX_PUBLIC_KEY_LENGTH) })
    }
  }
  if (data.signature != null) {
    if (data.publicKey != null) {
      throw badRequest('join data carries either publicKey or signature, not both')
    }
    return { kind: 'proof', signature: boundedString(data.signature, 'signature', MAX_SIGNATURE_LENGTH) }
  }
  if (data.publicKey != null) {
    return { kind: 'hello', publicKey: boundedString(data.publicKey, 'publicKey', MAX_PUBLIC_KEY_LENGTH) }
  }
  return { kind: 'hello' }
}

export function parseLeaveRequest (address: unknown): WebSocketStarAddress {
  return parsePeerAddress(address)
}

export interface DataFrame { dialId: string, bytes: Uint8Array }

export function parseDataFrame (dialId: unknown, bytes: unknown): DataFrame {
  const id = parseDialId(dialId)
  if (!(bytes instanceof Uint8Array)) {
    throw badRequest('data frame payload must be binary')
  }
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_FRAME_BYTES) {
    throw badRequest(`data frame payload must be 1..${MAX_FRAME_BYTES} bytes`)
  }
  return { dialId: id, bytes }
}

export interface CreditFrame { dialId: string, bytes: number }

export function parseCreditFrame (dialId: unknown, bytes: unknown): CreditFrame {
  const id = parseDialId(dialId)
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0 || bytes > MAX_WINDOW_BYTES) {
    throw badRequest(`credit must be an integer in 1..${MAX_WINDOW_BYTES}`)
  }
  return { dialId: id, bytes }
}

export interface EndFrame { dialId: string, kind: EndKind, error?: WireError }

export function parseEndFrame (dialId: unknown, kind: unknown, error?: unknown): EndFrame {
  const id = parseDialId(dialId)
  if (kind !== EndKind.CLOSE_WRITE && kind !== EndKind.RESET) {
    throw badRequest(`end kind must be '${EndKind.CLOSE_WRITE}' or '${EndKind.RESET}'`)
  }
  if (error == null) {
    return { dialId: id, kind }
  }
  return { dialId: id, kind, error: WsStarError.fromWire(error).toWire() }
}

/** Ack of a successful join (step 2, or step 1 when the challenge is off). */
export interface JoinResult {
  /** random sample of online peers' addresses */
  peers: string[]
  /** per-direction credit window the server enforces, in bytes */
  window: number
  /** largest `d` payload the server accepts */
  maxFrame: number
  /** the server verified a signature for this registration (absent: it did not, challenge off) */
  verified?: boolean
  /**
   * the server addresses (`/ip4/…/tcp/…/ws`, …) of every server this one
   * relays dials to: itself and, in a cluster, every replica, as each
   * announces itself. A peer whose address names one of them can be dialled
   * through this socket.
   */
  cluster?: string[]
}

/** Ack of join step 1 when the challenge is on. */
export interface JoinChallenge { nonce: string }

export interface DialResult { dialId: string }

/** `ws-peers` payload. */
export interface PeersDelta {
  joined: string[]
  left: string[]
}

function addressList (value: unknown, name: string): string[] {
  if (value == null) {
    return []
  }
  if (!Array.isArray(value) || value.length > MAX_PEERS_PER_MESSAGE) {
    throw badRequest(`${name} must be an array of at most ${MAX_PEERS_PER_MESSAGE} addresses`)
  }
  return value.filter((a): a is string => typeof a === 'string' && a.length > 0 && a.length <= MAX_ADDRESS_LENGTH)
}

/** Client side: a `ws-peers` payload from the server, bounded and type-checked. */
export function parsePeersDelta (value: unknown): PeersDelta {
  if (!isPlainObject(value)) {
    throw badRequest('ws-peers payload must be an object')
  }
  return { joined: addressList(value.joined, 'joined'), left: addressList(value.left, 'left') }
}

/** Client side: the join step-1 ack. */
export function parseJoinAck (value: unknown): JoinChallenge | JoinResult {
  if (!isPlainObject(value)) {
    throw badRequest('join ack must be an object')
  }
  if (typeof value.nonce === 'string') {
    return { nonce: value.nonce }
  }
  const window = value.window
  const maxFrame = value.maxFrame
  if (typeof window !== 'number' || !Number.isSafeInteger(window) || window <= 0 || window > MAX_WINDOW_BYTES) {
    throw badRequest('join ack window is invalid')
  }
  if (typeof maxFrame !== 'number' || !Number.isSafeInteger(maxFrame) || maxFrame <= 0 || maxFrame > MAX_FRAME_BYTES) {
    throw badRequest('join ack maxFrame is invalid')
  }
  const result: JoinResult = { peers: addressList(value.peers, 'peers'), window, maxFrame }
  if (value.verified === true) {
    result.verified = true
  }
  if (value.cluster != null) {
    result.cluster = serverList(value.cluster)
  }
  return result
}

/** Client side: a `ws-cluster` payload, `{ cluster: [server address...] }` (as in the join answer). */
export function parseClusterUpdate (value: unknown): string[] {
  if (!isPlainObject(value)) {
    throw badRequest('ws-cluster payload must be an object')
  }
  return serverList(value.cluster)
}

/** A join answer's `cluster`: websocket server addresses; entries that are not one are dropped. */
function serverList (value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_CLUSTER_SERVERS) {
    throw badRequest(`cluster must be an array of at most ${MAX_CLUSTER_SERVERS} server addresses`)
  }
  const out: string[] = []
  for (const entry of value) {
    if (typeof entry !== 'string' || entry.length === 0 || entry.length > MAX_ADDRESS_LENGTH) {
      continue
    }
    try {
      const ma = multiaddr(entry)
      if (WebSocketStarServer.exactMatch(ma)) {
        out.push(ma.toString())
      }
    } catch {
      // not a multiaddr: left out like any other entry that is not a server address
    }
  }
  return out
}

/** Client side: the dial ack. */
export function parseDialAck (value: unknown): DialResult {
  if (!isPlainObject(value)) {
    throw badRequest('dial ack must be an object')
  }
  return { dialId: parseDialId(value.dialId) }
}

/** socket.io acks are functions; a client that omits one gets no answer. */
export function isAck (value: unknown): value is (...args: unknown[]) => void {
  return typeof value === 'function'
}
