/**
 * Fair sharing of a receiver (docs/PROTOCOL.md, "Fair sharing of a
 * receiver"): while another dial sends to the same socket, a bulk dial keeps
 * no more than its share of data on the way to the receiver, and the server
 * holds the rest of what its sender may send; a small frame on the other
 * dial goes out at once, ahead of the held data. The receiver here stops
 * reading while the frames are queued, so the order it reads them in is the
 * order the server wrote them: no timing is asserted.
 */
import { describe, it, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { DialEnd, closeClients, openDial, resumeReading, stopReading } from '@wsstar/raw-client'
import { joinedClient, metricValue, startServer, waitUntil } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'

const KiB = 1024
const MiB = 1024 * KiB

describe('fair sharing of a receiver', () => {
  const servers: RendezvousServer[] = []
  afterEach(() => { closeClients() })
  after(async () => { await Promise.all(servers.map(async s => { await s.stop() })) })

  it('a small frame on one dial reaches the receiver ahead of most of a window of bulk data sent before it on another', { timeout: 60_000 }, async (t) => {
    const server = await startServer()
    servers.push(server)
    const [bulk, small, receiver] = await Promise.all([joinedClient(server), joinedClient(server), joinedClient(server)])
    const window = receiver.result.window
    const bulkDial = await openDial(bulk, receiver)
    const smallDial = await openDial(small, receiver)
    const bulkOut = new DialEnd(bulk.socket, bulkDial, window, { keepChunks: false })
    const smallOut = new DialEnd(small.socket, smallDial, window, { keepChunks: false })
    // what the receiver reads, in order: bulk bytes, and the small frame sent after them as a marker
    const order: Array<number | 'probe'> = []
    receiver.socket.on('d', (id: string, bytes: Uint8Array) => {
      if (id === bulkDial) order.push(bytes.byteLength)
      else if (bytes[0] === 2) order.push('probe')
    })
    const bulkIn = new DialEnd(receiver.socket, bulkDial, window, { keepChunks: false })
    const smallIn = new DialEnd(receiver.socket, smallDial, window, { keepChunks: false })

    // the bulk dial runs a while: the receiver grants it credit in its usual batches
    await bulkOut.send(new Uint8Array(2 * MiB))
    await bulkIn.until(() => bulkIn.receivedBytes === 2 * MiB, 20_000)

    // the receiver stops reading; the other dial is in use, and the bulk sender spends its whole window
    stopReading(receiver.socket)
    try {
      order.length = 0
      await smallOut.send(new Uint8Array([1]))
      await waitUntil(() => server.inspectDial(smallDial)?.forward.relayed === 1, 10_000, 'the server to take the first small frame')
      const sending = bulkOut.send(new Uint8Array(window))
      await waitUntil(() => bulkOut.credit === 0, 10_000, 'the bulk sender to spend its window')
      await waitUntil(() => server.inspectDial(bulkDial)?.forward.inFlight === window, 10_000, 'the server to take the whole window')
      // then one small frame on the other dial
      await smallOut.send(new Uint8Array([2]))
      await waitUntil(() => server.inspectDial(smallDial)?.forward.relayed === 2, 10_000, 'the server to take the small frame')
      const held = server.inspectDial(bulkDial)?.forward.queued ?? 0
      assert.ok(held >= window / 4, `the server holds part of the bulk window back (${held} bytes)`)
      resumeReading(receiver.socket)
      await sending
      await bulkIn.until(() => bulkIn.receivedBytes === 2 * MiB + window, 20_000)
      await smallIn.until(() => smallIn.receivedBytes === 2)
    } finally {
      resumeReading(receiver.socket)
    }
    const ahead = order.slice(0, order.indexOf('probe')).reduce<number>((sum, n) => sum + (n as number), 0)
    assert.ok(order.includes('probe'))
    t.diagnostic(`${ahead} bulk bytes reached the receiver before the small frame`)
    // without sharing the whole window (1 MiB) was on its way first
    assert.ok(ahead <= window / 2, `${ahead} bulk bytes reached the receiver before the small frame (window ${window})`)
    assert.ok(await metricValue(server, 'wsstar_relay_shared_frames_total') >= 1)
    for (const end of [bulkOut, smallOut, bulkIn, smallIn]) end.detach()
  })

  it('a bulk dial alone keeps its whole window on the way to its receiver', { timeout: 60_000 }, async () => {
    const server = await startServer()
    servers.push(server)
    const [bulk, receiver] = await Promise.all([joinedClient(server), joinedClient(server)])
    const window = receiver.result.window
    const bulkDial = await openDial(bulk, receiver)
    const bulkOut = new DialEnd(bulk.socket, bulkDial, window, { keepChunks: false })
    const bulkIn = new DialEnd(receiver.socket, bulkDial, window, { keepChunks: false })
    await bulkOut.send(new Uint8Array(2 * MiB))
    await bulkIn.until(() => bulkIn.receivedBytes === 2 * MiB, 20_000)
    stopReading(receiver.socket)
    try {
      const sending = bulkOut.send(new Uint8Array(window))
      await waitUntil(() => server.inspectDial(bulkDial)?.forward.inFlight === window, 10_000, 'the server to take the whole window')
      assert.equal(server.inspectDial(bulkDial)?.forward.queued, 0, 'nothing held back: no other dial sends to the receiver')
      resumeReading(receiver.socket)
      await sending
      await bulkIn.until(() => bulkIn.receivedBytes === 2 * MiB + window, 20_000)
    } finally {
      resumeReading(receiver.socket)
    }
    assert.equal(await metricValue(server, 'wsstar_relay_shared_frames_total'), 0)
    bulkOut.detach()
    bulkIn.detach()
  })

  it('a close-write and the end of a dial wait for the data held before them', { timeout: 60_000 }, async () => {
    const server = await startServer()
    servers.push(server)
    const [bulk, small, receiver] = await Promise.all([joinedClient(server), joinedClient(server), joinedClient(server)])
    const window = receiver.result.window
    const bulkDial = await openDial(bulk, receiver)
    const smallDial = await openDial(small, receiver)
    const bulkOut = new DialEnd(bulk.socket, bulkDial, window, { keepChunks: false })
    const smallOut = new DialEnd(small.socket, smallDial, window, { keepChunks: false })
    const bulkIn = new DialEnd(receiver.socket, bulkDial, window, { keepChunks: false })
    const smallIn = new DialEnd(receiver.socket, smallDial, window, { keepChunks: false })
    const events: string[] = []
    receiver.socket.on('e', (id: string, kind: string) => { if (id === bulkDial) events.push(`${kind} after ${bulkIn.receivedBytes}`) })
    await bulkOut.send(new Uint8Array(2 * MiB))
    await bulkIn.until(() => bulkIn.receivedBytes === 2 * MiB, 20_000)
    stopReading(receiver.socket)
    try {
      // the other dial is in use
      await smallOut.send(new Uint8Array([1]))
      await waitUntil(() => server.inspectDial(smallDial)?.forward.relayed === 1, 10_000, 'the server to take the small frame')
      await bulkOut.send(new Uint8Array(window))
      // both directions close while part of the window is held
      bulkOut.closeWrite()
      bulkIn.closeWrite()
      await waitUntil(() => (server.inspectDial(bulkDial)?.forward.queued ?? 0) > 0 && server.inspectDial(bulkDial)?.forward.closed === true, 10_000, 'the close-write behind held data')
      resumeReading(receiver.socket)
      await bulkIn.until(() => bulkIn.remoteClosed, 20_000)
    } finally {
      resumeReading(receiver.socket)
    }
    assert.deepEqual(events, [`close-write after ${2 * MiB + window}`], 'the close-write came after every byte')
    await waitUntil(() => server.inspectDial(bulkDial) === undefined, 10_000, 'the dial to be forgotten once delivered')
    for (const end of [bulkOut, smallOut, bulkIn, smallIn]) end.detach()
  })
})
