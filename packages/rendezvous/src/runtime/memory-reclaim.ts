import { performance } from 'node:perf_hooks'
import { memoryReducingCollection } from '../internals/v8-internals.js'
import type { Logger } from 'pino'

/**
 * Event-loop utilisation below which the server counts as quiet. A server
 * with 10,000 idle peers (heartbeats, re-samples) sits at a few percent; a
 * join or dial burst keeps it near 100%.
 */
export const QUIET_UTILIZATION = 0.25

/** A reclaim waits until the RSS grew by this share of the RSS left after the previous one (or at start), at least `minGrowthBytes`. */
export const GROWTH_SHARE = 0.25

export interface MemoryReclaimInit {
  /** how long the event loop must have been quiet before a reclaim; 0 turns reclaiming off */
  quietMs: number
  /** least RSS growth since the last reclaim (or start) that is worth one */
  minGrowthBytes: number
  logger: Logger
  /** the process's resident set size, in bytes (injected by tests) */
  rss?: () => number
  /** event-loop utilisation since `previous` (injected by tests) */
  utilization?: (previous?: EventLoopSample) => { utilization: number, sample: EventLoopSample }
  /** the collection itself (injected by tests) */
  collect?: () => void
  now?: () => number
}

export type EventLoopSample = ReturnType<typeof performance.eventLoopUtilization>

export interface ReclaimStats {
  reclaims: number
  /** RSS given back over all reclaims (before − after, when positive) */
  reclaimedBytes: number
  /** event-loop time spent in reclaims, in seconds */
  pauseSeconds: number
}

/**
 * V8 keeps what a burst made it commit: a young generation grown to its
 * maximum (128 MiB on Node 24 here), old-space pages full of the burst's
 * garbage, and freed pages pooled for reuse. None of it goes back to the OS
 * while the server has any traffic: V8's memory reducer counts every
 * callback from the embedder (timers, sockets) as activity. After a ramp to
 * 10,000 joined peers that was 190 MiB of RSS holding no live object
 * (bench/README.md, memory).
 *
 * So once the event loop has been quiet for `quietMs` and the RSS has grown
 * by a quarter (at least `minGrowthBytes`) since the last reclaim, the
 * server runs one memory-reducing collection: V8's `CollectAllAvailableGarbage`
 * (compacts, shrinks the young generation, releases pooled pages). It blocks
 * the event loop for about 40 ms per 1,000 joined peers, which is why it
 * waits for a quiet loop and why the growth it needs scales with the RSS.
 */
export class MemoryReclaim {
  readonly #init: Required<Omit<MemoryReclaimInit, 'logger'>> & { logger: Logger }
  readonly #stats: ReclaimStats = { reclaims: 0, reclaimedBytes: 0, pauseSeconds: 0 }
  #timer?: ReturnType<typeof setInterval>
  #sample?: EventLoopSample
  /** RSS after the last reclaim, or at start */
  #reference = 0
  /** how long the loop has been quiet, in ms, as of the last check */
  #quietFor = 0

  constructor (init: MemoryReclaimInit) {
    this.#init = {
      rss: () => process.memoryUsage.rss(),
      utilization: (previous) => {
        const sample = performance.eventLoopUtilization()
        return { utilization: previous == null ? 1 : performance.eventLoopUtilization(sample, previous).utilization, sample }
      },
      collect: memoryReducingCollection,
      now: () => performance.now(),
      ...init
    }
  }

  get stats (): Readonly<ReclaimStats> {
    return this.#stats
  }

  get enabled (): boolean {
    return this.#init.quietMs > 0
  }

  start (): void {
    if (!this.enabled || this.#timer != null) {
      return
    }
    this.#reference = this.#init.rss()
    this.#sample = this.#init.utilization().sample
    // checks a few times per quiet period so one busy second resets the count
    const every = Math.max(50, Math.min(1000, Math.floor(this.#init.quietMs / 4)))
    this.#timer = setInterval(() => { this.check(every) }, every)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer != null) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  /** The periodic check: `elapsedMs` since the previous one. Returns true when it reclaimed. */
  check (elapsedMs: number): boolean {
    const { utilization, sample } = this.#init.utilization(this.#sample)
    this.#sample = sample
    this.#quietFor = utilization < QUIET_UTILIZATION ? this.#quietFor + elapsedMs : 0
    if (this.#quietFor < this.#init.quietMs) {
      return false
    }
    const before = this.#init.rss()
    if (before - this.#reference < Math.max(this.#init.minGrowthBytes, this.#reference * GROWTH_SHARE)) {
      return false
    }
    const t0 = this.#init.now()
    this.#init.collect()
    const pauseMs = this.#init.now() - t0
    const after = this.#init.rss()
    this.#reference = after
    this.#quietFor = 0
    // the collection's own time is not the application's: start a fresh window
    this.#sample = this.#init.utilization().sample
    this.#stats.reclaims++
    this.#stats.reclaimedBytes += Math.max(0, before - after)
    this.#stats.pauseSeconds += pauseMs / 1000
    this.#init.logger.info({ rssBefore: before, rssAfter: after, pauseMs: Math.round(pauseMs) }, 'quiet: gave unused heap back to the OS')
    return true
  }
}
