/**
 * The limits of the server, each described once: the table below gives
 * every limit its name (the `--<name>` flag, the `WSSTAR_<NAME>` env var and
 * the `limit="<name>"` label of the `wsstar_limit` gauge and the
 * `wsstar_limit_hits_total` counter), unit, default, valid range and the
 * line `--help` and the README print. Options validation (options.ts), CLI
 * parsing and `--help` (cli-options.ts), the gauges (metrics.ts) and the
 * README table (`npm run docs:limits`) are read off it. The public
 * `RendezvousLimits` type (options.ts) must have exactly the keys of the
 * first table, `ClusterLimits` (fields of `ClusterOptions`, taken in
 * cluster mode only) those of the second. Imports nothing of the server but
 * those types.
 */
import { availableParallelism } from 'node:os'
import { CHALLENGE_TTL_MS, DEFAULT_WINDOW_BYTES, MAX_ADDRESS_LENGTH, MAX_FRAME_BYTES, MAX_NAMESPACES, MAX_NAMESPACE_LENGTH, MAX_PEERS_PER_MESSAGE, MAX_WINDOW_BYTES, MIN_WINDOW_BYTES } from '@wsstar/protocol'
import type { ClusterOptions, RendezvousLimits } from './options.js'

/** What a limit counts: a rate is per second and may be fractional; the others are integers. */
export type LimitUnit = 'bytes' | 'ms' | 'count' | 'rate'

/** One row of the table. */
export interface LimitSpec {
  /** `--<name>`, `WSSTAR_<NAME>`, `wsstar_limit{limit="<name>"}` */
  readonly name: string
  readonly unit: LimitUnit
  readonly default: number
  /** the default as the docs state it, where it depends on the machine */
  readonly defaultText?: string
  /** valid range, inclusive */
  readonly min: number
  readonly max: number
  /** what it bounds, one line (markdown: `code` spans); `--help` and the README */
  readonly description: string
}

/** The limits of cluster mode: fields of `ClusterOptions`. */
export type ClusterLimits = Required<Pick<ClusterOptions, 'peerTtlMs' | 'nodeTtlMs'>>

/** A limit as its users see it: the row, and what follows from it. */
export interface Limit<Key extends string = keyof RendezvousLimits> extends LimitSpec {
  readonly key: Key
  readonly integer: boolean
  readonly flag: string
  readonly env: string
}

const MAX_TIMER_MS = 2 ** 31 - 1
const rate = (name: string, defaultValue: number, description: string): LimitSpec =>
  ({ name, unit: 'rate', default: defaultValue, min: 0.001, max: 1e6, description })
const burst = (name: string, defaultValue: number, description: string): LimitSpec =>
  ({ name, unit: 'count', default: defaultValue, min: 1, max: 1e6, description })

const TABLE: Readonly<Record<keyof RendezvousLimits, LimitSpec>> = {
  maxPeers: { name: 'max-peers', unit: 'count', default: 100_000, min: 1, max: 1e9, description: 'registered peers on this server (`ERR_LIMIT_EXCEEDED` on join)' },
  maxSockets: { name: 'max-sockets', unit: 'count', default: 100_000, min: 1, max: 1e9, description: 'connected sockets (refused at connect with `ERR_LIMIT_EXCEEDED`)' },
  // a NAT or a campus gateway puts many honest peers behind one address; an
  // attacker's address gets no more than this many sockets and joins
  // every socket is a file descriptor: near the process's open-file limit
  // the kernel would refuse accepts and clients would see a broken websocket
  fdReserve: {
    name: 'fd-reserve',
    unit: 'count',
    default: 256,
    min: 16,
    max: 1e6,
    description: 'file descriptors kept free below the process\'s open-file limit (read at start, logged): once the connections reach the limit less this, more are refused at connect with `ERR_LIMIT_EXCEEDED`'
  },
  maxSocketsPerIp: {
    name: 'max-sockets-per-ip',
    unit: 'count',
    default: 256,
    min: 1,
    max: 1e9,
    description: 'connections from one client address (IPv4 address, IPv6 /64; see `--trusted-proxies`); the one over it is refused at connect with `ERR_LIMIT_EXCEEDED` (gauge `wsstar_client_ips`)'
  },
  joinRatePerIp: { ...rate('join-rate-per-ip', 20, 'joins (hellos and one-request joins) per second per client address, on top of the per-socket bucket (token bucket; `ERR_RATE_LIMITED`)'), max: 1e9 },
  joinBurstPerIp: { ...burst('join-burst-per-ip', 100, 'per-address join token bucket size'), max: 1e9 },
  maxAddressesPerSocket: { name: 'max-addresses-per-socket', unit: 'count', default: 8, min: 1, max: 1024, description: 'peer addresses one socket may register' },
  // real addresses are < 200 characters; the wire accepts up to MAX_ADDRESS_LENGTH
  maxAddressLength: {
    name: 'max-address-length',
    unit: 'count',
    default: 256,
    min: 64,
    max: MAX_ADDRESS_LENGTH,
    description: 'longest peer address (characters, as sent) a join may register (`ERR_INVALID_ADDRESS`); what is registered and broadcast is the canonical form, server part + peer id'
  },
  // a peer is in each of its namespaces' samples, deltas and Redis sets: the
  // count bounds what one join costs, the length what each name costs
  maxNamespaces: { name: 'max-namespaces', unit: 'count', default: 8, min: 1, max: MAX_NAMESPACES, description: 'namespaces one join may name (`namespaces` in the join data; `ERR_BAD_REQUEST` beyond)' },
  maxNamespaceLength: { name: 'max-namespace-length', unit: 'count', default: 64, min: 1, max: MAX_NAMESPACE_LENGTH, description: 'longest namespace name (characters) a join may name (`ERR_BAD_REQUEST` beyond)' },
  // one label value per namespace would let joiners grow the metrics without bound
  namespaceMetricsTop: { name: 'namespace-metrics-top', unit: 'count', default: 10, min: 0, max: 1000, description: 'namespaces with the most peers on this server that get a label of their own in `wsstar_namespace_peers{namespace}` (the rest are counted in `wsstar_namespaces` only)' },
  maxDialsPerSocket: { name: 'max-dials-per-socket', unit: 'count', default: 128, min: 1, max: 1e6, description: 'concurrent dials (pending or open, as caller or callee) one socket may take part in' },
  maxPendingChallengesPerSocket: { name: 'max-pending-challenges', unit: 'count', default: 16, min: 1, max: 1024, description: 'outstanding join nonces per socket; the oldest is dropped beyond it' },
  joinRate: rate('join-rate', 10, 'join requests per second per socket (token bucket; `ERR_RATE_LIMITED`)'),
  joinBurst: burst('join-burst', 20, 'join token bucket size'),
  // a peer joins its few addresses and leaves them; a socket that keeps
  // joining and leaving makes every peer hear about it
  churnRate: rate('churn-rate', 1, 'registrations of new addresses and leaves per second per socket, each broadcast to every peer: a join or leave is admitted while the socket has a token (`ERR_RATE_LIMITED` otherwise) and a registration pays one when it happens'),
  churnBurst: burst('churn-burst', 16, 'churn token bucket size'),
  dialRate: rate('dial-rate', 50, 'dial requests per second per socket (token bucket; `ERR_RATE_LIMITED`)'),
  dialBurst: burst('dial-burst', 100, 'dial token bucket size'),
  // room for an honest client's joins and dials at their own full rates
  requestRate: rate('request-rate', 100, 'every `ss-join`/`ss-leave`/`ss-dial` per second per socket, joined or not (token bucket): without a token the first request gets `ERR_RATE_LIMITED`, the next are dropped unanswered, and `--request-burst` refused in a row disconnect'),
  requestBurst: burst('request-burst', 200, 'request token bucket size'),
  // the answer tells a client its frames go nowhere; the bucket keeps a flood
  // of stray frames from being answered one for one
  strayReplyRate: rate('stray-reply-rate', 10, '`ERR_DIAL_NOT_FOUND` answers per second per socket to data frames on dials it is not an open end of (token bucket); beyond it they are dropped unanswered'),
  strayReplyBurst: burst('stray-reply-burst', 20, 'stray-frame answer token bucket size'),
  // a full data frame plus its socket.io framing must fit
  maxMessageBytes: { name: 'max-message-bytes', unit: 'bytes', default: 128 * 1024, min: MAX_FRAME_BYTES + 1024, max: 64 * 1024 * 1024, description: 'largest socket.io message accepted (engine.io maxHttpBufferSize); larger ones close the socket' },
  maxSocketBufferedBytes: {
    name: 'max-socket-buffered-bytes',
    unit: 'bytes',
    default: 32 * 1024 * 1024,
    min: MAX_FRAME_BYTES,
    max: 2 ** 40,
    description: 'relayed data queued for one socket: it takes part in at most as many dials as full windows fit (31 at the defaults; beyond, `ERR_LIMIT_EXCEEDED` on dial), and a frame it has no room for resets its dial; a receiver is never cut off for data it was sent'
  },
  maxSocketControlBytes: {
    name: 'max-socket-control-bytes',
    unit: 'bytes',
    default: 1024 * 1024,
    min: 64 * 1024,
    max: 2 ** 40,
    description: 'acks, discovery deltas, dial requests, credit and end frames queued for one socket, by memory cost: past it the socket is cut off as a slow consumer (docs/PROTOCOL.md, Bounded server memory)'
  },
  handshakeTimeoutMs: { name: 'handshake-timeout', unit: 'ms', default: 10_000, min: 1, max: MAX_TIMER_MS, description: 'sockets that have not joined by then are disconnected' },
  dialTimeoutMs: { name: 'dial-timeout', unit: 'ms', default: 10_000, min: 1, max: MAX_TIMER_MS, description: 'time the callee has to accept a dial (`ERR_DIAL_TIMEOUT`)' },
  challengeTtlMs: { name: 'challenge-ttl', unit: 'ms', default: CHALLENGE_TTL_MS, min: 1, max: MAX_TIMER_MS, description: 'lifetime of a join nonce' },
  windowBytes: { name: 'window', unit: 'bytes', default: DEFAULT_WINDOW_BYTES, min: MIN_WINDOW_BYTES, max: MAX_WINDOW_BYTES, description: 'per-direction credit window of a dial' },
  // off by default: a relay for everyone's honest transfers; an operator who
  // shares one among many peers caps the heavy ones without cutting them off
  relayRate: {
    name: 'relay-rate',
    unit: 'bytes',
    default: 0,
    min: 0,
    max: 2 ** 40,
    description: 'payload bytes per second one socket may send over all its dials (token bucket; 0: no limit): a sender over it is slowed down, the server holds back the credit the receivers return until the bucket refills; nothing is dropped'
  },
  relayBurst: { name: 'relay-burst', unit: 'bytes', default: 1024 * 1024, min: MAX_FRAME_BYTES, max: 2 ** 40, description: 'relay-rate token bucket size' },
  // circuit-relay-v2 caps every relayed connection (2 min / 128 KiB by default); here a cap is the operator's choice
  maxDialBytes: { name: 'max-dial-bytes', unit: 'bytes', default: 0, min: 0, max: 2 ** 50, description: 'payload bytes one dial may relay in each direction (0: no cap); the frame that would cross it resets the dial with `ERR_RELAY_LIMIT`' },
  maxDialDurationMs: { name: 'max-dial-duration', unit: 'ms', default: 0, min: 0, max: MAX_TIMER_MS, description: 'how long one dial may stay open (0: no cap); then it is reset with `ERR_RELAY_LIMIT`' },
  sampleSize: { name: 'sample-size', unit: 'count', default: 64, min: 0, max: MAX_PEERS_PER_MESSAGE, description: 'peers in a join sample and in each re-sample' },
  // one delta a second with at most 8 joined + 8 left addresses: what a peer
  // receives stays bounded (~2 KB/s) however many peers join or leave; peers
  // discover others mainly through their join sample and the re-sample
  // (bench/README.md, discovery: 250 ms / 128 grew ~100x from 100 to 10,000 peers)
  peersIntervalMs: { name: 'peers-interval', unit: 'ms', default: 1000, min: 1, max: MAX_TIMER_MS, description: '`ws-peers` discovery deltas are sent at most this often (with `--peers-batch-max`, bounds what each peer receives; bench/README.md)' },
  peersBatchMax: { name: 'peers-batch-max', unit: 'count', default: 8, min: 1, max: MAX_PEERS_PER_MESSAGE, description: 'most addresses per `joined` / `left` list of one discovery delta (the rest goes out in the next periods)' },
  resampleIntervalMs: { name: 'resample-interval', unit: 'ms', default: 60_000, min: 100, max: MAX_TIMER_MS, description: 'mean period of the fresh random sample per socket (jittered ±25%)' },
  shutdownGraceMs: { name: 'shutdown-grace', unit: 'ms', default: 5_000, min: 0, max: MAX_TIMER_MS, description: 'how long open dials may drain on stop' },
  legacyMaxBufferedBytes: { name: 'legacy-max-buffered-bytes', unit: 'bytes', default: 8 * 1024 * 1024, min: 64 * 1024, max: 2 ** 40, description: 'bytes queued for a legacy (0.10) receiver past which its legacy dial is reset (every relayed event counts)' },
  legacyAnnouncements: { name: 'legacy-announcements', unit: 'count', default: 32, min: 1, max: 1e6, description: 'size of the fresh random sample each legacy peer is re-announced every period, of its join list, and the most joining peers announced to it per period' },
  legacyAnnounceIntervalMs: { name: 'legacy-announce-interval', unit: 'ms', default: 10_000, min: 100, max: MAX_TIMER_MS, description: 'period of the legacy `ws-peer` re-announcements (the old server\'s)' },
  // engine.io 3's default maxHttpBufferSize, which 0.10 clients were written
  // against; the least is a full v2 data frame plus framing, as for maxMessageBytes
  legacyMaxMessageBytes: { name: 'legacy-max-message-bytes', unit: 'bytes', default: 1_000_000, min: MAX_FRAME_BYTES + 1024, max: 64 * 1024 * 1024, description: 'largest message a legacy socket may send (the old server\'s engine.io 3 limit); v2 sockets keep `--max-message-bytes`' },
  // joins scale with the cores the box has, one core being the server's own
  verifyThreads: {
    name: 'verify-threads',
    unit: 'count',
    default: Math.min(4, Math.max(0, availableParallelism() - 1)),
    defaultText: 'cores − 1, at most 4',
    min: 0,
    max: 64,
    description: 'worker threads verifying join signatures of every key type (0: on the server thread; `wsstar_signatures_verified_total{key,thread}` says where each was verified)'
  },
  // far above what honest joins keep in flight (each waits a batch, about a millisecond)
  maxPendingVerifications: { name: 'max-pending-verifications', unit: 'count', default: 1024, min: 1, max: 1e6, description: 'join signatures being verified at once, server-wide; a join beyond it gets `ERR_RATE_LIMITED` (gauge `wsstar_verifications_pending`)' },
  reclaimQuietMs: {
    name: 'reclaim-after',
    unit: 'ms',
    default: 10_000,
    min: 0,
    max: MAX_TIMER_MS,
    description: 'once the event loop has been quiet this long and the RSS grew by `--reclaim-min-growth` since the last reclaim, V8 is put in its memory-saving mode for up to 30 s (or until the loop is busy): its memory reducer gives what a burst left back to the OS with incremental collections (0: never)'
  },
  reclaimMinGrowthBytes: { name: 'reclaim-min-growth', unit: 'bytes', default: 64 * 1024 * 1024, min: 0, max: 2 ** 40, description: 'least RSS growth since the last reclaim (and at least a quarter) worth one' },
  // a join waits for the hook: long enough for a hook across a network, short
  // enough that a hook that hangs does not hold joins for the handshake timeout
  authHookTimeoutMs: { name: 'auth-hook-timeout', unit: 'ms', default: 2_000, min: 1, max: MAX_TIMER_MS, description: '`--auth hook`: how long a join waits for the authorization hook\'s answer; none by then is a failure (`ERR_UNAUTHORIZED` unless `--auth-hook-fail-open`)' },
  authHookCacheTtlMs: { name: 'auth-hook-cache-ttl', unit: 'ms', default: 60_000, min: 0, max: MAX_TIMER_MS, description: '`--auth hook`: how long the hook\'s allow and deny answers are reused for the same peer id, namespaces and client address (0: ask every time)' },
  authHookCacheSize: { name: 'auth-hook-cache-size', unit: 'count', default: 10_000, min: 1, max: 1e7, description: '`--auth hook`: the most answers cached (least recently used out first)' }
}

const CLUSTER_TABLE: Readonly<Record<keyof ClusterLimits, LimitSpec>> = {
  // a record outlives a replica that died without removing it; lookups skip
  // the records of a dead replica long before (node-ttl)
  peerTtlMs: { name: 'peer-ttl', unit: 'ms', default: 30_000, min: 100, max: MAX_TIMER_MS, description: 'cluster mode: a peer record in Redis expires this long after its replica last refreshed it (every third of it)' },
  // the beat is a third of it: a replica is taken for dead after missing about three
  nodeTtlMs: { name: 'node-ttl', unit: 'ms', default: 6_000, min: 100, max: MAX_TIMER_MS, description: 'cluster mode: a replica whose liveness key was not refreshed (every third of it) for this long counts as dead, its peers as offline' }
}

/** `max-peers` -> `WSSTAR_MAX_PEERS` */
export function envName (name: string): string {
  return `WSSTAR_${name.toUpperCase().replace(/-/g, '_')}`
}

function limitsOf<Key extends string> (table: Readonly<Record<Key, LimitSpec>>): ReadonlyArray<Limit<Key>> {
  return Object.freeze((Object.entries(table) as Array<[Key, LimitSpec]>).map(([key, spec]) =>
    Object.freeze({ ...spec, key, integer: spec.unit !== 'rate', flag: `--${spec.name}`, env: envName(spec.name) })))
}

/** Every limit of the server, in the table's order (the order of `--help`, the README and the gauges). */
export const LIMITS = limitsOf(TABLE)

/** The limits of cluster mode (`ClusterOptions`; the CLI takes them with `--redis-url`), after the others everywhere. */
export const CLUSTER_LIMITS = limitsOf(CLUSTER_TABLE)

function valuesOf<Key extends string, Value> (limits: ReadonlyArray<Limit<Key>>, value: (limit: Limit<Key>) => Value): Readonly<Record<Key, Value>> {
  return Object.freeze(Object.fromEntries(limits.map(l => [l.key, value(l)])) as Record<Key, Value>)
}

export const DEFAULT_LIMITS: Readonly<RendezvousLimits> = valuesOf(LIMITS, l => l.default)

export const DEFAULT_CLUSTER_LIMITS: Readonly<ClusterLimits> = valuesOf(CLUSTER_LIMITS, l => l.default)

/** The public name of each limit (see `LimitSpec.name`). */
export const LIMIT_NAMES: Readonly<Record<keyof RendezvousLimits, string>> = valuesOf(LIMITS, l => l.name)

/** Limits keyed by their public names, the cluster's too in cluster mode: the `wsstar_limit` gauge. */
export function limitsByName (limits: RendezvousLimits, cluster?: ClusterLimits): Record<string, number> {
  return {
    ...Object.fromEntries(LIMITS.map(l => [l.name, limits[l.key]])),
    ...(cluster == null ? {} : Object.fromEntries(CLUSTER_LIMITS.map(l => [l.name, cluster[l.key]])))
  }
}

/** Checks one limit value; returns an error message naming it `label` (its option), or undefined. */
export function checkLimit (limit: Limit<string>, value: unknown, label: string = limit.key): string | undefined {
  const { min, max, integer } = limit
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    return `${label} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}`
  }
  if (value < min || value > max) {
    return `${label} must be in ${min}..${max}, got ${value}`
  }
  return undefined
}

const KIB = 1024
const MIB = 1024 * 1024

/** A value of a limit as the docs and `--help` state it: `128 KiB`, `10 s`, `20/s`, `100000`. The CLI parses it back. */
export function formatLimitValue (unit: LimitUnit, value: number): string {
  switch (unit) {
    case 'bytes':
      if (value !== 0 && value % MIB === 0) return `${value / MIB} MiB`
      if (value !== 0 && value % KIB === 0) return `${value / KIB} KiB`
      return String(value)
    case 'ms':
      return value % 1000 === 0 ? `${value / 1000} s` : `${value} ms`
    case 'rate':
      return `${value}/s`
    default:
      return String(value)
  }
}

/** A limit's default as the docs state it. */
export function formatDefault (limit: Limit<string>): string {
  return limit.defaultText ?? formatLimitValue(limit.unit, limit.default)
}
