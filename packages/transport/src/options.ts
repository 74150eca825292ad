/**
 * Options of `webSocketStar(init)`, with their defaults next to them.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { WebSocketStarServer, WsStarError, parseHandshakeToken, parseNamespaces, serverUrl } from '@wsstar/protocol'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ReconnectOptions {
  /** first delay after a lost or failed connection, ms (default 250) */
  initialDelay?: number
  /** upper bound of the delay, ms (default 10 000) */
  maxDelay?: number
  /** growth per failed attempt (default 2) */
  factor?: number
  /**
   * fraction of each delay that is randomised, 0..1 (default 0.5): a delay
   * `d` becomes uniform in `[d * (1 - jitter), d]`, so peers that lost the
   * same server do not all come back in the same millisecond
   */
  jitter?: number
}

export interface WebSocketStarInit {
  /**
   * Require the server to challenge the join (default true). A server that
   * registers the peer without asking for a signature lets anyone register
   * as anyone, so by default the client refuses it (`ChallengeRequiredError`)
   * and retries with backoff. Set `false` only for trusted test setups whose
   * server runs with its challenge off.
   */
  challenge?: boolean
  /** backoff of the listener's reconnect loop; it retries forever */
  reconnect?: ReconnectOptions
  /** how long to wait for the server's answer to `ss-dial`, ms (default 15 000; the server times a silent callee out after 10 s) */
  dialTimeout?: number
  /** how long to wait for each answer during the join, ms (default 10 000) */
  joinTimeout?: number
  /** socket.io connect timeout per attempt, ms (default 10 000) */
  connectTimeout?: number
  /**
   * how long `listen()` waits for the first registration before it returns
   * anyway, ms (default 10 000). A server that is down never fails node
   * start: `listen()` returns after the first failed attempt and the
   * listener keeps retrying in the background.
   */
  listenTimeout?: number
  /**
   * A node that dials through a server it does not listen on joins it
   * transiently (the protocol only relays between registered peers). The
   * transient registration is dropped this long after its last relayed
   * connection closed, ms (default 10 000). Inbound dials on a transient
   * registration are refused.
   */
  transientLinger?: number
  /**
   * after sending its `close-write`, a connection waits this long for the
   * other end's before resetting the dial, ms (default 5 000)
   */
  closeTimeout?: number
  /** how many discovered addresses are remembered for a discovery service that starts late (default 1024) */
  maxCachedPeers?: number
  /**
   * Rendezvous servers this node may join without listening on them, to
   * dial peers there (e.g. `/dns4/star.example.com/tcp/443/wss`; default
   * none). The servers of the node's listen addresses are always allowed.
   * A dial to a peer whose address names any other server fails with
   * `UnknownServerError` instead of connecting there: joining signs the
   * node's peer id for that server, which a hostile one could relay.
   */
  servers?: Array<string | Multiaddr>
  /**
   * The bearer token of a private rendezvous server (`--auth token`),
   * presented in the socket.io handshake of every connection this node
   * opens to a server (`auth: { protocol: 'wsstar/2', token }`). A function
   * is called before each connection attempt (a token that rotates); if it
   * throws, that attempt fails and is retried with backoff. A server that
   * refuses the token (`UnauthorizedError`) is not retried. Open servers
   * ignore it.
   * @default undefined (no token: open servers only)
   */
  token?: string | (() => string | Promise<string>)
  /**
   * The namespaces this node joins every server in (join data
   * `namespaces`): its discovery reports only peers that share one of
   * them, and only those peers discover it. Names are 1..64 visible ASCII
   * characters without spaces, at most 8 of them (a server's defaults,
   * `--max-namespaces` and `--max-namespace-length`; the wire allows up to
   * 64 names of 256). Dials still reach any peer by id unless the server
   * runs with `--dial-scope namespace`. A server older than namespaces
   * ignores them: its discovery reports every peer.
   * @default undefined (the default namespace: every peer that names none)
   */
  namespaces?: string[]
}

/** A token as the transport presents it: itself, or what the function gives for each connection attempt. */
export type TokenSource = string | (() => string | Promise<string>)

export interface ResolvedOptions {
  challenge: boolean
  reconnect: Required<ReconnectOptions>
  dialTimeout: number
  joinTimeout: number
  connectTimeout: number
  listenTimeout: number
  transientLinger: number
  closeTimeout: number
  maxCachedPeers: number
  servers: Multiaddr[]
  token?: TokenSource
  /** undefined: the default namespace */
  namespaces?: string[]
}

export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  initialDelay: 250,
  maxDelay: 10_000,
  factor: 2,
  jitter: 0.5
}

export const DEFAULT_DIAL_TIMEOUT = 15_000
export const DEFAULT_JOIN_TIMEOUT = 10_000
export const DEFAULT_CONNECT_TIMEOUT = 10_000
export const DEFAULT_LISTEN_TIMEOUT = 10_000
export const DEFAULT_TRANSIENT_LINGER = 10_000
export const DEFAULT_CLOSE_TIMEOUT = 5_000
export const DEFAULT_MAX_CACHED_PEERS = 1024

/** `value` checked as a finite number >= 0, or `fallback` when unset; `owner` names the factory in the error. */
export function nonNegative (value: number | undefined, fallback: number, name: string, owner = 'webSocketStar'): number {
  if (value == null) {
    return fallback
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${owner}: ${name} must be a finite number >= 0`)
  }
  return value
}

export function resolveOptions (init: WebSocketStarInit = {}): ResolvedOptions {
  const reconnect = init.reconnect ?? {}
  const jitter = nonNegative(reconnect.jitter, DEFAULT_RECONNECT.jitter, 'reconnect.jitter')
  if (jitter > 1) {
    throw new TypeError('webSocketStar: reconnect.jitter must be within 0..1')
  }
  const factor = nonNegative(reconnect.factor, DEFAULT_RECONNECT.factor, 'reconnect.factor')
  if (factor < 1) {
    throw new TypeError('webSocketStar: reconnect.factor must be >= 1')
  }
  const initialDelay = nonNegative(reconnect.initialDelay, DEFAULT_RECONNECT.initialDelay, 'reconnect.initialDelay')
  return {
    challenge: init.challenge ?? true,
    reconnect: {
      initialDelay,
      maxDelay: Math.max(initialDelay, nonNegative(reconnect.maxDelay, DEFAULT_RECONNECT.maxDelay, 'reconnect.maxDelay')),
      factor,
      jitter
    },
    dialTimeout: nonNegative(init.dialTimeout, DEFAULT_DIAL_TIMEOUT, 'dialTimeout'),
    joinTimeout: nonNegative(init.joinTimeout, DEFAULT_JOIN_TIMEOUT, 'joinTimeout'),
    connectTimeout: nonNegative(init.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout'),
    listenTimeout: nonNegative(init.listenTimeout, DEFAULT_LISTEN_TIMEOUT, 'listenTimeout'),
    transientLinger: nonNegative(init.transientLinger, DEFAULT_TRANSIENT_LINGER, 'transientLinger'),
    closeTimeout: nonNegative(init.closeTimeout, DEFAULT_CLOSE_TIMEOUT, 'closeTimeout'),
    maxCachedPeers: nonNegative(init.maxCachedPeers, DEFAULT_MAX_CACHED_PEERS, 'maxCachedPeers'),
    servers: (init.servers ?? []).map(server => serverAddress(server)),
    ...(init.token == null ? {} : { token: checkToken(init.token) }),
    namespaces: checkNamespaces(init.namespaces)
  }
}

/** The `namespaces` option, checked against the wire's bounds (a server may allow fewer: its join answers ERR_BAD_REQUEST). */
function checkNamespaces (value: unknown): string[] | undefined {
  try {
    return parseNamespaces(value)
  } catch (err) {
    throw new TypeError(`webSocketStar: namespaces: ${err instanceof WsStarError ? err.message : String(err)}`, { cause: err })
  }
}

function checkToken (token: unknown): TokenSource {
  if (typeof token === 'function') {
    return token as () => string | Promise<string>
  }
  try {
    if (typeof token === 'string' && parseHandshakeToken({ token }) != null) {
      return token
    }
  } catch {
    // malformed: the TypeError below says what a token may be
  }
  throw new TypeError('webSocketStar: token must be a string of visible ASCII characters (no spaces), at most 1024, or a function returning one')
}

function serverAddress (value: string | Multiaddr): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(value)
    serverUrl(ma)
  } catch (err: any) {
    throw new TypeError(`webSocketStar: servers: ${String(value)} is not a server address: ${err?.message ?? ''}`, { cause: err })
  }
  if (!WebSocketStarServer.exactMatch(ma)) {
    throw new TypeError(`webSocketStar: servers: ${String(value)} is not a server address like /dns4/star.example.com/tcp/443/wss`)
  }
  return ma
}
