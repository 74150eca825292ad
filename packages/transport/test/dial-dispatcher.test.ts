import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { defaultLogger } from '@libp2p/logger'
import { DialDispatcher, toBytes } from '../src/dial-dispatcher.js'
import type { DialEndpoint } from '../src/relayed-connection.js'
import type { Socket } from 'socket.io-client'

const ID_A = 'AAAAAAAAAAAAAAAAAAAAAA'
const ID_B = 'BBBBBBBBBBBBBBBBBBBBBB'

function recorder (): DialEndpoint & { calls: unknown[][] } {
  const calls: unknown[][] = []
  return {
    calls,
    onDataFrame: (bytes) => { calls.push(['d', bytes]) },
    onCreditFrame: (n) => { calls.push(['c', n]) },
    onEndFrame: (kind, error) => { calls.push(['e', kind, error]) },
    onTransportLost: (err) => { calls.push(['lost', err.message]) }
  }
}

describe('DialDispatcher', () => {
  it('routes frames by dial id through one listener per event', () => {
    const socket = new EventEmitter()
    const resets: string[] = []
    const dispatcher = new DialDispatcher(defaultLogger().forComponent('test'), (id) => { resets.push(id) })
    dispatcher.attach(socket as unknown as Socket)
    const a = recorder()
    const b = recorder()
    for (let i = 0; i < 100; i++) {
      dispatcher.add(`${String(i).padStart(2, '0')}AAAAAAAAAAAAAAAAAAAA`, recorder())
    }
    dispatcher.add(ID_A, a)
    dispatcher.add(ID_B, b)
    assert.deepEqual(['d', 'c', 'e'].map(e => socket.listenerCount(e)), [1, 1, 1])

    socket.emit('d', ID_A, Buffer.from([1, 2, 3]))
    socket.emit('d', ID_B, new Uint8Array([4]).buffer)
    socket.emit('c', ID_A, 4096)
    socket.emit('e', ID_B, 'close-write')
    socket.emit('e', ID_A, 'reset', { code: 'ERR_PEER_GONE', message: 'gone' })
    assert.equal(a.calls.length, 3)
    assert.deepEqual(a.calls[0], ['d', new Uint8Array([1, 2, 3])])
    assert.equal((a.calls[0][1] as Uint8Array).constructor, Uint8Array, 'Buffers become plain Uint8Array views')
    assert.deepEqual(a.calls[1], ['c', 4096])
    assert.deepEqual(a.calls[2], ['e', 'reset', { code: 'ERR_PEER_GONE', message: 'gone' }])
    assert.deepEqual(b.calls, [['d', new Uint8Array([4])], ['e', 'close-write', undefined]])
  })

  it('drops malformed frames and resets unknown dials once', () => {
    const socket = new EventEmitter()
    const resets: string[] = []
    const dispatcher = new DialDispatcher(defaultLogger().forComponent('test'), (id) => { resets.push(id) })
    dispatcher.attach(socket as unknown as Socket)
    const a = recorder()
    dispatcher.add(ID_A, a)
    socket.emit('d', ID_A, 'not bytes')
    socket.emit('d', ID_A, new Uint8Array(0))
    socket.emit('d', ID_A, new Uint8Array(64 * 1024 + 1))
    socket.emit('d', 'short', new Uint8Array(1))
    socket.emit('c', ID_A, -5)
    socket.emit('c', ID_A, 1.5)
    socket.emit('e', ID_A, 'explode')
    assert.deepEqual(a.calls, [])
    socket.emit('d', ID_B, new Uint8Array(1))
    socket.emit('d', ID_B, new Uint8Array(1))
    socket.emit('c', ID_B, 10)
    assert.deepEqual(resets, [ID_B])
  })

  it('converts binary payloads without copying', () => {
    const buf = Buffer.from([9, 8, 7])
    const view = toBytes(buf) as Uint8Array
    assert.equal(view.buffer, buf.buffer)
    assert.deepEqual(toBytes(new Uint8Array([1]).buffer), new Uint8Array([1]))
    assert.equal(toBytes('x'), 'x')
  })
})
