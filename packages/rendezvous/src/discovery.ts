import type { PeerRegistry } from './peer-registry.js'
import type { Session } from './session.js'
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
  /** sends one delta to every registered socket (encoded once) */
  broadcast(delta: PeersDelta): void
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

/** `count` random elements of `items` (all of them, shuffled, when fewer). */
export function randomSubset<T> (items: T[], count: number, random: () => number = Math.random): T[] {
  const n = Math.min(count, items.length)
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (items.length - i))
    const tmp = items[i]
    items[i] = items[j]
    items[j] = tmp
  }
  items.length = n
  return items
}

/**
 * Bounded discovery. A joiner gets a random sample; afterwards joins and
 * leaves are collected and broadcast as one `ws-peers { joined, left }`
 * packet per period (each list capped, a random subset beyond the cap), and
 * each registered socket gets a fresh random sample on a slow jittered
 * period. Per-peer traffic is O(sample), whatever the number of peers.
 */
export class Discovery {
  readonly #init: DiscoveryInit
  readonly #random: () => number
  readonly #joined = new Set<string>()
  readonly #left = new Set<string>()
  #timer?: ReturnType<typeof setTimeout>
  #lastFlush = 0
  #stopped = false
  /** deltas broadcast so far */
  deltas = 0

  /** addresses waiting for the next delta */
  get pending (): number {
    return this.#joined.size + this.#left.size
  }

  constructor (init: DiscoveryInit) {
    this.#init = init
    this.#random = init.random ?? Math.random
  }

  joined (address: string): void {
    this.#left.delete(address)
    this.#joined.add(address)
    this.#schedule()
  }

  left (address: string): void {
    // a peer that joined and left within one period is still announced as
    // left: peers that got it in a join sample meanwhile learn it is gone
    this.#joined.delete(address)
    this.#left.add(address)
    this.#schedule()
  }

  /** A random sample of online peers for `session`, without its own addresses. */
  async sampleFor (session: Session): Promise<string[]> {
    return this.#init.registry.sample(this.#init.sampleSize, session.peerIds)
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
        this.#init.logger.warn({ err }, 're-sample failed')
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
    if (this.#joined.size === 0 && this.#left.size === 0) {
      return
    }
    const max = this.#init.batchMax
    if (this.#joined.size > max || this.#left.size > max) {
      this.#init.onCapped?.()
    }
    const joined = randomSubset([...this.#joined], max, this.#random)
    const left = randomSubset([...this.#left], max, this.#random)
    this.#joined.clear()
    this.#left.clear()
    this.#lastFlush = Date.now()
    this.deltas++
    this.#init.broadcast({ joined, left })
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer != null) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    this.#joined.clear()
    this.#left.clear()
  }

  #schedule (): void {
    if (this.#timer != null || this.#stopped) {
      return
    }
    const wait = Math.max(0, this.#lastFlush + this.#init.intervalMs - Date.now())
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
