import { describe, it, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { DialEnd, closeClients, openDial } from '@wsstar/raw-client'
import { joinedClient, metricValue, sleep, startServer, waitUntil } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'

const MiB = 1024 * 1024

describe('credit flow control', () => {
  const servers: RendezvousServer[] = []
  afterEach(() => { closeClients() })
  after(async () => { await Promise.all(servers.map(async s => { await s.stop() })) })

  it('a stalled receiver makes the sender wait at the window; 64 MiB then arrive byte-exact', { timeout: 60_000 }, async () => {
    const server = await startServer()
    servers.push(server)
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const window = a.result.window
    const dialId = await openDial(a, b)
    const sender = new DialEnd(a.socket, dialId, window, { keepChunks: false })
    const receiver = new DialEnd(b.socket, dialId, window, { keepChunks: false, autoCredit: false })
    const hash = createHash('sha256')
    b.socket.on('d', (id: string, bytes: Uint8Array) => { if (id === dialId) hash.update(bytes) })

    const total = 64 * MiB
    const data = randomBytes(total)
    const expected = createHash('sha256').update(data).digest('hex')
    const sending = sender.send(data)

    // the receiver never grants: the sender stops once its window is spent
    await waitUntil(() => sender.credit === 0 && receiver.receivedBytes === window, 10_000, 'the window to fill')
    await sleep(300)
    assert.equal(receiver.receivedBytes, window, 'not a byte beyond the window')
    assert.equal(server.inspectDial(dialId)?.forward.inFlight, window)
    assert.ok(server.stats().maxDialInFlight <= window)
    assert.ok(await metricValue(server, 'wsstar_dial_inflight_max_bytes') <= window)
    assert.equal(await metricValue(server, 'wsstar_dial_inflight_bytes'), window)

    // the receiver starts consuming
    receiver.autoCredit = true
    receiver.grant()
    await sending
    await receiver.until(() => receiver.receivedBytes === total, 50_000)
    assert.equal(hash.digest('hex'), expected, 'all 64 MiB arrived in order, byte-exact')
    assert.ok(server.stats().maxDialInFlight <= window, `max in flight ${server.stats().maxDialInFlight} <= window ${window}`)
    assert.ok(await metricValue(server, 'wsstar_dial_inflight_max_bytes') <= window)
    assert.equal(await metricValue(server, 'wsstar_relayed_bytes_total'), total)
    assert.ok(await metricValue(server, 'wsstar_frames_total{type="d"}') >= total / (64 * 1024))
    sender.detach()
    receiver.detach()
  })

  it('a receiver that grants credit ahead of what it read loses that dial, not its socket', { timeout: 60_000 }, async () => {
    const server = await startServer({ limits: { windowBytes: 256 * 1024, maxSocketBufferedBytes: MiB, maxSocketControlBytes: 64 * 1024 } })
    servers.push(server)
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const sender = new DialEnd(a.socket, dialId, a.result.window, { keepChunks: false })
    // b stops reading its TCP socket, and credits whatever is in flight to it as if it had read it
    const engine = (b.socket.io as any).engine
    engine.transport.ws._socket.pause()
    const cheat = setInterval(() => {
      const inFlight = server.inspectDial(dialId)?.forward.inFlight ?? 0
      if (inFlight > 0) b.socket.emit('c', dialId, inFlight)
    }, 5)
    try {
      const sending = sender.send(randomBytes(256 * MiB)).catch(() => {})
      await sender.until(() => sender.resetError !== undefined, 50_000)
      assert.equal(sender.resetError?.code, 'ERR_LIMIT_EXCEEDED')
      await sending
    } finally {
      clearInterval(cheat)
      engine.transport.ws._socket.resume()
    }
    assert.equal(await metricValue(server, 'wsstar_limit_hits_total{limit="max-socket-buffered-bytes"}'), 1)
    // the receiver is still connected: it is not cut for bytes it was sent
    await sleep(200)
    assert.equal(server.stats().sockets, 2)
    assert.equal(await metricValue(server, 'wsstar_limit_hits_total{limit="max-socket-control-bytes"}'), 0)
    sender.detach()
  })

  it('tiny frames into a receiver that does not read reset their dial when their cost fills its bound; the receiver stays', { timeout: 60_000 }, async () => {
    // one 1 MiB window fits in 2 MiB; 1-byte frames cost the server far more than their byte each
    const server = await startServer({ limits: { maxSocketBufferedBytes: 2 * MiB, maxSocketControlBytes: 64 * 1024 } })
    servers.push(server)
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    const sender = new DialEnd(a.socket, dialId, a.result.window, { keepChunks: false })
    const engine = (b.socket.io as any).engine
    engine.transport.ws._socket.pause()
    const one = Buffer.from([1])
    let sent = 0
    try {
      // far more frames than the kernel's socket buffers take, well within the credit
      while (sender.resetError === undefined && sent < 400_000) {
        for (let i = 0; i < 1000; i++) a.socket.emit('d', dialId, one)
        sent += 1000
        await new Promise(resolve => setImmediate(resolve))
      }
      await sender.until(() => sender.resetError !== undefined, 20_000)
    } finally {
      engine.transport.ws._socket.resume()
    }
    assert.equal(sender.resetError?.code, 'ERR_LIMIT_EXCEEDED', `reset after ${sent} frames of 1 byte`)
    assert.ok(await metricValue(server, 'wsstar_limit_hits_total{limit="max-socket-buffered-bytes"}') >= 1)
    await sleep(200)
    const hits = (await server.metrics.getSingleMetric('wsstar_limit_hits_total')?.get())?.values.map(v => `${String(v.labels.limit)}=${v.value}`).join(' ')
    assert.equal(server.stats().sockets, 2, `the receiver is still connected (limit hits: ${hits})`)
    assert.equal(await metricValue(server, 'wsstar_limit_hits_total{limit="max-socket-control-bytes"}'), 0)
    sender.detach()
  })
})
