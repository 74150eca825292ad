/**
 * What the server assumes about V8 beyond Node's documented API
 * (packages/rendezvous/src/internals/v8-internals.ts), checked on the V8 of the Node
 * these tests run on: `--expose-gc` set at run time gives the next context
 * made a `gc()`, and `--no-expose-gc` takes it away again, the main context
 * never having one; that `gc()` takes `{ type, execution, flavor }`, and a
 * last-resort collection gives back the young generation a burst grew.
 */
import assert from 'node:assert/strict'
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
})
