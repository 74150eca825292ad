import { availableParallelism } from 'node:os'
import { DEFAULT_WINDOW_BYTES, MAX_ADDRESS_LENGTH, MAX_FRAME_BYTES, MAX_PEERS_PER_MESSAGE, MAX_WINDOW_BYTES, MIN_WINDOW_BYTES, CHALLENGE_TTL_MS, WebSocketStarServer } from '@wsstar/protocol'
import { multiaddr } from '@multiformats/multiaddr'
import { compileTrustedProxies } from './client-ip.js'
import { dialsWithinBuffer } from './outgoing-backlog.js'
import type { PeerRegistry } from './peer-registry.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'

/**
 * Every tunable number of the server. Each one has a default (below), a CLI
 * flag and an env var (`cli-options.ts`), and shows up in `/metrics` as
 * `wsstar_limit{limit="<flag>"}`; hitting a count or rate limit increments
 * `wsstar_limit_hits_total{limit="<flag>"}`.
 */
export interface RendezvousLimits {
  /** registered peers on this server (ERR_LIMIT_EXCEEDED on join) */
  maxPeers: number
  /** connected sockets (refused at connect with ERR_LIMIT_EXCEEDED) */
  maxSockets: number
  /**
   * connections from one client address (an IPv4 address, an IPv6 /64; see
   * `trustedProxies`); the one over it is refused at connect with ERR_LIMIT_EXCEEDED
   */
  maxSocketsPerIp: number
  /** joins (hellos and one-request joins) one client address may start per second, token bucket refill rate */
  joinRatePerIp: number
  /** per-address join token bucket size */
  joinBurstPerIp: number
  /** peer addresses one socket may register */
  maxAddressesPerSocket: number
  /**
   * longest peer address (characters, as sent) a join may register; longer
   * ones get ERR_INVALID_ADDRESS. Every registered address is sent to every
   * peer, so this bounds what one join costs the others.
   */
  maxAddressLength: number
  /** concurrent dials (pending or open, as caller or callee) one socket may take part in */
  maxDialsPerSocket: number
  /** outstanding join nonces per socket; the oldest is dropped beyond this */
  maxPendingChallengesPerSocket: number
  /** join requests (step 1) per second per socket, token bucket refill rate */
  joinRate: number
  /** join token bucket size */
  joinBurst: number
  /**
   * registrations of a new address and leaves per second per socket, token
   * bucket refill rate: each one is broadcast to every peer (ERR_RATE_LIMITED)
   */
  churnRate: number
  /** churn token bucket size */
  churnBurst: number
  /** dial requests per second per socket, token bucket refill rate */
  dialRate: number
  /** dial token bucket size */
  dialBurst: number
  /**
   * request events (`ss-join`, `ss-leave`, `ss-dial`, joined or not) per
   * second per socket, token bucket refill rate; beyond the bucket the first
   * request gets ERR_RATE_LIMITED, the next ones are dropped unanswered, and
   * `requestBurst` refused in a row disconnect the socket
   */
  requestRate: number
  /** request token bucket size */
  requestBurst: number
  /** largest socket.io message accepted (engine.io maxHttpBufferSize); larger ones close the socket */
  maxMessageBytes: number
  /**
   * what the server may queue for one socket in relayed data: the windows of
   * the dials a socket takes part in must fit in it (beyond, ERR_LIMIT_EXCEEDED
   * on dial), and a data frame that would take what is queued for its
   * receiver past it resets its dial instead of being queued
   */
  maxSocketBufferedBytes: number
  /**
   * what the server may queue for one socket in everything but relayed data
   * (acks, discovery deltas, dial requests, credit and end frames), counted
   * by what it costs in memory; past it the socket is disconnected as a slow consumer
   */
  maxSocketControlBytes: number
  /** sockets that have not joined within this are disconnected */
  handshakeTimeoutMs: number
  /** how long the callee has to accept an `ss-incomming` */
  dialTimeoutMs: number
  /** lifetime of a join nonce */
  challengeTtlMs: number
  /** per-direction credit window of a dial, in bytes */
  windowBytes: number
  /** peers in a join sample and in each periodic re-sample */
  sampleSize: number
  /** `ws-peers` deltas are sent at most this often */
  peersIntervalMs: number
  /** most addresses per `joined` / `left` list of one delta (random subset beyond) */
  peersBatchMax: number
  /** mean period of the per-socket fresh random sample (jittered ±25%) */
  resampleIntervalMs: number
  /** how long stop() lets open dials drain before disconnecting everyone */
  shutdownGraceMs: number
  /**
   * legacy clients (websocket-star 0.10) send without backpressure: a legacy
   * dial whose receiving socket has more than this queued on the server is reset
   */
  legacyMaxBufferedBytes: number
  /**
   * the size of the fresh random sample of legacy peers each legacy peer is
   * told about (`ws-peer`) every `legacyAnnounceIntervalMs`, of its join list,
   * and the most announcements of joining peers it gets per period
   */
  legacyAnnouncements: number
  /** the period of the legacy re-announcements (the old rendezvous server re-announced every 10 s) */
  legacyAnnounceIntervalMs: number
  /**
   * largest message a legacy socket may send (engine.io 3's default
   * maxHttpBufferSize, which 0.10 clients were written against); larger ones
   * close the socket. v2 sockets keep `maxMessageBytes`.
   */
  legacyMaxMessageBytes: number
  /** worker threads that verify join signatures; 0 verifies on the server's thread */
  verifyThreads: number
  /**
   * join signatures being verified at once, server-wide; a join beyond this
   * gets ERR_RATE_LIMITED, so a flood of expensive keys queues a bounded
   * amount of work
   */
  maxPendingVerifications: number
  /**
   * once the event loop has been quiet this long, and the RSS grew since the
   * last reclaim, one memory-reducing collection gives what a burst left
   * (young generation, garbage pages) back to the OS; 0 turns it off
   */
  reclaimQuietMs: number
  /** least RSS growth (and at least a quarter) since the last reclaim that is worth one */
  reclaimMinGrowthBytes: number
}

export const DEFAULT_LIMITS: Readonly<RendezvousLimits> = Object.freeze({
  maxPeers: 100_000,
  maxSockets: 100_000,
  // a NAT or a campus gateway puts many honest peers behind one address; an
  // attacker's address gets no more than this many sockets and joins
  maxSocketsPerIp: 256,
  joinRatePerIp: 20,
  joinBurstPerIp: 100,
  maxAddressesPerSocket: 8,
  // real addresses are < 200 characters; the wire accepts up to MAX_ADDRESS_LENGTH
  maxAddressLength: 256,
  maxDialsPerSocket: 128,
  maxPendingChallengesPerSocket: 16,
  joinRate: 10,
  joinBurst: 20,
  // a peer joins its few addresses and leaves them; a socket that keeps
  // joining and leaving makes every peer hear about it
  churnRate: 1,
  churnBurst: 16,
  dialRate: 50,
  dialBurst: 100,
  // room for an honest client's joins and dials at their own full rates
  requestRate: 100,
  requestBurst: 200,
  maxMessageBytes: 128 * 1024,
  maxSocketBufferedBytes: 32 * 1024 * 1024,
  maxSocketControlBytes: 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  dialTimeoutMs: 10_000,
  challengeTtlMs: CHALLENGE_TTL_MS,
  windowBytes: DEFAULT_WINDOW_BYTES,
  sampleSize: 64,
  // one delta a second with at most 8 joined + 8 left addresses: what a peer
  // receives stays bounded (~2 KB/s) however many peers join or leave; peers
  // discover others mainly through their join sample and the re-sample
  // (bench/README.md, discovery: 250 ms / 128 grew ~100x from 100 to 10,000 peers)
  peersIntervalMs: 1000,
  peersBatchMax: 8,
  resampleIntervalMs: 60_000,
  shutdownGraceMs: 5_000,
  legacyMaxBufferedBytes: 8 * 1024 * 1024,
  legacyAnnouncements: 32,
  legacyAnnounceIntervalMs: 10_000,
  legacyMaxMessageBytes: 1_000_000,
  // joins scale with the cores the box has, one core being the server's own
  verifyThreads: Math.min(4, Math.max(0, availableParallelism() - 1)),
  // far above what honest joins keep in flight (each waits a batch, about a millisecond)
  maxPendingVerifications: 1024,
  reclaimQuietMs: 10_000,
  reclaimMinGrowthBytes: 64 * 1024 * 1024
})

/** Valid range of each limit (inclusive) and whether it must be an integer. */
export const LIMIT_RANGES: Readonly<Record<keyof RendezvousLimits, { min: number, max: number, integer: boolean }>> = Object.freeze({
  maxPeers: { min: 1, max: 1e9, integer: true },
  maxSockets: { min: 1, max: 1e9, integer: true },
  maxSocketsPerIp: { min: 1, max: 1e9, integer: true },
  joinRatePerIp: { min: 0.001, max: 1e9, integer: false },
  joinBurstPerIp: { min: 1, max: 1e9, integer: true },
  maxAddressesPerSocket: { min: 1, max: 1024, integer: true },
  maxAddressLength: { min: 64, max: MAX_ADDRESS_LENGTH, integer: true },
  maxDialsPerSocket: { min: 1, max: 1e6, integer: true },
  maxPendingChallengesPerSocket: { min: 1, max: 1024, integer: true },
  joinRate: { min: 0.001, max: 1e6, integer: false },
  joinBurst: { min: 1, max: 1e6, integer: true },
  churnRate: { min: 0.001, max: 1e6, integer: false },
  churnBurst: { min: 1, max: 1e6, integer: true },
  dialRate: { min: 0.001, max: 1e6, integer: false },
  dialBurst: { min: 1, max: 1e6, integer: true },
  requestRate: { min: 0.001, max: 1e6, integer: false },
  requestBurst: { min: 1, max: 1e6, integer: true },
  // a full data frame plus its socket.io framing must fit
  maxMessageBytes: { min: MAX_FRAME_BYTES + 1024, max: 64 * 1024 * 1024, integer: true },
  maxSocketBufferedBytes: { min: MAX_FRAME_BYTES, max: 2 ** 40, integer: true },
  maxSocketControlBytes: { min: 64 * 1024, max: 2 ** 40, integer: true },
  handshakeTimeoutMs: { min: 1, max: 2 ** 31 - 1, integer: true },
  dialTimeoutMs: { min: 1, max: 2 ** 31 - 1, integer: true },
  challengeTtlMs: { min: 1, max: 2 ** 31 - 1, integer: true },
  windowBytes: { min: MIN_WINDOW_BYTES, max: MAX_WINDOW_BYTES, integer: true },
  sampleSize: { min: 0, max: MAX_PEERS_PER_MESSAGE, integer: true },
  peersIntervalMs: { min: 1, max: 2 ** 31 - 1, integer: true },
  peersBatchMax: { min: 1, max: MAX_PEERS_PER_MESSAGE, integer: true },
  resampleIntervalMs: { min: 100, max: 2 ** 31 - 1, integer: true },
  shutdownGraceMs: { min: 0, max: 2 ** 31 - 1, integer: true },
  legacyMaxBufferedBytes: { min: 64 * 1024, max: 2 ** 40, integer: true },
  legacyAnnouncements: { min: 1, max: 1e6, integer: true },
  legacyAnnounceIntervalMs: { min: 100, max: 2 ** 31 - 1, integer: true },
  // a full v2 data frame plus framing, as for maxMessageBytes
  legacyMaxMessageBytes: { min: MAX_FRAME_BYTES + 1024, max: 64 * 1024 * 1024, integer: true },
  verifyThreads: { min: 0, max: 64, integer: true },
  maxPendingVerifications: { min: 1, max: 1e6, integer: true },
  reclaimQuietMs: { min: 0, max: 2 ** 31 - 1, integer: true },
  reclaimMinGrowthBytes: { min: 0, max: 2 ** 40, integer: true }
})

/**
 * The name of each limit on the command line (`--<name>`), in env vars
 * (`WSSTAR_<NAME>`) and in metric labels (`wsstar_limit{limit="<name>"}`).
 */
export const LIMIT_NAMES: Readonly<Record<keyof RendezvousLimits, string>> = Object.freeze({
  maxPeers: 'max-peers',
  maxSockets: 'max-sockets',
  maxSocketsPerIp: 'max-sockets-per-ip',
  joinRatePerIp: 'join-rate-per-ip',
  joinBurstPerIp: 'join-burst-per-ip',
  maxAddressesPerSocket: 'max-addresses-per-socket',
  maxAddressLength: 'max-address-length',
  maxDialsPerSocket: 'max-dials-per-socket',
  maxPendingChallengesPerSocket: 'max-pending-challenges',
  joinRate: 'join-rate',
  joinBurst: 'join-burst',
  churnRate: 'churn-rate',
  churnBurst: 'churn-burst',
  dialRate: 'dial-rate',
  dialBurst: 'dial-burst',
  requestRate: 'request-rate',
  requestBurst: 'request-burst',
  maxMessageBytes: 'max-message-bytes',
  maxSocketBufferedBytes: 'max-socket-buffered-bytes',
  maxSocketControlBytes: 'max-socket-control-bytes',
  handshakeTimeoutMs: 'handshake-timeout',
  dialTimeoutMs: 'dial-timeout',
  challengeTtlMs: 'challenge-ttl',
  windowBytes: 'window',
  sampleSize: 'sample-size',
  peersIntervalMs: 'peers-interval',
  peersBatchMax: 'peers-batch-max',
  resampleIntervalMs: 'resample-interval',
  shutdownGraceMs: 'shutdown-grace',
  legacyMaxBufferedBytes: 'legacy-max-buffered-bytes',
  legacyAnnouncements: 'legacy-announcements',
  legacyAnnounceIntervalMs: 'legacy-announce-interval',
  legacyMaxMessageBytes: 'legacy-max-message-bytes',
  verifyThreads: 'verify-threads',
  maxPendingVerifications: 'max-pending-verifications',
  reclaimQuietMs: 'reclaim-after',
  reclaimMinGrowthBytes: 'reclaim-min-growth'
})

/** Limits keyed by their public names, e.g. for the `wsstar_limit` gauge. */
export function limitsByName (limits: RendezvousLimits): Record<string, number> {
  const out: Record<string, number> = {}
  for (const key of Object.keys(LIMIT_NAMES) as Array<keyof RendezvousLimits>) {
    out[LIMIT_NAMES[key]] = limits[key]
  }
  return out
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
}

export interface ClusterOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`); Redis >= 7 (sharded pub/sub) */
  redisUrl: string
  /** this server's id in the cluster, unique per process; default `<hostname>-<pid>-<random>` */
  nodeId?: string
  /** prefix of every Redis key and channel; default `wsstar:` */
  prefix?: string
  /** a peer record expires this long after its node last refreshed it, ms (default 30 000) */
  peerTtlMs?: number
  /** a node that has not refreshed its liveness key for this long counts as dead, ms (default 6 000) */
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
}

/** Checks one limit value; returns an error message or undefined. */
export function checkLimit (key: keyof RendezvousLimits, value: unknown): string | undefined {
  const range = LIMIT_RANGES[key]
  if (typeof value !== 'number' || !Number.isFinite(value) || (range.integer && !Number.isInteger(value))) {
    return `${key} must be ${range.integer ? 'an integer' : 'a number'} in ${range.min}..${range.max}`
  }
  if (value < range.min || value > range.max) {
    return `${key} must be in ${range.min}..${range.max}, got ${value}`
  }
  return undefined
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
    if (!(key in DEFAULT_LIMITS)) {
      throw new TypeError(`unknown limit "${key}"; known limits: ${Object.keys(DEFAULT_LIMITS).join(', ')}`)
    }
    if (value === undefined) {
      continue
    }
    const problem = checkLimit(key as keyof RendezvousLimits, value)
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
  return { port, host, challenge: options.challenge ?? true, announce, limits, tls, adminPort, adminHost, publicAdmin, exposeInternals, legacy: options.legacy ?? false, trustedProxies: [...trustedProxies] }
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
