import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { ARM_AFTER_MS, MemoryReclaim, QUIET_UTILIZATION, REDUCE_WINDOW_MS } from '../src/runtime/memory-reclaim.js'
import type { EventLoopSample } from '../src/runtime/memory-reclaim.js'

const MiB = 2 ** 20
const logger = pino({ level: 'silent' })

/**
 * A MemoryReclaim on a scripted clock, RSS and event-loop utilisation; V8's
 * memory-saving mode is a flag here, and its memory reducer's collections
 * are run by hand (`reducerCollects`).
 */
function scripted (quietMs: number, minGrowthBytes: number) {
  const state = { rss: 100 * MiB, utilization: 0, favourMemory: false, switches: 0, watching: 0, fullCollections: 0 }
  const sample = {} as EventLoopSample
  let now = 0
  let collected: ((pauseMs: number) => void) | undefined
  const reclaim = new MemoryReclaim({
    quietMs,
    minGrowthBytes,
    logger,
    rss: () => state.rss,
    utilization: () => ({ utilization: state.utilization, sample }),
    favourMemory: (on) => { state.favourMemory = on; state.switches++ },
    collect: () => { state.fullCollections++; now += 50 },
    watchCollections: (fn) => {
      collected = fn
      state.watching++
      return () => { collected = undefined; state.watching-- }
    },
    now: () => now
  })
  return {
    state,
    reclaim,
    advance: (ms: number) => { now += ms },
    /** V8's memory reducer ran one collection of `pauseMs` that left `rssAfter` */
    reducerCollects: (pauseMs: number, rssAfter: number) => { state.rss = rssAfter; collected?.(pauseMs) }
  }
}

describe('memory reclaim: when it runs', () => {
  it('waits for the loop to be quiet for the whole period, and a busy check starts the count again', () => {
    const { state, reclaim } = scripted(1000, 10 * MiB)
    reclaim.start()
    reclaim.stop() // drive check() by hand; start() took the 100 MiB reference
    state.rss = 300 * MiB
    state.utilization = 0.9
    assert.equal(reclaim.check(500), false)
    state.utilization = QUIET_UTILIZATION / 2
    assert.equal(reclaim.check(500), false, 'quiet for 500 of 1000 ms')
    state.utilization = QUIET_UTILIZATION + 0.01
    assert.equal(reclaim.check(500), false, 'busy again: the count restarts')
    state.utilization = 0.05
    assert.equal(reclaim.check(500), false)
    assert.equal(state.favourMemory, false)
    assert.equal(reclaim.check(500), true, 'quiet for 1000 ms')
    assert.equal(state.favourMemory, true, 'V8 asked to favour memory')
    reclaim.stop()
  })

  it('needs the RSS to have grown by minGrowthBytes and by a quarter since the last reclaim', () => {
    const { state, reclaim, advance, reducerCollects } = scripted(100, 10 * MiB)
    reclaim.start()
    reclaim.stop()
    state.rss = 120 * MiB // +20 MiB: above minGrowth, below a quarter of 100 MiB
    assert.equal(reclaim.check(200), false)
    state.rss = 126 * MiB
    assert.equal(reclaim.check(200), true)
    reducerCollects(30, 110 * MiB)
    advance(REDUCE_WINDOW_MS)
    assert.equal(reclaim.check(200), false, 'the window ended')
    assert.deepEqual(reclaim.stats, { reclaims: 1, reclaimedBytes: 16 * MiB, pauseSeconds: 0.03 })
    // the reference is now the 110 MiB left: +26 MiB is below a quarter of it
    state.rss = 136 * MiB
    assert.equal(reclaim.check(200), false)
    state.rss = 140 * MiB
    assert.equal(reclaim.check(200), true)
    advance(REDUCE_WINDOW_MS)
    state.rss = 150 * MiB // nothing given back counts 0 bytes
    assert.equal(reclaim.check(200), false)
    assert.deepEqual(reclaim.stats, { reclaims: 2, reclaimedBytes: 16 * MiB, pauseSeconds: 0.03 })
  })

  it('leaves V8\'s memory-saving mode when the window ends or the loop gets busy, and never blocks the loop itself', () => {
    const { state, reclaim, advance, reducerCollects } = scripted(100, 10 * MiB)
    reclaim.start()
    reclaim.stop()
    state.rss = 200 * MiB
    assert.equal(reclaim.check(200), true)
    assert.equal(reclaim.reducing, true)
    assert.equal(state.watching, 1, 'the memory reducer\'s collections are watched while the mode is on')
    reducerCollects(20, 170 * MiB)
    reducerCollects(25, 150 * MiB)
    advance(1000)
    assert.equal(reclaim.check(200), false, 'no second reclaim while one runs')
    assert.equal(state.favourMemory, true)
    state.utilization = 0.9
    reclaim.check(200)
    assert.equal(state.favourMemory, false, 'a busy loop ends the mode at once')
    assert.equal(state.watching, 0)
    assert.equal(reclaim.reducing, false)
    assert.deepEqual(reclaim.stats, { reclaims: 1, reclaimedBytes: 50 * MiB, pauseSeconds: 0.045 })
    // stop() ends a reclaim that is running
    state.utilization = 0
    state.rss = 400 * MiB
    assert.equal(reclaim.check(200), true)
    reclaim.stop()
    assert.equal(state.favourMemory, false)
    assert.equal(state.switches, 4)
  })

  it('arms V8\'s memory reducer with one full collection when none of its collections came within ARM_AFTER_MS, and only then', () => {
    const { state, reclaim, advance, reducerCollects } = scripted(100, 10 * MiB)
    reclaim.start()
    reclaim.stop()
    state.rss = 200 * MiB
    assert.equal(reclaim.check(200), true)
    advance(ARM_AFTER_MS - 1)
    reclaim.check(200)
    assert.equal(state.fullCollections, 0, 'the memory reducer looks every 8 s: waited for')
    advance(1)
    reclaim.check(200)
    assert.equal(state.fullCollections, 1)
    reclaim.check(200)
    assert.equal(state.fullCollections, 1, 'once per reclaim')
    reducerCollects(20, 150 * MiB)
    advance(REDUCE_WINDOW_MS)
    reclaim.check(200)
    assert.deepEqual(reclaim.stats, { reclaims: 1, reclaimedBytes: 50 * MiB, pauseSeconds: 0.07 })
    // the memory reducer ran in time: no full collection
    state.rss = 300 * MiB
    assert.equal(reclaim.check(200), true)
    reducerCollects(10, 200 * MiB)
    advance(ARM_AFTER_MS * 2)
    reclaim.check(200)
    assert.equal(state.fullCollections, 1)
    reclaim.stop()
  })

  it('a quiet period of 0 turns it off', () => {
    const { reclaim, state } = scripted(0, 0)
    assert.equal(reclaim.enabled, false)
    reclaim.start()
    reclaim.stop()
    assert.equal(state.switches, 0)
  })
})
