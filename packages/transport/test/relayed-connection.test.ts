import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { pEvent } from 'p-event'
import { FakeRelay } from './fake-relay.js'
import type { RelayedConnection } from '../src/relayed-connection.js'

async function sendAll (conn: RelayedConnection, data: Uint8Array, chunk = 100_000): Promise<void> {
  for (let i = 0; i < data.byteLength; i += chunk) {
    if (!conn.send(data.subarray(i, i + chunk))) {
      await pEvent(conn, 'drain', { rejectionEvents: ['close'], timeout: 10_000 })
    }
  }
}

function collect (conn: RelayedConnection): { bytes: () => Buffer, done: Promise<void> } {
  const chunks: Buffer[] = []
  conn.addEventListener('message', (evt) => { chunks.push(Buffer.from(evt.data.subarray())) })
  const done = new Promise<void>(resolve => { conn.addEventListener('remoteCloseWrite', () => { resolve() }) })
  return { bytes: () => Buffer.concat(chunks), done }
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('RelayedConnection', () => {
  it('moves bytes exactly in frames of at most maxFrame, within the credit window', async () => {
    const relay = new FakeRelay()
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const rx = collect(relay.b)
    await sendAll(relay.a, data)
    await relay.a.close()
    await rx.done
    assert.equal(sha(rx.bytes()), sha(data))
    assert.deepEqual(relay.violations, [])
    assert.ok(relay.maxInFlight.ab <= relay.window)
    assert.ok(relay.frames.filter(f => f.event === 'd').length >= data.byteLength / relay.maxFrame)
    // credit is batched: far fewer credit frames than data frames
    const credits = relay.frames.filter(f => f.event === 'c').length
    assert.ok(credits <= Math.ceil(data.byteLength / (relay.window / 4)) + 1, `${credits} credit frames`)
  })

  it('a paused (or unread) receiver stops the sender at exactly one window', async () => {
    const relay = new FakeRelay()
    const rx = collect(relay.b)
    relay.b.pause()
    const data = randomBytes(relay.window * 3)
    let sent = 0
    while (sent < data.byteLength && relay.a.send(data.subarray(sent, sent + 10_000))) {
      sent += 10_000
    }
    await sleep(50)
    assert.equal(relay.a.sendCredit, 0)
    assert.equal(relay.a.writableNeedsDrain, true)
    assert.equal(relay.inFlight.ab, relay.window)
    assert.equal(relay.b.readBufferLength, relay.window)
    // resume: credit flows back, the sender drains and finishes
    const drained = pEvent(relay.a, 'drain', { timeout: 10_000 })
    relay.b.resume()
    await drained
    await sendAll(relay.a, data.subarray(sent + 10_000))
    await relay.a.close()
    await rx.done
    assert.equal(sha(rx.bytes()), sha(data))
    assert.deepEqual(relay.violations, [])
  })

  it('close-write from one side closes both ends and forgets the dial', async () => {
    const relay = new FakeRelay()
    collect(relay.b)
    relay.a.send(new Uint8Array([1, 2, 3]))
    const bClosed = pEvent(relay.b, 'close', { timeout: 10_000 })
    await relay.a.close()
    await bClosed
    await sleep(20)
    assert.equal(relay.a.status, 'closed')
    assert.equal(relay.b.status, 'closed')
    assert.ok(relay.a.ended && relay.b.ended)
    assert.deepEqual([...relay.ended].sort(), ['a', 'b'])
    const ends = relay.frames.filter(f => f.event === 'e').map(f => `${f.from}:${String(f.args[1])}`)
    assert.deepEqual(ends, ['a:close-write', 'b:close-write'])
  })

  it('abort sends a reset; the other end is reset', async () => {
    const relay = new FakeRelay()
    const bClosed = pEvent(relay.b, 'close', { timeout: 10_000 })
    relay.a.abort(new Error('boom'))
    const evt: any = await bClosed
    assert.equal(relay.b.status, 'reset')
    assert.ok(evt.error != null)
    assert.ok(relay.a.ended && relay.b.ended)
  })

  it('a lost socket resets the connection', async () => {
    const relay = new FakeRelay()
    const closed = pEvent(relay.a, 'close', { timeout: 10_000 })
    relay.a.onTransportLost(new Error('socket gone'), false)
    await closed
    assert.equal(relay.a.status, 'reset')
    assert.ok(relay.ended.has('a'))
  })
})
