/**
 * What the server assumes about V8 beyond Node's documented API
 * (packages/rendezvous/src/internals/v8-internals.ts), checked on the V8 of the Node
 * these tests run on: `--expose-gc` set at run time gives the next context
 * made a `gc()`, and `--no-expose-gc` takes it away again, the main context
 * never having one; that `gc()` takes `{ type, execution, flavor }`, and a
 * last-resort collection gives back the young generation a burst grew; that
 * `--optimize-for-size` set at run time makes V8's memory reducer run a
 * memory-reducing mark-compact after a heap grew, which Node reports as a
 * major collection flagged ALL_EXTERNAL_MEMORY, and that it gives memory back.
 */
import assert from 'node:assert/strict'
import { PerformanceObserver } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { getHeapSpaceStatistics } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { rendezvousModule } from '../helpers/rendezvous-internals.js'

type V8Internals = typeof import('../../packages/rendezvous/src/internals/v8-internals.js')

const MiB = 2 ** 20

describe('contract: V8 (what v8-internals.ts relies on)', () => {
  it('a memory-reducing collection without --expose-gc shrinks a young generation a burst grew, and leaves gc() unexposed', async () => {
    const { memoryReducingCollection } = await rendezvousModule<V8Internals>('internals/v8-internals')
    assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'this test runs without --expose-gc')
    const newSpace = (): number => getHeapSpaceStatistics().find(s => s.space_name === 'new_space')?.space_size ?? 0
    // objects that survive scavenges make V8 grow the young generation
    let keep: Array<{ i: number, s: string }> = []
    for (let round = 0; round < 40 && newSpace() < 8 * MiB; round++) {
      for (let i = 0; i < 100_000; i++) keep.push({ i, s: `peer-${round}-${i}` })
    }
    const grown = newSpace()
    assert.ok(grown >= 8 * MiB, `young generation grew to ${grown / MiB} MiB`)
    keep = []
    memoryReducingCollection()
    const after = newSpace()
    assert.ok(after < grown / 2, `young generation ${grown / MiB} → ${after / MiB} MiB`)
    assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'gc() did not leak into the main context')
    assert.equal(runInNewContext('typeof gc'), 'undefined', 'a context made afterwards has no gc() either: the flag was unset')
    assert.equal(keep.length, 0)
    // a second call reuses the function it made
    memoryReducingCollection()
  })

  it('V8\'s memory-saving mode switched on at run time: its memory reducer runs a memory-reducing mark-compact, seen as one, and the heap shrinks', { timeout: 90_000 }, async () => {
    const { favourMemory, isMemoryReducerCollection } = await rendezvousModule<V8Internals>('internals/v8-internals')
    const heapSize = (): number => getHeapSpaceStatistics().reduce((a, s) => a + s.space_size, 0)
    // a heap that grew through mark-compacts (which arm V8's memory reducer), then lost most of what it held
    let keep: Array<{ i: number, s: string }> = []
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 50_000; i++) keep.push({ i, s: `peer-${round}-${i}` })
    }
    const grown = heapSize()
    keep = keep.slice(0, 1000)
    const seen: number[] = []
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (isMemoryReducerCollection(entry)) seen.push(entry.duration)
      }
    })
    observer.observe({ entryTypes: ['gc'] })
    // a trickle of allocation, as an idle server's
    const trickle = setInterval(() => { for (let i = 0; i < 100; i++) keep[i % keep.length] = { i, s: `t${i}` } }, 10)
    favourMemory(true)
    try {
      // the memory reducer looks every 8 s
      const deadline = Date.now() + 60_000
      while (seen.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    } finally {
      favourMemory(false)
      clearInterval(trickle)
      observer.disconnect()
    }
    assert.ok(seen.length > 0, 'a memory-reducing collection of the memory reducer within 60 s')
    const after = heapSize()
    assert.ok(after < grown / 2, `heap ${grown / MiB} → ${after / MiB} MiB`)
    assert.equal(keep.length, 1000)
  })
})
