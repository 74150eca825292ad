/**
 * The in-memory registry's namespaces (samples per namespace and over
 * several, re-joins that move a peer), the merge of per-namespace samples
 * and the local namespace members the metrics read.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_NAMESPACE, InMemoryPeerRegistry } from '../src/discovery/peer-registry.js'
import { mergeSamples } from '../src/discovery/namespace-samples.js'
import { NamespaceMembers } from '../src/discovery/namespace-members.js'
import type { Session } from '../src/session/session.js'

/** A small deterministic PRNG, so a failure can be replayed. */
function prng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe('namespaces in the in-memory registry', () => {
  it('a sample holds the peers of the namespaces asked for, and no other, through random joins, moves and leaves', () => {
    const random = prng(7)
    const registry = new InMemoryPeerRegistry(random)
    const names = ['a', 'b', 'c']
    const model = new Map<string, string[] | undefined>()
    for (let step = 0; step < 3000; step++) {
      const id = `peer-${Math.floor(random() * 60)}`
      if (random() < 0.25) {
        registry.removeSync(id, 's')
        model.delete(id)
      } else {
        const pick = names.filter(() => random() < 0.4)
        const namespaces = pick.length === 0 ? undefined : pick
        registry.addSync({ peerId: id, address: `addr-${id}`, socketId: 's', ...(namespaces == null ? {} : { namespaces }) })
        model.set(id, namespaces)
      }
      if (step % 50 !== 0) continue
      assert.equal(registry.count, model.size)
      for (const asked of [undefined, ['a'], ['b', 'c'], [DEFAULT_NAMESPACE, 'c']]) {
        const expected = new Set([...model].filter(([, ns]) => (asked ?? [DEFAULT_NAMESPACE]).some(name => name === DEFAULT_NAMESPACE ? ns == null : ns?.includes(name) === true)).map(([id]) => `addr-${id}`))
        const sample = registry.sampleSync(1000, undefined, asked)
        assert.equal(new Set(sample).size, sample.length, 'distinct')
        assert.deepEqual(new Set(sample), expected, `step ${step}, namespaces ${JSON.stringify(asked)}`)
      }
    }
  })

  it('a sample leaves out the excluded ids in named namespaces as in the default one, and is bounded by count', () => {
    const registry = new InMemoryPeerRegistry(prng(3))
    for (let i = 0; i < 500; i++) {
      registry.addSync({ peerId: `p${i}`, address: `a${i}`, socketId: 's', namespaces: [i % 2 === 0 ? 'even' : 'odd'] })
    }
    const sample = registry.sampleSync(64, new Set(['p0', 'p2']), ['even'])
    assert.equal(sample.length, 64)
    assert.ok(sample.every(a => Number(a.slice(1)) % 2 === 0))
    assert.deepEqual(registry.sampleSync(1000, new Set(['p0']), ['even']).length, 249)
    assert.deepEqual(registry.sampleSync(10, undefined, ['nobody']), [])
    assert.deepEqual(registry.sampleSync(10), [], 'the default namespace is empty')
    assert.equal(registry.namespaceCount, 2)
  })

  it('mergeSamples: distinct addresses, each namespace about its share by size', () => {
    const random = prng(11)
    const big = { addresses: Array.from({ length: 64 }, (_, i) => `big-${i}`), size: 900 }
    const small = { addresses: Array.from({ length: 64 }, (_, i) => `small-${i}`), size: 100 }
    let fromBig = 0
    for (let round = 0; round < 50; round++) {
      const merged = mergeSamples([big, small], 64, random)
      assert.equal(merged.length, 64)
      fromBig += merged.filter(a => a.startsWith('big')).length
    }
    const share = fromBig / (50 * 64)
    assert.ok(share > 0.8 && share < 0.97, `share of the big namespace ${share}`)
    const overlap = mergeSamples([{ addresses: ['x', 'y'], size: 2 }, { addresses: ['y', 'z'], size: 2 }], 10, random)
    assert.deepEqual(new Set(overlap), new Set(['x', 'y', 'z']))
    assert.equal(overlap.length, 3)
  })

  it('NamespaceMembers: sockets per namespace with their registrations, the top namespaces by peers', () => {
    const members = new NamespaceMembers()
    const s1 = {} as unknown as Session
    const s2 = {} as unknown as Session
    members.add(s1, ['a', 'b'])
    members.add(s1, ['a'])
    members.add(s2, ['a'])
    members.add(s2, ['c'])
    assert.equal(members.size, 3)
    assert.deepEqual(members.top(2), [['a', 3], ['b', 1]])
    assert.deepEqual([...members.sessionsOf('a')], [s1, s2])
    members.remove(s1, ['a'])
    assert.deepEqual([...members.sessionsOf('a')], [s1, s2], 's1 still has a registration in a')
    members.remove(s1, ['a', 'b'])
    assert.deepEqual([...members.sessionsOf('a')], [s2])
    assert.deepEqual([...members.sessionsOf('b')], [])
    assert.equal(members.size, 2)
    assert.deepEqual(members.top(0), [])
  })
})
