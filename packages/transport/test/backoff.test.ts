import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { backoffDelay } from '../src/backoff.js'
import { resolveOptions } from '../src/options.js'

describe('backoffDelay', () => {
  const reconnect = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 }

  it('grows exponentially up to maxDelay without jitter', () => {
    const noJitter = { ...reconnect, jitter: 0 }
    assert.deepEqual([0, 1, 2, 3, 4, 5, 100].map(a => backoffDelay(a, noJitter)), [100, 200, 400, 800, 1000, 1000, 1000])
  })

  it('keeps every delay within [d * (1 - jitter), d]', () => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const d = Math.min(1000, 100 * 2 ** attempt)
      assert.equal(backoffDelay(attempt, reconnect, () => 0), d)
      assert.equal(backoffDelay(attempt, reconnect, () => 1), Math.round(d * 0.5))
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, reconnect)
        assert.ok(delay >= Math.round(d * 0.5) && delay <= d, `${delay} outside [${d / 2}, ${d}]`)
      }
    }
  })

  it('resolveOptions fills defaults and rejects nonsense', () => {
    const options = resolveOptions()
    assert.equal(options.challenge, true)
    assert.deepEqual(options.reconnect, { initialDelay: 250, maxDelay: 10_000, factor: 2, jitter: 0.5 })
    assert.equal(resolveOptions({ reconnect: { initialDelay: 5000, maxDelay: 10 } }).reconnect.maxDelay, 5000)
    assert.throws(() => resolveOptions({ reconnect: { jitter: 2 } }), TypeError)
    assert.throws(() => resolveOptions({ dialTimeout: -1 }), TypeError)
    assert.throws(() => resolveOptions({ reconnect: { factor: 0.5 } }), TypeError)
  })
})
