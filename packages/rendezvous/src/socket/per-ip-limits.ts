import { TokenBucket } from '../session/token-bucket.js'

export interface PerIpLimitsInit {
  /** connections one client address may hold */
  maxSockets: number
  /** joins one client address may start per second (token bucket refill) */
  joinRate: number
  /** join token bucket size per client address */
  joinBurst: number
  /** clock in ms (tests) */
  now?: () => number
}

interface ClientIp {
  sockets: number
  joins: TokenBucket
}

/** how often, at most, addresses without connections and with a full join bucket are forgotten */
const SWEEP_INTERVAL_MS = 10_000

/**
 * Connections and join tokens per client address (`client-ip.ts` says what
 * an address is). An address is forgotten once it has no connection and its
 * join bucket has refilled, so reconnecting does not buy a fresh burst.
 */
export class PerIpLimits {
  readonly #init: PerIpLimitsInit
  readonly #now: () => number
  readonly #ips = new Map<string, ClientIp>()
  #lastSweep: number

  constructor (init: PerIpLimitsInit) {
    this.#init = init
    this.#now = init.now ?? (() => performance.now())
    this.#lastSweep = this.#now()
  }

  /** addresses tracked (with connections, or a join bucket still refilling) */
  get size (): number {
    return this.#ips.size
  }

  /** A connection from `ip` opened; false when it is one over the limit (the caller refuses it, and still calls `closed`). */
  opened (ip: string): boolean {
    this.#sweep()
    const entry = this.#entry(ip)
    entry.sockets++
    return entry.sockets <= this.#init.maxSockets
  }

  closed (ip: string): void {
    const entry = this.#ips.get(ip)
    if (entry == null) {
      return
    }
    entry.sockets = Math.max(0, entry.sockets - 1)
    if (forgettable(entry)) {
      this.#ips.delete(ip)
    }
  }

  /** connections `ip` holds now */
  sockets (ip: string): number {
    return this.#ips.get(ip)?.sockets ?? 0
  }

  /** Takes a join token for `ip`; false when its bucket is empty. */
  takeJoin (ip: string): boolean {
    return this.#entry(ip).joins.take()
  }

  #entry (ip: string): ClientIp {
    let entry = this.#ips.get(ip)
    if (entry == null) {
      entry = { sockets: 0, joins: new TokenBucket(this.#init.joinRate, this.#init.joinBurst, this.#now) }
      this.#ips.set(ip, entry)
    }
    return entry
  }

  #sweep (): void {
    const now = this.#now()
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) {
      return
    }
    this.#lastSweep = now
    for (const [ip, entry] of this.#ips) {
      if (forgettable(entry)) {
        this.#ips.delete(ip)
      }
    }
  }
}

/** An address with no connection and a full join bucket: forgetting it gives it nothing it does not have. */
function forgettable (entry: ClientIp): boolean {
  return entry.sockets === 0 && entry.joins.tokens >= entry.joins.burst
}
