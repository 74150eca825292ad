import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { DialEnd, closeClients, connect, errorCode, identity, nextEvent, openDial, peerAddress, request } from '@wsstar/raw-client'
import { joinedClient, silentLogger, startServer, waitUntil } from './helpers.js'
import { createRendezvousServer } from '../src/index.js'

describe('shutdown', () => {
  afterEach(() => { closeClients() })

  it('tells every socket, refuses new work with ERR_SHUTTING_DOWN, drains open dials, then disconnects', async () => {
    const server = await startServer({ limits: { shutdownGraceMs: 3000 } })
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const stranger = await connect(server)
    const dialId = await openDial(a, b)
    const endA = new DialEnd(a.socket, dialId, a.result.window)
    const endB = new DialEnd(b.socket, dialId, b.result.window)
    const notice = nextEvent(a.socket, 'ss-shutdown')
    const gone = nextEvent(stranger, 'disconnect', () => true, 5000)

    const started = Date.now()
    const stopping = server.stop()
    const [payload] = await notice
    assert.equal(payload.code, 'ERR_SHUTTING_DOWN')
    assert.equal(payload.graceMs, 3000)
    assert.equal(typeof payload.message, 'string')

    // new work is refused
    const peer = await identity()
    assert.equal(await errorCode(stranger, 'ss-join', peerAddress(server, peer), {}), 'ERR_SHUTTING_DOWN')
    assert.equal(await errorCode(b.socket, 'ss-dial', b.address, a.address), 'ERR_SHUTTING_DOWN')
    // the listener stays open while dials drain: a load balancer's health check sees 503, not a refused connection
    const health = await fetch(`http://127.0.0.1:${server.port}/health`, { signal: AbortSignal.timeout(10_000) }).then(async r => ({ status: r.status, body: await r.json() }), () => 'refused')
    assert.deepEqual(typeof health === 'string' ? health : [health.status, health.body.status], [503, 'stopping'], 'health while draining')
    await assert.rejects(connect(server), /ERR_SHUTTING_DOWN|shutting down/, 'new sockets are refused by the server, not by a closed port')

    // the open dial still works and drains
    await endA.send(Buffer.from('last words'))
    await endB.until(() => endB.receivedBytes === 10)
    endA.closeWrite()
    endB.closeWrite()
    await stopping
    assert.ok(Date.now() - started < 2500, 'stop did not wait out the grace once dials were done')
    await gone
    assert.deepEqual(server.stats().sockets, 0)
    assert.deepEqual(server.stats().peers, 0)
    await assert.rejects(connect(server))
  })

  it('cuts dials that do not finish within the grace', async () => {
    const server = await startServer({ limits: { shutdownGraceMs: 150 } })
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    await openDial(a, b)
    const started = Date.now()
    await server.stop()
    assert.ok(Date.now() - started < 2000)
    assert.equal(server.stats().dials, 0)
  })

  it('stop is idempotent; a stopped server cannot start again', async () => {
    const server = await startServer()
    await Promise.all([server.stop(), server.stop()])
    await server.stop()
    await assert.rejects(server.start(), /stopped/)
    const never = createRendezvousServer({ port: 0, logger: silentLogger })
    await never.stop()
  })

  it('a new server can listen on the port of a stopped one', async () => {
    const first = await startServer()
    const port = first.port
    const a = await joinedClient(first)
    const closed = nextEvent(a.socket, 'disconnect')
    await first.stop()
    await closed
    const second = await startServer({ port })
    try {
      assert.equal(second.port, port)
      const peer = await identity()
      const socket = await connect(second)
      const [err] = await request(socket, 'ss-join', peerAddress(second, peer), {})
      assert.equal(err, null)
      await waitUntil(() => second.stats().sockets === 1)
    } finally {
      closeClients()
      await second.stop()
    }
  })
})
