import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { MemoryReclaim, QUIET_UTILIZATION } from '../src/runtime/memory-reclaim.js'
import type { EventLoopSample } from '../src/runtime/memory-reclaim.js'

const MiB = 2 ** 20
const logger = pino({ level: 'silent' })

/** A MemoryReclaim on a scripted clock, RSS and event-loop utilisation. */
function scripted (quietMs: number, minGrowthBytes: number) {
  const state = { rss: 100 * MiB, utilization: 0, collections: 0, rssAfterCollect: 100 * MiB }
  const sample = {} as EventLoopSample
  let now = 0
  const reclaim = new MemoryReclaim({
    quietMs,
    minGrowthBytes,
    logger,
    rss: () => state.rss,
    utilization: () => ({ utilization: state.utilization, sample }),
    collect: () => { state.collections++; now += 40; state.rss = state.rssAfterCollect },
    now: () => now
  })
  return { state, reclaim }
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
    assert.equal(state.collections, 0)
    assert.equal(reclaim.check(500), true, 'quiet for 1000 ms')
    assert.equal(state.collections, 1)
  })

  it('needs the RSS to have grown by minGrowthBytes and by a quarter since the last reclaim', () => {
    const { state, reclaim } = scripted(100, 10 * MiB)
    reclaim.start()
    reclaim.stop()
    state.rss = 120 * MiB // +20 MiB: above minGrowth, below a quarter of 100 MiB
    assert.equal(reclaim.check(200), false)
    state.rss = 126 * MiB
    state.rssAfterCollect = 110 * MiB
    assert.equal(reclaim.check(200), true)
    assert.deepEqual(reclaim.stats, { reclaims: 1, reclaimedBytes: 16 * MiB, pauseSeconds: 0.04 })
    // the reference is now the 110 MiB left: +26 MiB is below a quarter of it
    state.rss = 136 * MiB
    assert.equal(reclaim.check(200), false)
    state.rss = 140 * MiB
    state.rssAfterCollect = 150 * MiB // a collection that gave nothing back counts 0 bytes
    assert.equal(reclaim.check(200), true)
    assert.deepEqual(reclaim.stats, { reclaims: 2, reclaimedBytes: 16 * MiB, pauseSeconds: 0.08 })
  })

  it('a quiet period of 0 turns it off', () => {
    const { reclaim } = scripted(0, 0)
    assert.equal(reclaim.enabled, false)
    reclaim.start()
    reclaim.stop()
  })
})
