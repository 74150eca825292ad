import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { createShardedAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { ClusterLink } from './cluster-link.js'
import { clusterMetrics } from './cluster-metrics.js'
import { NODE_ID_PATTERN } from './cluster-messages.js'
import { ClusterNodes } from './cluster-nodes.js'
import { CLUSTER_LIMITS, DEFAULT_CLUSTER_LIMITS, checkLimit } from '../limits.js'
import { DEFAULT_REDIS_PREFIX, RedisPeerRegistry } from './redis-peer-registry.js'
import type { ClusterStats } from './cluster-metrics.js'
import type { ClusterNode } from './cluster-nodes.js'
import type { ClusterLimits } from '../limits.js'
import type { ClusterDeliveries, ClusterLinkInit } from './cluster-link.js'
import type { ClusterOptions } from '../options.js'
import type { RedisOptions } from 'ioredis'
import type { Registry } from 'prom-client'
import type { Logger } from 'pino'

/** how long start() waits for Redis before giving up */
const CONNECT_TIMEOUT_MS = 10_000

export function defaultNodeId (): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
}

/**
 * The Redis side of one cluster node: three connections (commands for the
 * registry; publish and subscribe, shared by the socket.io sharded adapter
 * and the node-to-node link so frames of a dial stay in order), the
 * registry, the adapter and the link.
 */
export class ClusterMode {
  readonly nodeId: string
  readonly prefix: string
  readonly registry: RedisPeerRegistry
  /** the cluster's limits, the defaults filled in */
  readonly limits: Readonly<ClusterLimits>
  readonly #commands: Redis
  readonly #pub: Redis
  readonly #sub: Redis
  readonly #logger: Logger
  #link?: ClusterLink
  #nodes?: ClusterNodes
  #closed = false
  /** whether the replica had every Redis connection at the last state change (true once started) */
  #up = false
  #started = false
  #lastError?: Error
  /** Redis connections that came back after being lost */
  reconnects = 0

  constructor (options: ClusterOptions, logger: Logger) {
    if (typeof options.redisUrl !== 'string' || !/^rediss?:\/\//.test(options.redisUrl)) {
      throw new TypeError('cluster.redisUrl must be a redis:// or rediss:// URL')
    }
    this.nodeId = options.nodeId ?? defaultNodeId()
    if (!NODE_ID_PATTERN.test(this.nodeId)) {
      throw new TypeError('cluster.nodeId must be 1..128 characters of [A-Za-z0-9_.:-]')
    }
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    const limits = { ...DEFAULT_CLUSTER_LIMITS }
    for (const limit of CLUSTER_LIMITS) {
      const value = options[limit.key]
      // null kept its default before these were checked
      if (value == null) {
        continue
      }
      const problem = checkLimit(limit, value, `cluster.${limit.key}`)
      if (problem != null) {
        throw new TypeError(problem)
      }
      limits[limit.key] = value
    }
    this.limits = limits
    this.#logger = logger.child({ node: this.nodeId })
    const base: RedisOptions = {
      lazyConnect: true,
      // reconnect quickly and forever: the cluster recovers as soon as Redis is back
      retryStrategy: (times: number) => Math.min(50 * times, 500),
      connectTimeout: 5000
    }
    // fail fast while Redis is away (joins and dials get an error, clients retry);
    // the subscriber keeps its commands and re-subscribes after a reconnect
    this.#commands = new Redis(options.redisUrl, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: `wsstar-cmd-${this.nodeId}` })
    this.#pub = new Redis(options.redisUrl, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: `wsstar-pub-${this.nodeId}` })
    this.#sub = new Redis(options.redisUrl, { ...base, maxRetriesPerRequest: null, connectionName: `wsstar-sub-${this.nodeId}` })
    for (const [name, client] of [['commands', this.#commands], ['pub', this.#pub], ['sub', this.#sub]] as const) {
      let wasReady = false
      // ioredis emits an error per failed attempt (every 50-500 ms while Redis is away):
      // kept for the one warning per state change, logged at debug
      client.on('error', (err: Error) => {
        this.#lastError = err
        this.#logger.debug({ err, connection: name }, 'redis connection error')
      })
      client.on('ready', () => {
        if (wasReady) {
          this.reconnects++
        }
        wasReady = true
        this.#onState()
      })
      client.on('close', () => { this.#onState() })
    }
    this.registry = new RedisPeerRegistry({
      redis: this.#commands,
      nodeId: this.nodeId,
      prefix: this.prefix,
      peerTtlMs: limits.peerTtlMs,
      nodeTtlMs: limits.nodeTtlMs,
      logger: this.#logger
    })
  }

  /** Creates the node-to-node link (once the relay and membership exist). */
  link (init: Omit<ClusterLinkInit, 'nodeId' | 'prefix' | 'pub' | 'sub' | 'registry' | 'logger'>): ClusterLink {
    this.#link = new ClusterLink({ ...init, nodeId: this.nodeId, prefix: this.prefix, pub: this.#pub, sub: this.#sub, registry: this.registry, logger: this.#logger })
    return this.#link
  }

  /** Registers the cluster's metrics (Redis, the replicas seen, the link's traffic), read from `stats()` at scrape time. */
  registerMetrics (registry: Registry): void {
    clusterMetrics(() => this.stats(), registry)
  }

  /** The socket.io adapter: sharded pub/sub, one channel per room (per peer, and the discovery room). */
  adapter (): ReturnType<typeof createShardedAdapter> {
    return createShardedAdapter(this.#pub, this.#sub, { channelPrefix: `${this.prefix}io`, subscriptionMode: 'dynamic' })
  }

  /** whether all three Redis connections are ready now (the `wsstar_cluster_redis_up` gauge) */
  get redisReady (): boolean {
    return [this.#commands, this.#pub, this.#sub].every(client => client.status === 'ready')
  }

  /** Connects to Redis, writes the liveness key, subscribes the link (which delivers to `deliveries`). */
  async start (deliveries: ClusterDeliveries): Promise<void> {
    await Promise.all([this.#commands, this.#pub, this.#sub].map(async client => { await connect(client) }))
    await this.registry.start()
    await this.#link?.start(deliveries)
    this.#started = true
    this.#up = true
    this.#onState()
    this.#logger.info({ prefix: this.prefix }, 'cluster mode: connected to redis')
  }

  /**
   * One warning per change of the replica's Redis state (lost: any of its
   * connections down; back: all of them ready), however many attempts the
   * connections make meanwhile.
   */
  #onState (): void {
    if (!this.#started || this.#closed) {
      return
    }
    const up = this.redisReady
    if (up === this.#up) {
      return
    }
    this.#up = up
    if (up) {
      this.#lastError = undefined
      this.#logger.warn('redis connection is back: the replica is healthy again')
    } else {
      this.#logger.warn({ err: this.#lastError }, 'redis connection lost: /health says degraded, joins, lookups and cross-replica dials fail until it is back')
    }
  }

  /**
   * Starts describing this replica to the others (its server addresses and
   * peer count, once it knows its addresses) and reading theirs.
   */
  async describe (self: () => Omit<ClusterNode, 'nodeId'>, onAddresses?: (addresses: string[]) => void): Promise<void> {
    this.#nodes ??= new ClusterNodes({
      redis: this.#commands,
      nodeId: this.nodeId,
      prefix: this.prefix,
      ttlMs: this.limits.nodeTtlMs,
      intervalMs: Math.max(10, Math.floor(this.limits.nodeTtlMs / 3)),
      self,
      onAddresses,
      logger: this.#logger
    })
    await this.#nodes.start()
  }

  /** The replicas seen (empty before `describe`). */
  get nodes (): ClusterNode[] {
    return this.#nodes?.nodes ?? []
  }

  stats (): ClusterStats {
    const link = this.#link
    const none = { messages: new Float64Array(0), bytes: new Float64Array(0) }
    return {
      nodeId: this.nodeId,
      redisUp: this.redisReady,
      redisRoundTrip: this.#nodes?.lastRoundTrip,
      reconnects: this.reconnects,
      nodes: this.nodes,
      sent: link?.sent ?? none,
      received: link?.received ?? none,
      dialsHome: link?.dialsHome ?? 0,
      dialsCallee: link?.dialsCallee ?? 0,
      framesToCallee: link?.framesToCallee ?? 0,
      framesFromCallee: link?.framesFromCallee ?? 0
    }
  }

  /** started, and a Redis connection is down: joins, lookups and cross-replica dials fail */
  get degraded (): boolean {
    return this.#started && !this.#closed && !this.redisReady
  }

  /** Every server address of the cluster (empty before `describe`). */
  get addresses (): string[] {
    return this.#nodes?.addresses ?? []
  }

  /** Unsubscribes, removes this node's records and closes the connections. */
  async close (): Promise<void> {
    if (this.#closed) {
      return
    }
    this.#closed = true
    await this.#nodes?.close()
    await this.#link?.close()
    await this.registry.close()
    await Promise.all([this.#commands, this.#pub, this.#sub].map(async client => {
      try {
        if (client.status === 'ready') {
          await client.quit()
        } else {
          client.disconnect()
        }
      } catch {
        client.disconnect()
      }
    }))
  }
}

async function connect (client: Redis): Promise<void> {
  if (client.status === 'ready') {
    return
  }
  if (client.status === 'wait') {
    client.connect().catch(() => {})
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`redis is not reachable within ${CONNECT_TIMEOUT_MS} ms`))
    }, CONNECT_TIMEOUT_MS)
    const onReady = (): void => { cleanup(); resolve() }
    const cleanup = (): void => {
      clearTimeout(timer)
      client.off('ready', onReady)
    }
    client.on('ready', onReady)
  })
}
