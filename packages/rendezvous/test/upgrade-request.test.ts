import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { releaseUpgradeRequest, upgradeHost } from '../src/upgrade-request.js'

describe('releaseUpgradeRequest', () => {
  it('drops the request and the upgrade shim\'s once-close listener, keeps the websocket\'s own', () => {
    const tcp = new EventEmitter()
    const wsOwn = (): void => {}
    tcp.once('close', () => {})
    tcp.on('close', wsOwn)
    const raw = { request: { headers: {} } as unknown, transport: { socket: { _socket: tcp } } }
    releaseUpgradeRequest(raw)
    assert.equal(raw.request, null)
    assert.deepEqual(tcp.listeners('close'), [wsOwn])
  })

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
