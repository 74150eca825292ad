import type { Redis } from 'ioredis'
import type { Logger } from 'pino'

/** One replica of the cluster as it last described itself. */
export interface ClusterNode {
  nodeId: string
  /** its server addresses (its `--announce` list, else its bound addresses) */
  addresses: string[]
  /** registrations its sockets hold */
  peers: number
}

export interface ClusterNodesInit {
  /** a command connection (not one in subscriber mode) */
  redis: Redis
  nodeId: string
  prefix: string
  /** a replica that has not described itself for this long is gone, ms */
  ttlMs: number
  /** how often this replica describes itself and reads the others, ms */
  intervalMs: number
  /** what this replica says about itself now */
  self(): Omit<ClusterNode, 'nodeId'>
  /** the cluster's server addresses changed (a replica came or went) */
  onAddresses?(addresses: string[]): void
  logger?: Logger
}

// KEYS[1] node id set; ARGV info key prefix, own id, own info, ttl
// -> flat [nodeId, info, ...] of every live replica; drops ids whose info expired
const BEAT = `
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[1], ARGV[2])
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = redis.call('GET', ARGV[1] .. id)
  if info then
    out[#out + 1] = id
    out[#out + 1] = info
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out`

type BeatRedis = Redis & {
  wsstarNodesBeat(setKey: string, infoPrefix: string, nodeId: string, info: string, ttl: number): Promise<string[]>
}

/**
 * Who the cluster is: every replica writes its server addresses and peer
 * count under `info:<nodeId>` (expiring) every `intervalMs` and reads the
 * others' in the same script, one round trip. Join answers name the
 * cluster's servers from this list (only what the replicas announce about
 * themselves, never anything a client sent), and the status page and
 * metrics show it.
 */
export class ClusterNodes {
  readonly #init: ClusterNodesInit
  readonly #redis: BeatRedis
  readonly #setKey: string
  readonly #infoPrefix: string
  #nodes: ClusterNode[] = []
  #addresses: string[] = []
  #timer?: ReturnType<typeof setInterval>
  #beating = false
  #closed = false
  /** round-trip time of the last beat, seconds (undefined: none answered yet) */
  lastRoundTrip?: number

  constructor (init: ClusterNodesInit) {
    this.#init = init
    this.#setKey = `${init.prefix}nodes`
    this.#infoPrefix = `${init.prefix}info:`
    const redis = init.redis as BeatRedis
    if (typeof redis.wsstarNodesBeat !== 'function') {
      redis.defineCommand('wsstarNodesBeat', { numberOfKeys: 1, lua: BEAT })
    }
    this.#redis = redis
  }

  /** Describes this replica and reads the others now, then every interval. */
  async start (): Promise<void> {
    if (this.#timer == null) {
      this.#timer = setInterval(() => { void this.beat() }, this.#init.intervalMs)
      this.#timer.unref?.()
    }
    await this.beat()
  }

  /** The replicas seen at the last beat (this one always included). */
  get nodes (): ClusterNode[] {
    return this.#nodes.length > 0 ? this.#nodes : [{ nodeId: this.#init.nodeId, ...this.#init.self() }]
  }

  /** Every server address of the cluster, each once. */
  get addresses (): string[] {
    return this.#addresses.length > 0 ? this.#addresses : this.#init.self().addresses
  }

  async beat (): Promise<void> {
    if (this.#beating || this.#closed) {
      return
    }
    this.#beating = true
    try {
      const self = this.#init.self()
      const started = performance.now()
      const flat = await this.#redis.wsstarNodesBeat(this.#setKey, this.#infoPrefix, this.#init.nodeId, JSON.stringify({ a: self.addresses, p: self.peers }), this.#init.ttlMs)
      this.lastRoundTrip = (performance.now() - started) / 1000
      const nodes: ClusterNode[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const node = parseInfo(flat[i], flat[i + 1])
        if (node != null) {
          nodes.push(node)
        }
      }
      nodes.sort((a, b) => a.nodeId.localeCompare(b.nodeId))
      this.#nodes = nodes
      const addresses = [...new Set([...self.addresses, ...nodes.flatMap(n => n.addresses)])].sort()
      const changed = addresses.join(' ') !== this.#addresses.join(' ')
      this.#addresses = addresses
      if (changed) {
        this.#init.onAddresses?.(addresses)
      }
    } catch (err) {
      this.#init.logger?.debug({ err }, 'cannot describe this replica to the cluster')
    } finally {
      this.#beating = false
    }
  }

  async close (): Promise<void> {
    if (this.#closed) {
      return
    }
    this.#closed = true
    clearInterval(this.#timer)
    if (this.#redis.status !== 'ready') {
      return
    }
    try {
      await this.#redis.multi().del(`${this.#infoPrefix}${this.#init.nodeId}`).srem(this.#setKey, this.#init.nodeId).exec()
    } catch (err) {
      this.#init.logger?.debug({ err }, 'cannot remove this replica from the cluster list')
    }
  }
}

/** A replica's info as written by `beat`; anything else is skipped. */
function parseInfo (nodeId: string, json: string): ClusterNode | undefined {
  try {
    const info = JSON.parse(json) as { a?: unknown, p?: unknown }
    const addresses = Array.isArray(info.a) ? info.a.filter((a): a is string => typeof a === 'string') : []
    const peers = typeof info.p === 'number' && Number.isSafeInteger(info.p) && info.p >= 0 ? info.p : 0
    return { nodeId, addresses, peers }
  } catch {
    return undefined
  }
}
