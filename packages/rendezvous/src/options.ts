import { WebSocketStarServer } from '@wsstar/protocol'
import { multiaddr } from '@multiformats/multiaddr'
import { compileTrustedProxies } from './socket/client-ip.js'
import { DEFAULT_LIMITS, LIMITS, checkLimit } from './limits.js'
import { dialsWithinBuffer } from './session/outgoing-backlog.js'
import type { PeerRegistry } from './discovery/peer-registry.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'

/**
 * Every tunable number of the server. limits.ts describes each one (name:
 * flag, env var and metric label; unit, default, range, help line); the
 * `@default`s here are what it says, checked by documented-defaults.test.ts.
 * Each shows up in `/metrics` as `wsstar_limit{limit="<name>"}`; hitting a
 * count or rate limit increments `wsstar_limit_hits_total{limit="<name>"}`.
 */
export interface RendezvousLimits {
  /**
   * registered peers on this server (ERR_LIMIT_EXCEEDED on join)
   * @default 100000
   */
  maxPeers: number
  /**
   * connected sockets (refused at connect with ERR_LIMIT_EXCEEDED)
   * @default 100000
   */
  maxSockets: number
  /**
   * file descriptors kept free below the process's open-file limit (read at
   * start, logged): once the connections reach the limit less this, more are
   * refused at connect with ERR_LIMIT_EXCEEDED
   * @default 256
   */
  fdReserve: number
  /**
   * connections from one client address (an IPv4 address, an IPv6 /64; see
   * `trustedProxies`); the one over it is refused at connect with ERR_LIMIT_EXCEEDED
   * @default 256
   */
  maxSocketsPerIp: number
  /**
   * joins (hellos and one-request joins) one client address may start per second, token bucket refill rate
   * @default 20/s
   */
  joinRatePerIp: number
  /**
   * per-address join token bucket size
   * @default 100
   */
  joinBurstPerIp: number
  /**
   * peer addresses one socket may register
   * @default 8
   */
  maxAddressesPerSocket: number
  /**
   * longest peer address (characters, as sent) a join may register; longer
   * ones get ERR_INVALID_ADDRESS. Every registered address is sent to every
   * peer, so this bounds what one join costs the others.
   * @default 256
   */
  maxAddressLength: number
  /**
   * namespaces one join may name (join data `namespaces`); more get ERR_BAD_REQUEST
   * @default 8
   */
  maxNamespaces: number
  /**
   * longest namespace name, in characters; longer ones get ERR_BAD_REQUEST
   * @default 64
   */
  maxNamespaceLength: number
  /**
   * namespaces with the most peers on this server that get a label of their
   * own in `wsstar_namespace_peers{namespace}`: the label's cardinality is
   * bounded whatever names joiners choose
   * @default 10
   */
  namespaceMetricsTop: number
  /**
   * concurrent dials (pending or open, as caller or callee) one socket may take part in
   * @default 128
   */
  maxDialsPerSocket: number
  /**
   * outstanding join nonces per socket; the oldest is dropped beyond this
   * @default 16
   */
  maxPendingChallengesPerSocket: number
  /**
   * join requests (step 1) per second per socket, token bucket refill rate
   * @default 10/s
   */
  joinRate: number
  /**
   * join token bucket size
   * @default 20
   */
  joinBurst: number
  /**
   * registrations of a new address and leaves per second per socket, token
   * bucket refill rate: each one is broadcast to every peer (ERR_RATE_LIMITED)
   * @default 1/s
   */
  churnRate: number
  /**
   * churn token bucket size
   * @default 16
   */
  churnBurst: number
  /**
   * dial requests per second per socket, token bucket refill rate
   * @default 50/s
   */
  dialRate: number
  /**
   * dial token bucket size
   * @default 100
   */
  dialBurst: number
  /**
   * request events (`ss-join`, `ss-leave`, `ss-dial`, joined or not) per
   * second per socket, token bucket refill rate; beyond the bucket the first
   * request gets ERR_RATE_LIMITED, the next ones are dropped unanswered, and
   * `requestBurst` refused in a row disconnect the socket
   * @default 100/s
   */
  requestRate: number
  /**
   * request token bucket size
   * @default 200
   */
  requestBurst: number
  /**
   * `ERR_DIAL_NOT_FOUND` answers per second per socket to data frames on
   * dials it is not an open end of, token bucket refill rate; beyond the
   * bucket such frames are dropped unanswered
   * @default 10/s
   */
  strayReplyRate: number
  /**
   * stray-frame answer token bucket size
   * @default 20
   */
  strayReplyBurst: number
  /**
   * largest socket.io message accepted (engine.io maxHttpBufferSize); larger ones close the socket
   * @default 128 KiB
   */
  maxMessageBytes: number
  /**
   * what the server may queue for one socket in relayed data: the windows of
   * the dials a socket takes part in must fit in it (beyond, ERR_LIMIT_EXCEEDED
   * on dial), and a data frame that would take what is queued for its
   * receiver past it resets its dial instead of being queued
   * @default 32 MiB
   */
  maxSocketBufferedBytes: number
  /**
   * what the server may queue for one socket in everything but relayed data
   * (acks, discovery deltas, dial requests, credit and end frames), counted
   * by what it costs in memory; past it the socket is disconnected as a slow consumer
   * @default 1 MiB
   */
  maxSocketControlBytes: number
  /**
   * sockets that have not joined within this are disconnected
   * @default 10 s
   */
  handshakeTimeoutMs: number
  /**
   * how long the callee has to accept an `ss-incomming`
   * @default 10 s
   */
  dialTimeoutMs: number
  /**
   * lifetime of a join nonce
   * @default 30 s
   */
  challengeTtlMs: number
  /**
   * per-direction credit window of a dial, in bytes
   * @default 1 MiB
   */
  windowBytes: number
  /**
   * payload bytes per second one socket may send over all its dials, token
   * bucket refill rate; 0: no limit. A sender over it is slowed down (the
   * server holds back the credit its receivers return), never cut off.
   * Settable per socket: `Session.setRelayRate`
   * @default 0
   */
  relayRate: number
  /**
   * relay-rate token bucket size, in bytes
   * @default 1 MiB
   */
  relayBurst: number
  /**
   * payload bytes one dial may relay in each direction; the frame that
   * would cross it resets the dial with ERR_RELAY_LIMIT. 0: no cap
   * @default 0
   */
  maxDialBytes: number
  /**
   * how long one dial may stay open once accepted; then it is reset with
   * ERR_RELAY_LIMIT. 0: no cap
   * @default 0 s
   */
  maxDialDurationMs: number
  /**
   * peers in a join sample and in each periodic re-sample
   * @default 64
   */
  sampleSize: number
  /**
   * `ws-peers` deltas are sent at most this often
   * @default 1 s
   */
  peersIntervalMs: number
  /**
   * most addresses per `joined` / `left` list of one delta (random subset beyond)
   * @default 8
   */
  peersBatchMax: number
  /**
   * mean period of the per-socket fresh random sample (jittered ±25%)
   * @default 60 s
   */
  resampleIntervalMs: number
  /**
   * how long stop() lets open dials drain before disconnecting everyone
   * @default 5 s
   */
  shutdownGraceMs: number
  /**
   * legacy clients (websocket-star 0.10) send without backpressure: a legacy
   * dial whose receiving socket has more than this queued on the server is reset
   * @default 8 MiB
   */
  legacyMaxBufferedBytes: number
  /**
   * the size of the fresh random sample of legacy peers each legacy peer is
   * told about (`ws-peer`) every `legacyAnnounceIntervalMs`, of its join list,
   * and the most announcements of joining peers it gets per period
   * @default 32
   */
  legacyAnnouncements: number
  /**
   * the period of the legacy re-announcements (the old rendezvous server re-announced every 10 s)
   * @default 10 s
   */
  legacyAnnounceIntervalMs: number
  /**
   * largest message a legacy socket may send (engine.io 3's default
   * maxHttpBufferSize, which 0.10 clients were written against); larger ones
   * close the socket. v2 sockets keep `maxMessageBytes`.
   * @default 1000000
   */
  legacyMaxMessageBytes: number
  /**
   * worker threads that verify join signatures; 0 verifies on the server's thread
   * @default cores − 1, at most 4
   */
  verifyThreads: number
  /**
   * join signatures being verified at once, server-wide; a join beyond this
   * gets ERR_RATE_LIMITED, so a flood of expensive keys queues a bounded
   * amount of work
   * @default 1024
   */
  maxPendingVerifications: number
  /**
   * once the event loop has been quiet this long, and the RSS grew since the
   * last reclaim, V8 is put in its memory-saving mode for a while: its
   * memory reducer gives what a burst left (garbage pages, young
   * generation) back to the OS with incremental collections; 0 turns it off
   * @default 10 s
   */
  reclaimQuietMs: number
  /**
   * least RSS growth (and at least a quarter) since the last reclaim that is worth one
   * @default 64 MiB
   */
  reclaimMinGrowthBytes: number
  /**
   * hook mode: how long a join waits for the authorization hook's answer;
   * no answer by then is a failure (refused with ERR_UNAUTHORIZED unless
   * the hook fails open)
   * @default 2 s
   */
  authHookTimeoutMs: number
  /**
   * hook mode: how long the hook's allow and deny answers are reused for the
   * same peer id, namespaces and client address; 0 asks every time
   * @default 60 s
   */
  authHookCacheTtlMs: number
  /**
   * hook mode: the most answers kept (least recently used out first)
   * @default 10000
   */
  authHookCacheSize: number
}

export const DEFAULT_PORT = 13579
export const DEFAULT_HOST = '0.0.0.0'
/** the admin listener binds loopback unless told otherwise: its endpoints are for the operator */
export const DEFAULT_ADMIN_HOST = '127.0.0.1'

export interface RendezvousServerOptions {
  /** TCP port; 0 picks a free one (read it back from `server.port`). Default 13579. */
  port?: number
  /** interface to bind. Default 0.0.0.0. */
  host?: string
  /** pino logger; default: pino at level info */
  logger?: Logger
  /**
   * Require the join challenge (signature over a server nonce). Default true.
   * Turning it off lets anyone register any peer id: trusted test setups only.
   */
  challenge?: boolean
  /**
   * The public server addresses of this server (`/dns4/example.com/tcp/443/wss`).
   * When set, joins for addresses that name another server are refused with
   * ERR_INVALID_ADDRESS, and these are `server.addresses`.
   */
  announce?: string[]
  /** where registrations live; default a fresh InMemoryPeerRegistry */
  registry?: PeerRegistry
  /** any subset of the limits; the rest keep their defaults */
  limits?: Partial<RendezvousLimits>
  /**
   * Cluster mode: several servers behind a load balancer share their
   * registry and relay dials between each other through Redis. Without it
   * (the default) the server is standalone with the in-memory registry.
   */
  cluster?: ClusterOptions
  /**
   * TLS: path of the PEM certificate (chain) file. With `tlsKey`, the
   * client port serves https / wss and the server's addresses say `/wss`.
   * `server.reloadTls()` (the CLI: SIGHUP) reads both files again. Default:
   * plain ws (TLS terminated by a load balancer, or none).
   */
  tlsCert?: string
  /** TLS: path of the PEM private key file of `tlsCert` */
  tlsKey?: string
  /**
   * Port of the admin listener, a second plain-HTTP listener for the
   * operator: `GET /metrics`, `/status.json`, the status page at `/`,
   * `/health` and (with `exposeInternals`) `/debug/internals`. 0 picks a
   * free one (read it back from `server.adminPort`). Default: no admin
   * listener; the client port serves `/health` only.
   */
  adminPort?: number
  /** interface the admin listener binds. Default 127.0.0.1. */
  adminHost?: string
  /**
   * Also serve the operator endpoints (metrics, status, debug) on the
   * client port, as servers before the admin listener did. Anyone who can
   * reach the client port can read them. Default false.
   */
  publicAdmin?: boolean
  /**
   * Serve `GET /debug/internals` (JSON: internal counts, active handles,
   * memory; runs a GC first when the process has `--expose-gc`) on the
   * operator endpoints, so it needs `adminPort` or `publicAdmin`. For leak
   * tests and debugging only: off by default, never on a public server.
   */
  exposeInternals?: boolean
  /**
   * Proxies whose `X-Forwarded-For` is believed: IPs, CIDRs, or `loopback`,
   * `linklocal`, `uniquelocal`. A connection from one of them counts for the
   * client the header names (the nearest untrusted entry); any other
   * connection counts for its own remote address, whatever its headers say.
   * Default: none. Set it behind a load balancer, or every client counts as
   * the balancer against the per-IP limits.
   */
  trustedProxies?: string[]
  /**
   * Legacy mode: also accept `libp2p-websocket-star@0.10` clients (socket.io v2,
   * Engine.IO 3) as a separate population. Off by default: a 0.10 client signs
   * any nonce a server sends it, so it cannot get the v2 guarantees (docs/SECURITY.md).
   * When off, Engine.IO 3 upgrade requests are refused with HTTP 400.
   * @default false
   */
  legacy?: boolean
  /** Private servers: who may connect and register. Default: open to everyone. */
  auth?: AuthOptions
  /**
   * Which dials the server relays. `any`: a dial names its callee by peer
   * id and reaches it whatever namespaces either joined (knowing a peer id
   * is the capability). `namespace`: caller and callee must share a
   * namespace (the default namespace counts as one); a dial between peers
   * that share none is refused with ERR_PEER_NOT_FOUND, the answer for a
   * peer that is not online, so a refusal does not tell the peer is there.
   * @default 'any'
   */
  dialScope?: DialScope
}

/** Who may use the server: `open` to everyone (the default), or private (docs/PRIVATE-SERVERS.md). */
export type AuthMode = 'open' | 'token' | 'allow-list' | 'hook'

export const AUTH_MODES: readonly AuthMode[] = ['open', 'token', 'allow-list', 'hook']

export interface AuthOptions {
  /**
   * `open`: anyone (as before). `token`: a socket presents a token of
   * `tokensFile` in its handshake (`auth.token`), or is refused at connect.
   * `allow-list`: only the peer ids of `allowListFile` are registered.
   * `hook`: `hookUrl` decides each registration. Refusals are ERR_UNAUTHORIZED.
   * @default 'open'
   */
  mode?: AuthMode
  /** token mode: the token file (one token per line, with options); `server.reloadAuth()` reads it again */
  tokensFile?: string
  /** allow-list mode: one peer id per line; `server.reloadAuth()` reads it again */
  allowListFile?: string
  /** hook mode: the http(s) URL the server POSTs `{ peerId, namespaces, remoteAddress }` to */
  hookUrl?: string
  /**
   * hook mode: admit a join when the hook fails (no answer in time, an
   * error status, a malformed answer) instead of refusing it
   * @default false
   */
  hookFailOpen?: boolean
  /**
   * admit legacy (websocket-star 0.10) clients on a private server, without
   * credentials (they cannot present any)
   * @default false
   */
  allowLegacy?: boolean
}

export interface ResolvedAuth {
  mode: AuthMode
  tokensFile?: string
  allowListFile?: string
  hookUrl?: string
  hookFailOpen: boolean
  allowLegacy: boolean
}

/** See `RendezvousServerOptions.dialScope`. */
export type DialScope = 'any' | 'namespace'

export const DIAL_SCOPES: readonly DialScope[] = ['any', 'namespace']

export interface ClusterOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`); Redis >= 7 (sharded pub/sub) */
  redisUrl: string
  /** this server's id in the cluster, unique per process; default `<hostname>-<pid>-<random>` */
  nodeId?: string
  /** prefix of every Redis key and channel; default `wsstar:` */
  prefix?: string
  /**
   * a peer record expires this long after its node last refreshed it, ms
   * (limits.ts: `peer-ttl`)
   * @default 30 s
   */
  peerTtlMs?: number
  /**
   * a node that has not refreshed its liveness key for this long counts as
   * dead, ms (limits.ts: `node-ttl`)
   * @default 6 s
   */
  nodeTtlMs?: number
}

export interface ResolvedOptions {
  port: number
  host: string
  challenge: boolean
  announce: Multiaddr[]
  limits: RendezvousLimits
  /** certificate and key files; undefined: plain ws */
  tls: { cert: string, key: string } | undefined
  /** undefined: no admin listener */
  adminPort: number | undefined
  adminHost: string
  publicAdmin: boolean
  exposeInternals: boolean
  legacy: boolean
  trustedProxies: string[]
  auth: ResolvedAuth
  dialScope: DialScope
}

/** Fills in defaults and validates; throws a TypeError naming the bad option. */
export function resolveOptions (options: RendezvousServerOptions = {}): ResolvedOptions {
  const port = checkPort(options.port ?? DEFAULT_PORT, 'port')
  const host = checkHost(options.host ?? DEFAULT_HOST, 'host')
  const adminPort = options.adminPort == null ? undefined : checkPort(options.adminPort, 'adminPort')
  const adminHost = checkHost(options.adminHost ?? DEFAULT_ADMIN_HOST, 'adminHost')
  if (options.publicAdmin != null && typeof options.publicAdmin !== 'boolean') {
    throw new TypeError('publicAdmin must be a boolean')
  }
  const publicAdmin = options.publicAdmin ?? false
  if (options.challenge != null && typeof options.challenge !== 'boolean') {
    throw new TypeError('challenge must be a boolean')
  }
  const limits: RendezvousLimits = { ...DEFAULT_LIMITS }
  for (const [key, value] of Object.entries(options.limits ?? {})) {
    const limit = LIMITS.find(l => l.key === key)
    if (limit == null) {
      throw new TypeError(`unknown limit "${key}"; known limits: ${LIMITS.map(l => l.key).join(', ')}`)
    }
    if (value === undefined) {
      continue
    }
    const problem = checkLimit(limit, value)
    if (problem != null) {
      throw new TypeError(problem)
    }
    limits[key as keyof RendezvousLimits] = value
  }
  if (dialsWithinBuffer(limits.maxSocketBufferedBytes, limits.windowBytes) < 1) {
    throw new TypeError(`maxSocketBufferedBytes (${limits.maxSocketBufferedBytes}) must hold at least one window (windowBytes ${limits.windowBytes}) of relayed frames`)
  }
  const announce = (options.announce ?? []).map(parseAnnounce)
  if (options.exposeInternals != null && typeof options.exposeInternals !== 'boolean') {
    throw new TypeError('exposeInternals must be a boolean')
  }
  if ((options.tlsCert == null) !== (options.tlsKey == null)) {
    throw new TypeError('tlsCert and tlsKey go together: give both files or neither')
  }
  const tls = options.tlsCert == null || options.tlsKey == null
    ? undefined
    : { cert: checkHost(options.tlsCert, 'tlsCert'), key: checkHost(options.tlsKey, 'tlsKey') }
  const exposeInternals = options.exposeInternals ?? false
  if (exposeInternals && adminPort == null && !publicAdmin) {
    throw new TypeError('exposeInternals serves /debug/internals on the admin listener: set adminPort (or publicAdmin)')
  }
  if (options.legacy != null && typeof options.legacy !== 'boolean') {
    throw new TypeError('legacy must be a boolean')
  }
  const trustedProxies = options.trustedProxies ?? []
  if (!Array.isArray(trustedProxies) || trustedProxies.some(p => typeof p !== 'string')) {
    throw new TypeError('trustedProxies must be an array of strings')
  }
  compileTrustedProxies(trustedProxies)
  const dialScope = options.dialScope ?? 'any'
  if (!DIAL_SCOPES.includes(dialScope)) {
    throw new TypeError(`dialScope must be one of ${DIAL_SCOPES.join(', ')}`)
  }
  const auth = resolveAuth(options.auth ?? {})
  return { port, host, challenge: options.challenge ?? true, announce, limits, tls, adminPort, adminHost, publicAdmin, exposeInternals, legacy: options.legacy ?? false, trustedProxies: [...trustedProxies], auth, dialScope }
}

/** The auth options checked: each mode has its file or URL, and nothing of another mode. */
export function resolveAuth (auth: AuthOptions): ResolvedAuth {
  const mode = auth.mode ?? 'open'
  if (!AUTH_MODES.includes(mode)) {
    throw new TypeError(`auth.mode must be one of ${AUTH_MODES.join(', ')}`)
  }
  for (const key of ['hookFailOpen', 'allowLegacy'] as const) {
    if (auth[key] != null && typeof auth[key] !== 'boolean') {
      throw new TypeError(`auth.${key} must be a boolean`)
    }
  }
  const needs: Record<AuthMode, 'tokensFile' | 'allowListFile' | 'hookUrl' | undefined> = { open: undefined, token: 'tokensFile', 'allow-list': 'allowListFile', hook: 'hookUrl' }
  for (const [other, key] of Object.entries(needs)) {
    if (key == null) continue
    if (other === mode) {
      checkHost(auth[key], `auth.${key} (auth mode ${mode})`)
    } else if (auth[key] != null) {
      throw new TypeError(`auth.${key} is for auth mode ${other}, not ${mode}`)
    }
  }
  if (auth.hookFailOpen === true && mode !== 'hook') {
    throw new TypeError(`auth.hookFailOpen is for auth mode hook, not ${mode}`)
  }
  if (auth.hookUrl != null && !isHttpUrl(auth.hookUrl)) {
    throw new TypeError(`auth.hookUrl must be an http:// or https:// URL, got ${auth.hookUrl}`)
  }
  return {
    mode,
    ...(auth.tokensFile == null ? {} : { tokensFile: auth.tokensFile }),
    ...(auth.allowListFile == null ? {} : { allowListFile: auth.allowListFile }),
    ...(auth.hookUrl == null ? {} : { hookUrl: auth.hookUrl }),
    hookFailOpen: auth.hookFailOpen ?? false,
    allowLegacy: auth.allowLegacy ?? false
  }
}

/** an absolute http(s) URL that fetch takes (no credentials in it) */
export function isHttpUrl (value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === ''
  } catch {
    return false
  }
}

function checkPort (port: unknown, name: string): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`${name} must be an integer in 0..65535, got ${String(port)}`)
  }
  return port
}

/** a host name or a file path: any non-empty string */
function checkHost (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string`)
  }
  return value
}

/** An announced server address: `/ip4/1.2.3.4/tcp/13579/ws`, `/dns4/example.com/tcp/443/wss`, ... */
export function parseAnnounce (value: string): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(value)
  } catch {
    throw new TypeError(`announce address "${value}" is not a multiaddr`)
  }
  if (!WebSocketStarServer.exactMatch(ma)) {
    throw new TypeError(`announce address "${value}" is not a websocket server address like /ip4/1.2.3.4/tcp/13579/ws or /dns4/example.com/tcp/443/wss`)
  }
  return ma
}
