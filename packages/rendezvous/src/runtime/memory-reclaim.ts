import { PerformanceObserver, performance } from 'node:perf_hooks'
import { favourMemory, fullCollection, isMemoryReducerCollection } from '../internals/v8-internals.js'
import type { Logger } from 'pino'

/**
 * Event-loop utilisation below which the server counts as quiet. A server
 * with 10,000 idle peers (heartbeats, re-samples) sits at a few percent; a
 * join or dial burst keeps it near 100%.
 */
export const QUIET_UTILIZATION = 0.25

/** A reclaim waits until the RSS grew by this share of the RSS left after the previous one (or at start), at least `minGrowthBytes`. */
export const GROWTH_SHARE = 0.25

/**
 * How long V8 is left in its memory-saving mode: its memory reducer looks
 * every 8 s and runs up to three collections half a second to a few seconds
 * apart.
 */
export const REDUCE_WINDOW_MS = 30_000

/**
 * V8's memory reducer only runs after a mark-compact that grew the heap
 * since its last run; when none came, nothing happens in the memory-saving
 * mode. A reclaim that has seen no memory-reducing collection this long
 * after it began runs one full collection itself (which arms the memory
 * reducer): longer than an incremental one, shorter than the synchronous
 * memory-reducing collection of a whole heap.
 */
export const ARM_AFTER_MS = 10_000

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
  /** V8's memory-saving mode on or off (injected by tests) */
  favourMemory?: (on: boolean) => void
  /** one synchronous full collection (injected by tests) */
  collect?: () => void
  /**
   * Calls `collected(pauseMs)` for each memory-reducing collection of V8's
   * memory reducer until the returned function is called (injected by tests).
   */
  watchCollections?: (collected: (pauseMs: number) => void) => () => void
  now?: () => number
}

export type EventLoopSample = ReturnType<typeof performance.eventLoopUtilization>

export interface ReclaimStats {
  /** times V8 was asked to give memory back */
  reclaims: number
  /** RSS given back over all reclaims (RSS before − after, when positive) */
  reclaimedBytes: number
  /** event-loop time of the memory-reducing collections that ran meanwhile, in seconds */
  pauseSeconds: number
}

interface Reducing {
  since: number
  rssBefore: number
  collections: number
  pauseMs: number
  /** the reclaim ran a full collection to arm V8's memory reducer */
  armed: boolean
  unwatch: () => void
}

/** Memory-reducing collections of V8's memory reducer, seen through `gc` performance entries. */
function watchMemoryReducer (collected: (pauseMs: number) => void): () => void {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (isMemoryReducerCollection(entry)) {
        collected(entry.duration)
      }
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return () => { observer.disconnect() }
}

/**
 * V8 keeps what a burst made it commit: old-space pages full of the
 * burst's garbage, a young generation grown to its cap, freed pages pooled
 * for reuse. While the server has traffic its memory reducer rarely gives
 * them back: it starts only when the allocation rate is low, and the
 * heartbeats and re-samples of thousands of idle peers keep it above V8's
 * threshold.
 *
 * So once the event loop has been quiet for `quietMs` and the RSS has grown
 * by a quarter (at least `minGrowthBytes`) since the last reclaim, the
 * server puts V8 in its memory-saving mode for `REDUCE_WINDOW_MS`, or until
 * the loop gets busy again: the memory reducer then runs its
 * memory-reducing mark-compacts, marked incrementally and off the event
 * loop, compacted in one short pause each. A synchronous memory-reducing
 * collection did the same in one block of the event loop that grew with
 * the heap (about half a second at 19,000 peers); the
 * incremental ones leave the loop to the peers. When the memory reducer
 * is not armed (no mark-compact grew the heap since its last run), the
 * reclaim arms it with one full collection (`ARM_AFTER_MS`).
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
  /** V8 is in its memory-saving mode since `since` */
  #reducing?: Reducing

  constructor (init: MemoryReclaimInit) {
    this.#init = {
      rss: () => process.memoryUsage.rss(),
      utilization: (previous) => {
        const sample = performance.eventLoopUtilization()
        return { utilization: previous == null ? 1 : performance.eventLoopUtilization(sample, previous).utilization, sample }
      },
      favourMemory,
      collect: fullCollection,
      watchCollections: watchMemoryReducer,
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

  /** true while V8 is in its memory-saving mode for a reclaim */
  get reducing (): boolean {
    return this.#reducing != null
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
    this.#end()
  }

  /** The periodic check: `elapsedMs` since the previous one. Returns true when it began a reclaim. */
  check (elapsedMs: number): boolean {
    const { utilization, sample } = this.#init.utilization(this.#sample)
    this.#sample = sample
    const quiet = utilization < QUIET_UTILIZATION
    this.#quietFor = quiet ? this.#quietFor + elapsedMs : 0
    const reducing = this.#reducing
    if (reducing != null) {
      const elapsed = this.#init.now() - reducing.since
      // the memory-saving mode slows a busy server down: it ends with the quiet
      if (!quiet || elapsed >= REDUCE_WINDOW_MS) {
        this.#end()
      } else if (reducing.collections === 0 && !reducing.armed && elapsed >= ARM_AFTER_MS) {
        reducing.armed = true
        const t0 = this.#init.now()
        this.#init.collect()
        const pauseMs = this.#init.now() - t0
        reducing.pauseMs += pauseMs
        this.#stats.pauseSeconds += pauseMs / 1000
        // the collection's own time is not the application's: a fresh window
        this.#sample = this.#init.utilization().sample
      }
      return false
    }
    if (this.#quietFor < this.#init.quietMs) {
      return false
    }
    const before = this.#init.rss()
    if (before - this.#reference < Math.max(this.#init.minGrowthBytes, this.#reference * GROWTH_SHARE)) {
      return false
    }
    const started: Reducing = { since: this.#init.now(), rssBefore: before, collections: 0, pauseMs: 0, armed: false, unwatch: () => {} }
    started.unwatch = this.#init.watchCollections((pauseMs) => {
      started.collections++
      started.pauseMs += pauseMs
      this.#stats.pauseSeconds += pauseMs / 1000
    })
    this.#reducing = started
    this.#init.favourMemory(true)
    this.#stats.reclaims++
    return true
  }

  /** Ends the memory-saving mode (if on) and counts what it gave back. */
  #end (): void {
    const reducing = this.#reducing
    if (reducing == null) {
      return
    }
    this.#reducing = undefined
    this.#init.favourMemory(false)
    reducing.unwatch()
    const after = this.#init.rss()
    this.#reference = after
    this.#quietFor = 0
    this.#stats.reclaimedBytes += Math.max(0, reducing.rssBefore - after)
    this.#init.logger.info({ rssBefore: reducing.rssBefore, rssAfter: after, pauseMs: Math.round(reducing.pauseMs), collections: reducing.collections, armed: reducing.armed, seconds: Math.round((this.#init.now() - reducing.since) / 1000) },
      'quiet: gave unused heap back to the OS')
  }
}
