import { DEFAULT_CLUSTER_LIMITS } from '../limits.js'
import { DEFAULT_NAMESPACE } from '../discovery/peer-registry.js'
import { mergeSamples } from '../discovery/namespace-samples.js'
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

// The sets a peer id is in: `peers` for the default namespace; for a peer
// that joined namespaces (hash field `ns`, the names joined by spaces, which
// names never hold) `nspeers` (the count) and `ns:<name>` per name. Every
// script that adds or removes a record keeps them in step (SET_PEER).
const SETS = `
local function sets (prefix, ns, id, command)
  if not ns or ns == '' then
    redis.call(command, prefix .. 'peers', id)
    return
  end
  redis.call(command, prefix .. 'nspeers', id)
  for name in string.gmatch(ns, '%S+') do
    redis.call(command, prefix .. 'ns:' .. name, id)
  end
end
`

// KEYS[1] peer hash; ARGV address, nodeId, socketId, ttl, peerId, namespaces ('' for none), key prefix
// -> the replaced record [address, nodeId, socketId, namespaces] or nil
const ADD = SETS + `
local old = redis.call('HMGET', KEYS[1], 'a', 'n', 's', 'ns')
local oldns = old[4] or ''
if old[1] and oldns ~= ARGV[6] then
  sets(ARGV[7], oldns, ARGV[5], 'SREM')
end
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'n', ARGV[2], 's', ARGV[3])
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[1], 'ns')
else
  redis.call('HSET', KEYS[1], 'ns', ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
sets(ARGV[7], ARGV[6], ARGV[5], 'SADD')
if old[1] then return {old[1], old[2], old[3], oldns} end
return nil`

// KEYS[1] peer hash; ARGV nodeId, socketId, peerId, key prefix -> 1 removed, 0 not ours
const REMOVE = SETS + `
local v = redis.call('HMGET', KEYS[1], 'n', 's', 'ns')
if v[1] == ARGV[1] and v[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  sets(ARGV[4], v[3], ARGV[3], 'SREM')
  return 1
end
return 0`

// KEYS[1] peer hash; ARGV node key prefix -> [address, nodeId, socketId, namespaces] or nil (absent, or its node is dead)
const GET = `
local v = redis.call('HMGET', KEYS[1], 'a', 'n', 's', 'ns')
if not v[1] then return nil end
if redis.call('EXISTS', ARGV[1] .. v[2]) == 0 then return nil end
return {v[1], v[2], v[3], v[4] or ''}`

// KEYS[1] the set of one namespace (peers, or ns:<name>); ARGV count, node key prefix,
// peer key prefix, the namespace's name ('' for the default), the nspeers key
// -> [size of the set, peerId, address, ...] of live picks. Drops ids whose record
// expired or is no longer in this namespace (a set may outlive a record that
// expired and joined elsewhere), so a sample never crosses namespaces
const SAMPLE = `
local size = redis.call('SCARD', KEYS[1])
local ids = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[1]))
local out = {size}
local alive = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[3] .. id, 'a', 'n', 'ns')
  local member = false
  if v[1] then
    if ARGV[4] == '' then
      member = not v[3] or v[3] == ''
    else
      member = v[3] and string.find(' ' .. v[3] .. ' ', ' ' .. ARGV[4] .. ' ', 1, true) ~= nil
    end
  end
  if not member then
    redis.call('SREM', KEYS[1], id)
    if not v[1] and ARGV[4] ~= '' then
      redis.call('SREM', ARGV[5], id)
    end
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

// KEYS[1] peers set, KEYS[2] nspeers set -> registered peer ids, both kinds
const SIZE = `
return redis.call('SCARD', KEYS[1]) + redis.call('SCARD', KEYS[2])`

// ARGV key prefix, nodeId, ttl, then (peerId, address, socketId, namespaces)...
// Refreshes this node's records and re-creates missing ones (Redis lost its data);
// -> peer ids now held by someone else
const REFRESH = SETS + `
local lost = {}
for i = 4, #ARGV, 4 do
  local key = ARGV[1] .. 'peer:' .. ARGV[i]
  local v = redis.call('HMGET', key, 'n', 's')
  if not v[1] then
    redis.call('HSET', key, 'a', ARGV[i + 1], 'n', ARGV[2], 's', ARGV[i + 2])
    if ARGV[i + 3] ~= '' then
      redis.call('HSET', key, 'ns', ARGV[i + 3])
    end
    redis.call('PEXPIRE', key, ARGV[3])
    sets(ARGV[1], ARGV[i + 3], ARGV[i], 'SADD')
  elseif v[1] == ARGV[2] and v[2] == ARGV[i + 2] then
    redis.call('PEXPIRE', key, ARGV[3])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost`

type ScriptRedis = Redis & {
  wsstarAdd(peerKey: string, address: string, nodeId: string, socketId: string, ttl: number, peerId: string, namespaces: string, prefix: string): Promise<Array<string | null> | null>
  wsstarRemove(peerKey: string, nodeId: string, socketId: string, peerId: string, prefix: string): Promise<number>
  wsstarGet(peerKey: string, nodePrefix: string): Promise<Array<string | null> | null>
  wsstarSample(setKey: string, count: number, nodePrefix: string, peerPrefix: string, namespace: string, nsPeersKey: string): Promise<Array<string | number>>
  wsstarSize(setKey: string, nsSetKey: string): Promise<number>
  wsstarRefresh(...args: Array<string | number>): Promise<string[]>
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
 * - `peers`          set of the ids of the default namespace's peers, for
 *   O(count) random samples (SRANDMEMBER) and the count; ids whose hash
 *   expired are dropped lazily when a sample meets them;
 * - `ns:<name>`      the same for each named namespace, and `nspeers` the
 *   ids of every peer that joined namespaces (for the count); the hash's
 *   `ns` field lists its names. A namespace's set is dropped by Redis with
 *   its last member; a sample drops an id whose record expired or moved to
 *   other namespaces, so it never returns a peer of another namespace;
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
  readonly #nsPeersKey: string
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
    this.#nsPeersKey = `${this.prefix}nspeers`
    this.#nodePrefix = `${this.prefix}node:`
    this.#peerPrefix = `${this.prefix}peer:`
    const redis = init.redis as ScriptRedis
    if (typeof redis.wsstarAdd !== 'function') {
      redis.defineCommand('wsstarAdd', { numberOfKeys: 1, lua: ADD })
      redis.defineCommand('wsstarRemove', { numberOfKeys: 1, lua: REMOVE })
      redis.defineCommand('wsstarGet', { numberOfKeys: 1, lua: GET })
      redis.defineCommand('wsstarSample', { numberOfKeys: 1, lua: SAMPLE })
      redis.defineCommand('wsstarSize', { numberOfKeys: 2, lua: SIZE })
      redis.defineCommand('wsstarRefresh', { numberOfKeys: 0, lua: REFRESH })
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
    const local: PeerRecord = { peerId: record.peerId, address: record.address, socketId: record.socketId }
    if (record.namespaces != null) {
      local.namespaces = record.namespaces
    }
    this.#local.set(record.peerId, local)
    try {
      const old = await this.#redis.wsstarAdd(this.#peerKey(record.peerId), record.address, this.nodeId, record.socketId, this.#peerTtlMs, record.peerId, joinNames(record.namespaces), this.prefix)
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
    const removed = await this.#redis.wsstarRemove(this.#peerKey(peerId), this.nodeId, socketId, peerId, this.prefix)
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

  async sample (count: number, exclude?: ReadonlySet<string>, namespaces?: readonly string[]): Promise<string[]> {
    if (count <= 0) {
      return []
    }
    if (namespaces == null || namespaces.length === 1) {
      return (await this.#sampleOne(namespaces?.[0] ?? DEFAULT_NAMESPACE, count, exclude)).addresses
    }
    // one script call per namespace, sent together: O(count) each
    const samples = await Promise.all(namespaces.map(async name => await this.#sampleOne(name, count, exclude)))
    return mergeSamples(samples, count, Math.random)
  }

  /** Peer ids known cluster-wide (may briefly count records that just expired). */
  async size (): Promise<number> {
    return await this.#redis.wsstarSize(this.#setKey, this.#nsPeersKey)
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
        void pipeline.wsstarRemove(this.#peerKey(record.peerId), this.nodeId, record.socketId, record.peerId, this.prefix)
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
      const args: Array<string | number> = [this.prefix, this.nodeId, this.#peerTtlMs]
      for (const record of records.slice(i, i + REFRESH_BATCH)) {
        args.push(record.peerId, record.address, record.socketId, joinNames(record.namespaces))
      }
      const lost = await this.#redis.wsstarRefresh(...args)
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

  /** Up to `count` live peers of one namespace (`DEFAULT_NAMESPACE`: the default one) not in `exclude`, and the namespace's size. */
  async #sampleOne (name: string, count: number, exclude?: ReadonlySet<string>): Promise<{ addresses: string[], size: number }> {
    // ask for a few more: some picks may be excluded or stale
    const ask = count + (exclude?.size ?? 0) + Math.ceil(count / 4) + 2
    const setKey = name === DEFAULT_NAMESPACE ? this.#setKey : `${this.prefix}ns:${name}`
    const flat = await this.#redis.wsstarSample(setKey, ask, this.#nodePrefix, this.#peerPrefix, name, this.#nsPeersKey)
    const addresses: string[] = []
    for (let i = 1; i + 1 < flat.length && addresses.length < count; i += 2) {
      const id = String(flat[i])
      if (exclude?.has(id) !== true) {
        addresses.push(String(flat[i + 1]))
      }
    }
    return { addresses, size: Number(flat[0]) }
  }

  #record (peerId: string, fields: Array<string | null> | null): PeerRecord | undefined {
    if (fields == null || fields[0] == null || fields[1] == null || fields[2] == null) {
      return undefined
    }
    const record: PeerRecord = { peerId, address: fields[0], socketId: fields[2] }
    if (fields[1] !== this.nodeId) {
      record.nodeId = fields[1]
    }
    if (fields[3] != null && fields[3] !== '') {
      record.namespaces = fields[3].split(' ')
    }
    return record
  }
}

/** A record's namespaces as its hash's `ns` field: the names joined by spaces ('' for the default namespace). */
function joinNames (namespaces: readonly string[] | undefined): string {
  return namespaces == null ? '' : namespaces.join(' ')
}
