import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { releaseUpgradeRequest } from '../src/upgrade-request.js'

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

  it('does nothing more when there is no websocket', () => {
    const raw = { request: {} as unknown }
    releaseUpgradeRequest(raw)
    assert.equal(raw.request, null)
  })
})
