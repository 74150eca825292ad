import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { DialEnd, closeClients, connect, errorCode, nextEvent, openDial, request } from '@wsstar/raw-client'
import { joinedClient, startServer, waitUntil } from './helpers.js'
import { InMemoryPeerRegistry } from '../src/index.js'
import type { RendezvousServer } from '../src/index.js'

describe('dials', () => {
  let server: RendezvousServer
  const registry = new InMemoryPeerRegistry()

  before(async () => { server = await startServer({ registry, limits: { dialTimeoutMs: 300 } }) })
  afterEach(async () => {
    closeClients()
    await waitUntil(() => server.stats().sockets === 0, 2000, 'sockets to close')
  })
  after(async () => { await server.stop() })

  it('assigns a server dial id and relays bytes both ways under credit', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    let from: string | undefined
    b.socket.once('ss-incomming', (_id: string, caller: string, ack: (e: null) => void) => { from = caller; ack(null) })
    const [err, result] = await request(a.socket, 'ss-dial', a.address, b.address)
    assert.equal(err, null)
    assert.match(result.dialId, /^[A-Za-z0-9_-]{22}$/)
    assert.equal(from, a.address, 'the callee learns the caller\'s canonical address')
    const dialId: string = result.dialId
    const window = a.result.window
    const endA = new DialEnd(a.socket, dialId, window)
    const endB = new DialEnd(b.socket, dialId, window)

    const up = randomBytes(3 * window + 12345)
    const down = randomBytes(window + 7)
    await Promise.all([endA.send(up), endB.send(down)])
    await endB.until(() => endB.receivedBytes === up.byteLength)
    await endA.until(() => endA.receivedBytes === down.byteLength)
    assert.ok(endB.received().equals(up))
    assert.ok(endA.received().equals(down))
    const info = server.inspectDial(dialId)
    assert.equal(info?.state, 'open')
    assert.ok((info?.maxInFlight ?? Infinity) <= window)
    assert.equal(server.stats().openDials, 1)
    endA.detach()
    endB.detach()
  })

  it('half-close: each side closes its write direction; the dial is freed after both', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const endA = new DialEnd(a.socket, dialId, a.result.window)
    const endB = new DialEnd(b.socket, dialId, b.result.window)
    await endA.send(Buffer.from('request'))
    endA.closeWrite()
    await endB.until(() => endB.remoteClosed)
    assert.equal(endB.received().toString(), 'request')
    assert.deepEqual(server.inspectDial(dialId)?.forward.closed, true)
    // the other direction still works
    await endB.send(Buffer.from('response'))
    await endA.until(() => endA.receivedBytes === 8)
    assert.equal(endA.received().toString(), 'response')
    // data after close-write is a protocol violation
    endB.closeWrite()
    await endA.until(() => endA.remoteClosed)
    await waitUntil(() => server.stats().dials === 0, 2000, 'dial freed')
    assert.equal(server.inspectDial(dialId), undefined)
  })

  it('data after close-write resets the dial', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const endA = new DialEnd(a.socket, dialId, a.result.window)
    const endB = new DialEnd(b.socket, dialId, b.result.window)
    endA.closeWrite()
    await endB.until(() => endB.remoteClosed)
    a.socket.emit('d', dialId, Buffer.from('late'))
    await endB.until(() => endB.resetError !== undefined)
    assert.equal(endB.resetError?.code, 'ERR_BAD_REQUEST')
    await endA.until(() => endA.resetError !== undefined)
    assert.equal(server.inspectDial(dialId), undefined)
  })

  it('a reset is forwarded (with its error) and frees the dial', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const reset = nextEvent(b.socket, 'e', (id: string) => id === dialId)
    a.socket.emit('e', dialId, 'reset', { code: 'ERR_FLOW_CONTROL', message: 'app gave up' })
    const [, kind, error] = await reset
    assert.equal(kind, 'reset')
    assert.deepEqual(error, { code: 'ERR_FLOW_CONTROL', message: 'app gave up' })
    await waitUntil(() => server.stats().dials === 0, 2000, 'dial freed')
  })

  it('a declined dial gets ERR_DIAL_REFUSED', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    b.socket.once('ss-incomming', (_id: string, _from: string, ack: (e: unknown) => void) => { ack({ code: 'ERR_DIAL_REFUSED', message: 'not listening' }) })
    const [err] = await request(a.socket, 'ss-dial', a.address, b.address)
    assert.equal(err?.code, 'ERR_DIAL_REFUSED')
    assert.match(err?.message ?? '', /not listening/)
    assert.equal(server.stats().dials, 0)
  })

  it('an unanswered dial gets ERR_DIAL_TIMEOUT and the callee is told to forget it', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const incoming = nextEvent(b.socket, 'ss-incomming')
    const told = nextEvent(b.socket, 'e')
    const [err] = await request(a.socket, 'ss-dial', a.address, b.address)
    assert.equal(err?.code, 'ERR_DIAL_TIMEOUT')
    const [dialId] = await incoming
    const [id, kind, error] = await told
    assert.equal(id, dialId)
    assert.equal(kind, 'reset')
    assert.equal(error.code, 'ERR_DIAL_TIMEOUT')
    assert.equal(server.stats().dials, 0)
  })

  it('a callee that disconnects before answering fails the dial with ERR_PEER_GONE', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    b.socket.once('ss-incomming', () => { b.socket.disconnect() })
    const [err] = await request(a.socket, 'ss-dial', a.address, b.address)
    assert.equal(err?.code, 'ERR_PEER_GONE')
    assert.equal(server.stats().dials, 0)
  })

  it('leave resets the leaver\'s dials (other end: ERR_PEER_GONE) and cleans up', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const reset = nextEvent(b.socket, 'e', (id: string) => id === dialId)
    const [err] = await request(a.socket, 'ss-leave', a.address)
    assert.equal(err, null)
    const [, kind, error] = await reset
    assert.equal(kind, 'reset')
    assert.equal(error.code, 'ERR_PEER_GONE')
    assert.equal(server.stats().dials, 0)
    assert.equal(server.stats().peers, 1)
  })

  it('disconnect resets dials (other end: ERR_PEER_GONE) and brings stats back to zero', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const endB = new DialEnd(b.socket, dialId, b.result.window)
    const endA = new DialEnd(a.socket, dialId, a.result.window)
    await endA.send(randomBytes(1000))
    await endB.until(() => endB.receivedBytes === 1000)
    a.socket.disconnect()
    await endB.until(() => endB.resetError !== undefined)
    assert.equal(endB.resetError?.code, 'ERR_PEER_GONE')
    b.socket.disconnect()
    await waitUntil(() => server.stats().sockets === 0, 2000, 'sockets gone')
    const stats = server.stats()
    assert.equal(stats.peers, 0)
    assert.equal(stats.dials, 0)
    assert.equal(stats.pendingChallenges, 0)
    assert.equal(stats.dialInFlightBytes, 0)
  })

  it('churn: many peers joining, dialing and vanishing leave nothing behind', async () => {
    const clients = await Promise.all(Array.from({ length: 24 }, async () => joinedClient(server)))
    const dials: Array<Promise<string>> = []
    for (let i = 0; i < clients.length; i += 2) {
      dials.push(openDial(clients[i], clients[i + 1]))
    }
    const ids = await Promise.all(dials)
    ids.forEach((dialId, i) => { clients[2 * i].socket.emit('d', dialId, Buffer.alloc(1000)) })
    await waitUntil(() => server.stats().dialInFlightBytes === 12 * 1000, 2000, 'bytes in flight')
    // half leave, half disconnect, in a shuffled order
    await Promise.all(clients.map(async (c, i) => {
      if (i % 2 === 0) {
        await request(c.socket, 'ss-leave', c.address)
      }
      c.socket.disconnect()
    }))
    await waitUntil(() => server.stats().sockets === 0, 3000, 'all sockets gone')
    const stats = server.stats()
    assert.deepEqual({ peers: stats.peers, dials: stats.dials, inFlight: stats.dialInFlightBytes, challenges: stats.pendingChallenges }, { peers: 0, dials: 0, inFlight: 0, challenges: 0 })
    assert.equal(registry.count, 0, 'the registry is empty too')
  })

  it('a socket without a registration cannot dial; joins after a leave work again', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const stranger = await connect(server)
    assert.equal(await errorCode(stranger, 'ss-dial', a.address, b.address), 'ERR_NOT_REGISTERED')
  })
})
