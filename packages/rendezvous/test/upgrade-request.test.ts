import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { releaseUpgradeRequest, upgradeHost } from '../src/session/upgrade-request.js'

// what it drops, on a real engine.io server: test/contracts/engine-io.test.ts
describe('releaseUpgradeRequest', () => {
  it('keeps the Host header (what a join must name), nothing oversized', () => {
    const raw = { request: { headers: { host: 'star.example.com', cookie: 'x'.repeat(1000) } } as unknown }
    releaseUpgradeRequest(raw)
    assert.equal(upgradeHost(raw), 'star.example.com')
    const huge = { request: { headers: { host: 'h'.repeat(301) } } as unknown }
    releaseUpgradeRequest(huge)
    assert.equal(upgradeHost(huge), undefined)
    const none = { request: { headers: {} } as unknown }
    releaseUpgradeRequest(none)
    assert.equal(upgradeHost(none), undefined)
  })

  it('does nothing more when there is no websocket', () => {
    const raw = { request: {} as unknown }
    releaseUpgradeRequest(raw)
    assert.equal(raw.request, null)
  })
})
