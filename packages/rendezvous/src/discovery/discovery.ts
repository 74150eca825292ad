import { DEFAULT_NAMESPACE } from './peer-registry.js'
import type { PeerRegistry } from './peer-registry.js'
import type { Session } from '../session/session.js'
import type { PeersDelta } from '@wsstar/protocol'
import type { Logger } from 'pino'

export interface DiscoveryInit {
  registry: PeerRegistry
  /** peers in a join sample and in each re-sample */
  sampleSize: number
  /** deltas go out at most this often */
  intervalMs: number
  /** most addresses per list of one delta */
  batchMax: number
  /** mean period of the per-socket re-sample */
  resampleIntervalMs: number
  /** sends one delta to every registered socket of the default namespace (encoded once) */
  broadcast(delta: PeersDelta): void
  /** sends one delta to every registered socket of the named namespace `namespace` (encoded once) */
  broadcastNamespace(namespace: string, delta: PeersDelta): void
  /** sends a delta to one socket */
  send(session: Session, delta: PeersDelta): void
  logger: Logger
  random?: () => number
  /** a list was cut to `batchMax` */
  onCapped?(): void
}

/**
 * Re-sample delays are rounded to this step. Node keeps one timer list per
 * distinct duration: unrounded random delays gave every registered socket a
 * list of its own (10,000 lists at 10,000 peers, each an object plus a
 * priority-queue entry); rounded, a 60 s ± 25 % period uses ~300 lists and
 * is still spread.
 */
export const RESAMPLE_DELAY_STEP_MS = 100

/**
 * An address over a delta's cap waits for the next periods, up to this many
 * periods' worth per list (`batchMax` each); beyond that the oldest are
 * dropped, and peers learn of them from the re-sample. So a burst of joins
 * (a start, everyone re-joining after a restart) is announced in full, a
 * delta at a time, while what a peer receives stays bounded.
 */
export const BACKLOG_PERIODS = 8

/** The first change after a quiet period is sent this long after it (at most one period). */
export const GATHER_MS = 100

/** What waits for the next delta of one namespace. */
interface Pending {
  joined: Set<string>
  left: Set<string>
}

/**
 * The namespaces a socket samples: undefined for the default namespace
 * alone (nothing is made for it), else those its registrations joined, the
 * default namespace among them when one of its registrations is in it.
 */
export function sampledNamespaces (session: Session): readonly string[] | undefined {
  const named = session.namespaces
  if (named == null) {
    return undefined
  }
  const names = new Set<string>()
  if (session.inDefaultNamespace) {
    names.add(DEFAULT_NAMESPACE)
  }
  for (const list of named.values()) {
    for (const name of list) {
      names.add(name)
    }
  }
  return [...names]
}

/** Takes up to `max` of `set`'s oldest entries out of it; then trims what is left to `backlog`, oldest first. */
function takeOldest (set: Set<string>, max: number, backlog: number): string[] {
  const out: string[] = []
  for (const address of set) {
    if (out.length >= max) {
      break
    }
    out.push(address)
  }
  for (const address of out) {
    set.delete(address)
  }
  for (const address of set) {
    if (set.size <= backlog) {
      break
    }
    set.delete(address)
  }
  return out
}

/**
 * Bounded discovery. A joiner gets a random sample; afterwards joins and
 * leaves are collected and broadcast as one `ws-peers { joined, left }`
 * packet per period (each list capped, oldest first; what is over the cap
 * waits for the next periods, within a backlog of BACKLOG_PERIODS), and
 * each registered socket gets a fresh random sample on a slow jittered
 * period. Per-peer traffic is O(sample), whatever the number of peers.
 *
 * Namespaces: each has its own delta per period, with the same caps, sent
 * to its sockets only, and samples are drawn from the socket's namespaces.
 * A socket in k namespaces gets at most k deltas per period (k is bounded
 * by `max-namespaces` per registration); nothing is per pair of namespaces.
 */
export class Discovery {
  readonly #init: DiscoveryInit
  readonly #random: () => number
  readonly #joined = new Set<string>()
  readonly #left = new Set<string>()
  /** `#joined` and `#left`: the default namespace's pending lists */
  readonly #default: Pending = { joined: this.#joined, left: this.#left }
  /** named namespaces with something pending; the default namespace's is `#joined`/`#left` */
  readonly #named = new Map<string, Pending>()
  #timer?: ReturnType<typeof setTimeout>
  #lastFlush = 0
  #stopped = false

  /** addresses waiting for the next delta */
  get pending (): number {
    let pending = this.#joined.size + this.#left.size
    for (const named of this.#named.values()) {
      pending += named.joined.size + named.left.size
    }
    return pending
  }

  constructor (init: DiscoveryInit) {
    this.#init = init
    this.#random = init.random ?? Math.random
  }

  joined (address: string, namespace: string = DEFAULT_NAMESPACE): void {
    const pending = this.#pendingOf(namespace)
    pending.left.delete(address)
    pending.joined.add(address)
    this.#schedule()
  }

  left (address: string, namespace: string = DEFAULT_NAMESPACE): void {
    // a peer that joined and left within one period is still announced as
    // left: peers that got it in a join sample meanwhile learn it is gone
    const pending = this.#pendingOf(namespace)
    pending.joined.delete(address)
    pending.left.add(address)
    this.#schedule()
  }

  /** A random sample of online peers of `session`'s namespaces, without its own addresses. */
  async sampleFor (session: Session): Promise<string[]> {
    return this.#init.registry.sample(this.#init.sampleSize, session.peerIds, sampledNamespaces(session))
  }

  /** Starts (or keeps) the periodic re-sample of a registered socket. */
  startResample (session: Session): void {
    if (session.resampleTimer != null || this.#stopped || this.#init.sampleSize === 0) {
      return
    }
    const jittered = this.#init.resampleIntervalMs * (0.75 + 0.5 * this.#random())
    const delay = Math.max(1, Math.round(jittered / RESAMPLE_DELAY_STEP_MS)) * RESAMPLE_DELAY_STEP_MS
    session.resampleTimer = setTimeout(() => {
      session.resampleTimer = undefined
      if (!session.connected || !session.registered || this.#stopped) {
        return
      }
      this.sampleFor(session).then(peers => {
        if (session.connected && session.registered && peers.length > 0) {
          this.#init.send(session, { joined: peers, left: [] })
        }
      }, (err: Error) => {
        // a registry that is away fails every socket's re-sample: its owner logs that once
        this.#init.logger.debug({ err }, 're-sample failed')
      }).finally(() => {
        if (session.connected && session.registered) {
          this.startResample(session)
        }
      })
    }, delay)
    session.resampleTimer.unref?.()
  }

  stopResample (session: Session): void {
    if (session.resampleTimer != null) {
      clearTimeout(session.resampleTimer)
      session.resampleTimer = undefined
    }
  }

  /** Sends what is pending now. */
  flush (): void {
    if (this.#timer != null) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#joined.size === 0 && this.#left.size === 0 && this.#named.size === 0) {
      return
    }
    this.#lastFlush = Date.now()
    let more = false
    if (this.#joined.size > 0 || this.#left.size > 0) {
      this.#init.broadcast(this.#take(this.#default))
      more = this.#joined.size > 0 || this.#left.size > 0
    }
    for (const [name, pending] of this.#named) {
      this.#init.broadcastNamespace(name, this.#take(pending))
      if (pending.joined.size === 0 && pending.left.size === 0) {
        this.#named.delete(name)
      } else {
        more = true
      }
    }
    if (more) {
      this.#schedule()
    }
  }

  /** One delta's lists out of `pending`: at most `batchMax` each, the rest kept within the backlog. */
  #take (pending: Pending): PeersDelta {
    const max = this.#init.batchMax
    if (pending.joined.size > max || pending.left.size > max) {
      this.#init.onCapped?.()
    }
    const backlog = max * BACKLOG_PERIODS
    return { joined: takeOldest(pending.joined, max, backlog), left: takeOldest(pending.left, max, backlog) }
  }

  #pendingOf (namespace: string): Pending {
    if (namespace === DEFAULT_NAMESPACE) {
      return this.#default
    }
    let pending = this.#named.get(namespace)
    if (pending == null) {
      pending = { joined: new Set(), left: new Set() }
      this.#named.set(namespace, pending)
    }
    return pending
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer != null) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    this.#joined.clear()
    this.#left.clear()
    this.#named.clear()
  }

  #schedule (): void {
    if (this.#timer != null || this.#stopped) {
      return
    }
    // after a quiet period, wait a little: a burst of joins (a start, every
    // peer re-joining after a restart) then shares one delta instead of the
    // first joiner taking a whole period for itself
    const gather = Math.min(GATHER_MS, this.#init.intervalMs)
    const wait = Math.max(gather, this.#lastFlush + this.#init.intervalMs - Date.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      try {
        this.flush()
      } catch (err) {
        this.#init.logger.warn({ err }, 'ws-peers broadcast failed')
      }
    }, wait)
    this.#timer.unref?.()
  }
}
