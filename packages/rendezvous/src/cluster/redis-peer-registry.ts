import { DEFAULT_CLUSTER_LIMITS } from '../limits.js'
import type { PeerRecord, PeerRegistry } from '../discovery/peer-registry.js'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'

export interface RedisPeerRegistryInit {
  /** a command connection (not one in subscriber mode); the registry does not close it */
  redis: Redis
  /** this server's id in the cluster; records of this node come back without `nodeId` */
  nodeId: string
  /** prefix of every key, e.g. `wsstar:` (tests use a unique one). Default `wsstar:` */
  prefix?: string
  /** a peer record expires this long after its node last refreshed it, ms (default: limits.ts, `peer-ttl`) */
  peerTtlMs?: number
  /** a node whose liveness key is older than this counts as dead and its peers as offline, ms (default: limits.ts, `node-ttl`) */
  nodeTtlMs?: number
  /** how often the node refreshes its liveness key, ms (default nodeTtlMs / 3) */
  heartbeatMs?: number
  logger?: Logger
}

export const DEFAULT_REDIS_PREFIX = 'wsstar:'

// KEYS[1] peer hash, KEYS[2] peer id set; ARGV address, nodeId, socketId, ttl, peerId
// -> the replaced record [address, nodeId, socketId] or nil
const ADD = `
local old = redis.call('HMGET', KEYS[1], 'a', 'n', 's')
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'n', ARGV[2], 's', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
if old[1] then return old end
return nil`

// KEYS[1] peer hash, KEYS[2] peer id set; ARGV nodeId, socketId, peerId -> 1 removed, 0 not ours
const REMOVE = `
local v = redis.call('HMGET', KEYS[1], 'n', 's')
if v[1] == ARGV[1] and v[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  return 1
end
return 0`

// KEYS[1] peer hash; ARGV node key prefix -> [address, nodeId, socketId] or nil (absent, or its node is dead)
const GET = `
local v = redis.call('HMGET', KEYS[1], 'a', 'n', 's')
if not v[1] then return nil end
if redis.call('EXISTS', ARGV[1] .. v[2]) == 0 then return nil end
return v`

// KEYS[1] peer id set; ARGV count, node key prefix, peer key prefix
// -> flat [peerId, address, ...] of live picks; drops ids whose record expired
const SAMPLE = `
local ids = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[1]))
local out = {}
local alive = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[3] .. id, 'a', 'n')
  if not v[1] then
    redis.call('SREM', KEYS[1], id)
  else
    local ok = alive[v[2]]
    if ok == nil then
      ok = redis.call('EXISTS', ARGV[2] .. v[2]) == 1
      alive[v[2]] = ok
    end
    if ok then
      out[#out + 1] = id
      out[#out + 1] = v[1]
    end
  end
end
return out`

// KEYS[1] peer id set; ARGV peer key prefix, nodeId, ttl, then (peerId, address, socketId)...
// Refreshes this node's records and re-creates missing ones (Redis lost its data);
// -> peer ids now held by someone else
const REFRESH = `
local lost = {}
for i = 4, #ARGV, 3 do
  local key = ARGV[1] .. ARGV[i]
  local v = redis.call('HMGET', key, 'n', 's')
  if not v[1] then
    redis.call('HSET', key, 'a', ARGV[i + 1], 'n', ARGV[2], 's', ARGV[i + 2])
    redis.call('PEXPIRE', key, ARGV[3])
    redis.call('SADD', KEYS[1], ARGV[i])
  elseif v[1] == ARGV[2] and v[2] == ARGV[i + 2] then
    redis.call('PEXPIRE', key, ARGV[3])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost`

type ScriptRedis = Redis & {
  wsstarAdd(peerKey: string, setKey: string, address: string, nodeId: string, socketId: string, ttl: number, peerId: string): Promise<Array<string | null> | null>
  wsstarRemove(peerKey: string, setKey: string, nodeId: string, socketId: string, peerId: string): Promise<number>
  wsstarGet(peerKey: string, nodePrefix: string): Promise<Array<string | null> | null>
  wsstarSample(setKey: string, count: number, nodePrefix: string, peerPrefix: string): Promise<string[]>
  wsstarRefresh(setKey: string, ...args: Array<string | number>): Promise<string[]>
}

/** peers refreshed per script call */
const REFRESH_BATCH = 500

/**
 * The cluster registry: every server of a cluster writes its registrations
 * to one Redis, so any server can find the node holding a peer.
 *
 * Keys (all under `prefix`):
 * - `peer:<peerId>`  hash `{ a: address, n: nodeId, s: socketId }`, expires
 *   `peerTtlMs` after its node last refreshed it;
 * - `peers`          set of peer ids, for O(count) random samples
 *   (SRANDMEMBER) and the count; ids whose hash expired are dropped lazily
 *   when a sample meets them;
 * - `node:<nodeId>`  liveness key, refreshed every `heartbeatMs`, expires after
 *   `nodeTtlMs`: the peers of a node whose key is gone count as offline at
 *   once (get/sample skip them), long before their own records expire.
 *
 * Every heartbeat re-creates this node's records that are missing, so a
 * Redis that restarted empty is repopulated within one heartbeat of coming back.
 * Multi-key scripts name keys they compute: one Redis server, not Redis
 * Cluster (and no Sentinel support: docs/CLUSTER.md).
 */
export class RedisPeerRegistry implements PeerRegistry {
  readonly nodeId: string
  readonly prefix: string
  readonly #redis: ScriptRedis
  readonly #peerTtlMs: number
  readonly #nodeTtlMs: number
  readonly #heartbeatMs: number
  readonly #logger?: Logger
  /** records held by sockets of this node: what the heartbeat refreshes */
  readonly #local = new Map<string, PeerRecord>()
  readonly #setKey: string
  readonly #nodePrefix: string
  readonly #peerPrefix: string
  #timer?: ReturnType<typeof setInterval>
  #ticks = 0
  #beating?: Promise<void>
  #closed = false

  constructor (init: RedisPeerRegistryInit) {
    this.nodeId = init.nodeId
    this.prefix = init.prefix ?? DEFAULT_REDIS_PREFIX
    this.#peerTtlMs = init.peerTtlMs ?? DEFAULT_CLUSTER_LIMITS.peerTtlMs
    this.#nodeTtlMs = init.nodeTtlMs ?? DEFAULT_CLUSTER_LIMITS.nodeTtlMs
    this.#heartbeatMs = init.heartbeatMs ?? Math.max(10, Math.floor(this.#nodeTtlMs / 3))
    this.#logger = init.logger
    this.#setKey = `${this.prefix}peers`
    this.#nodePrefix = `${this.prefix}node:`
    this.#peerPrefix = `${this.prefix}peer:`
    const redis = init.redis as ScriptRedis
    if (typeof redis.wsstarAdd !== 'function') {
      redis.defineCommand('wsstarAdd', { numberOfKeys: 2, lua: ADD })
      redis.defineCommand('wsstarRemove', { numberOfKeys: 2, lua: REMOVE })
      redis.defineCommand('wsstarGet', { numberOfKeys: 1, lua: GET })
      redis.defineCommand('wsstarSample', { numberOfKeys: 1, lua: SAMPLE })
      redis.defineCommand('wsstarRefresh', { numberOfKeys: 1, lua: REFRESH })
    }
    this.#redis = redis
    // after a reconnect Redis may have restarted empty: re-assert at once
    redis.on('ready', this.#onReady)
  }

  /** Writes the liveness key and starts the heartbeat. Resolves once Redis answered. */
  async start (): Promise<void> {
    if (this.#timer == null) {
      // a failed beat is logged in heartbeat(); a rejection left unhandled here would end the process
      this.#timer = setInterval(() => { this.heartbeat().catch(() => {}) }, this.#heartbeatMs)
      this.#timer.unref?.()
    }
    await this.heartbeat(true)
  }

  async add (record: PeerRecord): Promise<PeerRecord | undefined> {
    const local = { peerId: record.peerId, address: record.address, socketId: record.socketId }
    this.#local.set(record.peerId, local)
    try {
      const old = await this.#redis.wsstarAdd(this.#peerKey(record.peerId), this.#setKey, record.address, this.nodeId, record.socketId, this.#peerTtlMs, record.peerId)
      return this.#record(record.peerId, old)
    } catch (err) {
      if (this.#local.get(record.peerId) === local) {
        this.#local.delete(record.peerId)
      }
      throw err
    }
  }

  async remove (peerId: string, socketId: string): Promise<boolean> {
    if (this.#local.get(peerId)?.socketId === socketId) {
      this.#local.delete(peerId)
    }
    const removed = await this.#redis.wsstarRemove(this.#peerKey(peerId), this.#setKey, this.nodeId, socketId, peerId)
    return removed === 1
  }

  /**
   * Another node took `peerId` over from `socketId` of this node: stop
   * refreshing it (the record in Redis is the other node's now).
   */
  forgetLocal (peerId: string, socketId: string): void {
    if (this.#local.get(peerId)?.socketId === socketId) {
      this.#local.delete(peerId)
    }
  }

  async get (peerId: string): Promise<PeerRecord | undefined> {
    const found = await this.#redis.wsstarGet(this.#peerKey(peerId), this.#nodePrefix)
    return this.#record(peerId, found)
  }

  async sample (count: number, exclude?: ReadonlySet<string>): Promise<string[]> {
    if (count <= 0) {
      return []
    }
    // ask for a few more: some picks may be excluded or stale
    const ask = count + (exclude?.size ?? 0) + Math.ceil(count / 4) + 2
    const flat = await this.#redis.wsstarSample(this.#setKey, ask, this.#nodePrefix, this.#peerPrefix)
    const out: string[] = []
    for (let i = 0; i + 1 < flat.length && out.length < count; i += 2) {
      if (exclude?.has(flat[i]) !== true) {
        out.push(flat[i + 1])
      }
    }
    return out
  }

  /** Peer ids known cluster-wide (may briefly count records that just expired). */
  async size (): Promise<number> {
    return await this.#redis.scard(this.#setKey)
  }

  /**
   * Refreshes the liveness key; every few beats (and with `full`) also this
   * node's peer records, re-creating missing ones.
   */
  async heartbeat (full = false): Promise<void> {
    if (this.#closed) {
      return
    }
    if (this.#beating != null) {
      await this.#beating
      if (!full) {
        return
      }
    }
    const refreshEvery = Math.max(1, Math.floor(this.#peerTtlMs / 3 / this.#heartbeatMs))
    const refreshPeers = full || this.#ticks++ % refreshEvery === 0
    this.#beating = this.#beat(refreshPeers).catch((err: unknown) => {
      // while Redis is away every beat fails: the cluster mode says so once
      if (this.#redis.status === 'ready') {
        this.#logger?.warn({ err }, 'registry heartbeat failed')
      } else {
        this.#logger?.debug({ err }, 'registry heartbeat failed (redis not connected)')
      }
      throw err
    }).finally(() => { this.#beating = undefined })
    await this.#beating
  }

  async close (): Promise<void> {
    if (this.#closed) {
      return
    }
    this.#closed = true
    clearInterval(this.#timer)
    this.#redis.off('ready', this.#onReady)
    await this.#beating?.catch(() => {})
    const peers = [...this.#local.values()]
    this.#local.clear()
    if (this.#redis.status !== 'ready') {
      return
    }
    try {
      const pipeline = this.#redis.pipeline() as unknown as ScriptRedis & { exec(): Promise<unknown> }
      for (const record of peers) {
        void pipeline.wsstarRemove(this.#peerKey(record.peerId), this.#setKey, this.nodeId, record.socketId, record.peerId)
      }
      void pipeline.del(`${this.#nodePrefix}${this.nodeId}`)
      await pipeline.exec()
    } catch (err) {
      this.#logger?.warn({ err }, 'cannot clean up the registry on close')
    }
  }

  readonly #onReady = (): void => {
    if (this.#timer != null && !this.#closed) {
      this.heartbeat(true).catch(() => {})
    }
  }

  async #beat (refreshPeers: boolean): Promise<void> {
    await this.#redis.set(`${this.#nodePrefix}${this.nodeId}`, String(Date.now()), 'PX', this.#nodeTtlMs)
    if (!refreshPeers || this.#local.size === 0) {
      return
    }
    const records = [...this.#local.values()]
    for (let i = 0; i < records.length; i += REFRESH_BATCH) {
      const args: Array<string | number> = [this.#peerPrefix, this.nodeId, this.#peerTtlMs]
      for (const record of records.slice(i, i + REFRESH_BATCH)) {
        args.push(record.peerId, record.address, record.socketId)
      }
      const lost = await this.#redis.wsstarRefresh(this.#setKey, ...args)
      for (const peerId of lost) {
        const record = records.find(r => r.peerId === peerId)
        if (record != null) {
          this.forgetLocal(peerId, record.socketId)
        }
      }
    }
  }

  #peerKey (peerId: string): string {
    return `${this.#peerPrefix}${peerId}`
  }

  #record (peerId: string, fields: Array<string | null> | null): PeerRecord | undefined {
    if (fields == null || fields[0] == null || fields[1] == null || fields[2] == null) {
      return undefined
    }
    const record: PeerRecord = { peerId, address: fields[0], socketId: fields[2] }
    if (fields[1] !== this.nodeId) {
      record.nodeId = fields[1]
    }
    return record
  }
}
