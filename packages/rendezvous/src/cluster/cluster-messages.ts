import { EndKind, MAX_ADDRESS_LENGTH, MAX_FRAME_BYTES, MAX_SOCKET_ID_LENGTH, MAX_WINDOW_BYTES, WsStarError, parseNamespaces, parsePeersDelta } from '@wsstar/protocol'
import type { PeersDelta, WireError } from '@wsstar/protocol'

/**
 * The messages the replicas of a cluster send each other on their Redis
 * channels (cluster-link.ts), as bytes: pure functions, no I/O. Imports the
 * protocol package only.
 *
 * A channel message is one message, `[type][id length][id][body]`, or, when
 * its first byte is BATCH, several:
 * `[BATCH] ([type][id length][body length u32 BE][id][body])*` (spublish.ts
 * writes both). The id is latin1: a dial id, empty, or the sending node's id
 * (PEERS). Every decoder checks what it reads and throws a
 * ClusterMessageError for anything malformed; the link logs and drops it.
 */

export const ClusterMessage = {
  /** home -> callee node: JSON { from, to, socketId, home } */
  DIAL: 1,
  /** callee node -> home: JSON { error? } */
  ANSWER: 2,
  /** callee node -> home: the callee's data bytes */
  DATA: 3,
  /** callee node -> home: credit, decimal */
  CREDIT: 4,
  /** callee node -> home: JSON [kind, error?] */
  END: 5,
  /** callee node -> home: the callee left or disconnected; JSON error */
  GONE: 6,
  /** home -> callee node: the dial is over, drop the forwarding entry */
  FORGET: 7,
  /** any node -> old node: JSON { peerId, socketId } re-joined elsewhere */
  EVICT: 8,
  /** home -> callee node: the caller's data bytes for the callee */
  TO_DATA: 9,
  /** home -> callee node: credit for the callee, decimal */
  TO_CREDIT: 10,
  /** home -> callee node: JSON [kind, error?] for the callee */
  TO_END: 11,
  /** any node -> every node, on the discovery channel: JSON `ws-peers` delta; the id is the sending node's */
  PEERS: 12,
  /**
   * any node -> every node, on the discovery channel: JSON `{ namespace,
   * joined, left }`, a named namespace's delta; the id is the sending
   * node's. A replica that does not know it drops it, so its sockets never
   * get another namespace's peers
   */
  NAMESPACE_PEERS: 13
} as const
export type ClusterMessage = typeof ClusterMessage[keyof typeof ClusterMessage]

/** Metric label of each message type (index = type). */
export const MESSAGE_KINDS: readonly string[] = ['', 'dial', 'answer', 'data', 'credit', 'end', 'gone', 'forget', 'evict', 'to-data', 'to-credit', 'to-end', 'peers', 'namespace-peers']

/** True for the types this version knows (what the link counts and handles). */
export function isClusterMessage (type: number): type is ClusterMessage {
  return type > 0 && type < MESSAGE_KINDS.length
}

/** First byte of a channel message that holds several messages. */
export const BATCH = 0
/** bytes before the id of a message in a batch: type, id length, body length (u32) */
export const BATCH_HEADER_BYTES = 6
/** bytes before the id of a lone message: type, id length */
const SINGLE_HEADER_BYTES = 2
/** longest id a message can carry (its length is one byte) */
export const MAX_ID_LENGTH = 255

/** What a node id may be: it names the node's channel (`<prefix>to:<nodeId>`). */
export const NODE_ID_PATTERN = /^[\w.:-]{1,128}$/

/** A cluster message that does not decode: from a replica of another version, or not from a replica at all. */
export class ClusterMessageError extends Error {
  static override name = 'ClusterMessageError'
  override name = ClusterMessageError.name
}

function malformed (what: string): ClusterMessageError {
  return new ClusterMessageError(`malformed cluster message: ${what}`)
}

/**
 * Calls `each` with every message of `message`, in order. Throws a
 * ClusterMessageError when the framing is broken (a truncated batch,
 * bytes left over, an id longer than the message); the messages before the
 * break have been handed to `each`. Types are passed on as they are: the
 * link ignores those it does not know.
 */
export function decodeChannelMessage (message: Buffer, each: (type: number, id: string, body: Buffer) => void): void {
  if (message.length < SINGLE_HEADER_BYTES) {
    throw malformed(`${message.length} bytes`)
  }
  if (message[0] !== BATCH) {
    const idEnd = SINGLE_HEADER_BYTES + message[1]
    if (idEnd > message.length) {
      throw malformed('id past the end')
    }
    each(message[0], message.toString('latin1', SINGLE_HEADER_BYTES, idEnd), message.subarray(idEnd))
    return
  }
  let at = 1
  while (at < message.length) {
    if (at + BATCH_HEADER_BYTES > message.length) {
      throw malformed('truncated batch header')
    }
    const type = message[at]
    const idAt = at + BATCH_HEADER_BYTES
    const bodyAt = idAt + message[at + 1]
    const end = bodyAt + message.readUInt32BE(at + 2)
    if (end > message.length) {
      throw malformed('truncated batch')
    }
    each(type, message.toString('latin1', idAt, bodyAt), message.subarray(bodyAt, end))
    at = end
  }
}

// --- bodies ---------------------------------------------------------------------

function json (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString())
  } catch {
    throw malformed('not JSON')
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return value != null && typeof value === 'object' && !Array.isArray(value)
}

function boundedString (value: unknown, max: number, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw malformed(`${what} must be a string of 1..${max} characters`)
  }
  return value
}

/** A DIAL: who dials (`from`, an address), whom (`to`, a peer id held by socket `socketId` of the receiving node), and the home node to answer. */
export interface DialRequest {
  from: string
  to: string
  socketId: string
  home: string
}

export function encodeDialRequest (request: DialRequest): string {
  return JSON.stringify({ from: request.from, to: request.to, socketId: request.socketId, home: request.home })
}

export function decodeDialRequest (body: Buffer): DialRequest {
  const value = json(body)
  if (!isRecord(value)) {
    throw malformed('a dial request must be an object')
  }
  const home = boundedString(value.home, 128, 'home')
  if (!NODE_ID_PATTERN.test(home)) {
    throw malformed('home is not a node id')
  }
  return {
    from: boundedString(value.from, MAX_ADDRESS_LENGTH, 'from'),
    to: boundedString(value.to, MAX_ADDRESS_LENGTH, 'to'),
    socketId: boundedString(value.socketId, MAX_SOCKET_ID_LENGTH, 'socketId'),
    home
  }
}

/** An ANSWER: undefined, the callee accepted; else why the dial failed. */
export function encodeAnswer (error?: WireError): string {
  return JSON.stringify(error == null ? {} : { error })
}

export function decodeAnswer (body: Buffer): WireError | undefined {
  const value = json(body)
  if (!isRecord(value)) {
    throw malformed('an answer must be an object')
  }
  return value.error == null ? undefined : WsStarError.fromWire(value.error).toWire()
}

/** DATA and TO_DATA: the frame's bytes as they are (1..MAX_FRAME_BYTES, as on the wire). */
export function decodeData (body: Buffer): Buffer {
  if (body.length === 0 || body.length > MAX_FRAME_BYTES) {
    throw malformed(`data must be 1..${MAX_FRAME_BYTES} bytes`)
  }
  return body
}

/** CREDIT and TO_CREDIT: decimal digits. */
export function encodeCredit (bytes: number): string {
  return String(bytes)
}

/** Reads the digits in place: no string per credit. */
export function decodeCredit (body: Buffer): number {
  // MAX_WINDOW_BYTES has 8 digits
  if (body.length === 0 || body.length > 9) {
    throw malformed('credit must be 1..9 digits')
  }
  let bytes = 0
  for (let i = 0; i < body.length; i++) {
    const digit = body[i] - 48
    if (digit < 0 || digit > 9) {
      throw malformed('credit must be decimal digits')
    }
    bytes = bytes * 10 + digit
  }
  if (bytes === 0 || bytes > MAX_WINDOW_BYTES) {
    throw malformed(`credit must be 1..${MAX_WINDOW_BYTES}`)
  }
  return bytes
}

/** END and TO_END: close-write or reset, with the reason when there is one. */
export interface EndMessage {
  kind: EndKind
  error?: WireError
}

export function encodeEnd (kind: EndKind, error?: WireError): string {
  return JSON.stringify(error == null ? [kind] : [kind, error])
}

export function decodeEnd (body: Buffer): EndMessage {
  const value = json(body)
  if (!Array.isArray(value) || value.length < 1 || value.length > 2) {
    throw malformed('an end must be [kind] or [kind, error]')
  }
  const [kind, error] = value as unknown[]
  if (kind !== EndKind.CLOSE_WRITE && kind !== EndKind.RESET) {
    throw malformed(`an end's kind must be '${EndKind.CLOSE_WRITE}' or '${EndKind.RESET}'`)
  }
  return error == null ? { kind } : { kind, error: WsStarError.fromWire(error).toWire() }
}

/** GONE: what the caller is told about the callee that went away. */
export function encodeGone (error: WireError): string {
  return JSON.stringify(error)
}

export function decodeGone (body: Buffer): WireError {
  return WsStarError.fromWire(json(body)).toWire()
}

/** EVICT: `peerId`, held by socket `socketId` of the receiving node, re-joined on another. */
export interface Eviction {
  peerId: string
  socketId: string
}

export function encodeEviction (eviction: Eviction): string {
  return JSON.stringify({ peerId: eviction.peerId, socketId: eviction.socketId })
}

export function decodeEviction (body: Buffer): Eviction {
  const value = json(body)
  if (!isRecord(value)) {
    throw malformed('an eviction must be an object')
  }
  return {
    peerId: boundedString(value.peerId, MAX_ADDRESS_LENGTH, 'peerId'),
    socketId: boundedString(value.socketId, MAX_SOCKET_ID_LENGTH, 'socketId')
  }
}

/** PEERS: another node's `ws-peers` delta, checked as a client checks one. */
export function encodePeers (delta: PeersDelta): string {
  return JSON.stringify(delta)
}

export function decodePeers (body: Buffer): PeersDelta {
  const value = json(body)
  try {
    return parsePeersDelta(value)
  } catch (err) {
    throw malformed(`peers: ${(err as Error).message}`)
  }
}

/** NAMESPACE_PEERS: another node's delta of one named namespace. */
export function encodeNamespacePeers (namespace: string, delta: PeersDelta): string {
  return JSON.stringify({ namespace, joined: delta.joined, left: delta.left })
}

export function decodeNamespacePeers (body: Buffer): { namespace: string, delta: PeersDelta } {
  const value = json(body)
  try {
    if (!isRecord(value)) {
      throw new Error('must be an object')
    }
    const namespace = parseNamespaces([value.namespace])?.[0]
    if (namespace == null) {
      throw new Error('names no namespace')
    }
    return { namespace, delta: parsePeersDelta(value) }
  } catch (err) {
    throw malformed(`namespace peers: ${(err as Error).message}`)
  }
}
