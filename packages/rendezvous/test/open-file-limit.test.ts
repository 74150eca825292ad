import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { openFileLimit, socketCeiling } from '../src/runtime/open-file-limit.js'

describe('open-file limit', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            1024                 20000                files\n'
    assert.equal(openFileLimit(text), 1024)
    assert.equal(openFileLimit('Max open files            unlimited            unlimited            files'), undefined)
    assert.equal(openFileLimit(''), undefined)
  })

  it('reads this process\'s limit on Linux', { skip: process.platform !== 'linux' }, () => {
    const limit = openFileLimit()
    assert.ok(limit != null && limit > 0, String(limit))
  })

  it('keeps fd-reserve free below the limit; no limit known: no ceiling', () => {
    assert.equal(socketCeiling(20000, 256), 19744)
    assert.equal(socketCeiling(100, 256), 0)
    assert.equal(socketCeiling(undefined, 256), Infinity)
  })
})
