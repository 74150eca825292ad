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
 */
export class Discovery {
  readonly #init: DiscoveryInit
  readonly #random: () => number
  readonly #joined = new Set<string>()
  readonly #left = new Set<string>()
  #timer?: ReturnType<typeof setTimeout>
  #lastFlush = 0
  #stopped = false

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
    if (this.#joined.size === 0 && this.#left.size === 0) {
      return
    }
    const max = this.#init.batchMax
    if (this.#joined.size > max || this.#left.size > max) {
      this.#init.onCapped?.()
    }
    const backlog = max * BACKLOG_PERIODS
    const joined = takeOldest(this.#joined, max, backlog)
    const left = takeOldest(this.#left, max, backlog)
    this.#lastFlush = Date.now()
    this.#init.broadcast({ joined, left })
    if (this.pending > 0) {
      this.#schedule()
    }
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
