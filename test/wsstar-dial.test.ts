import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { rawPeer } from '@wsstar/raw-client'
import { createNode, wsstarOf } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { RawPeer } from '@wsstar/raw-client'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'

/** The websocket address of a loopback server. */
function serverOf (port: number): string {
  return `/ip4/127.0.0.1/tcp/${port}/ws`
}

async function randomPeerAddress (port: number): Promise<string> {
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  return `${listenAddr(port)}/p2p/${peerId}`
}

describe('wsstar: dial failures and aborts', { timeout: 60_000 }, () => {
  let server: TestServer
  let a: TestNode
  let dialOnly: TestNode
  const raws: RawPeer[] = []

  before(async () => {
    server = await startRendezvous()
    a = await createNode({ listen: [listenAddr(server.port)] })
    dialOnly = await createNode({ wsstar: { servers: [serverOf(server.port)] } })
  })

  after(async () => {
    raws.forEach(r => { r.close() })
    await Promise.all([a?.stop(), dialOnly?.stop()])
    await server?.stop()
  })

  it('a dial to an offline peer fails fast with PeerNotFoundError', async () => {
    const started = Date.now()
    await assert.rejects(a.dial(multiaddr(await randomPeerAddress(server.port))), (err: any) => {
      assert.equal(err.name, 'PeerNotFoundError', `${err.name}: ${err.message}`)
      assert.equal(err.code, 'ERR_PEER_NOT_FOUND')
      return true
    })
    const elapsed = Date.now() - started
    assert.ok(elapsed < 2000, `took ${elapsed} ms`)
  })

  it('a node that does not listen there can still dial (transient join), and fails fast for offline peers', async () => {
    const started = Date.now()
    await assert.rejects(dialOnly.dial(multiaddr(await randomPeerAddress(server.port))), { name: 'PeerNotFoundError' })
    assert.ok(Date.now() - started < 2000)
    const progress: string[] = []
    await dialOnly.dial(a.getMultiaddrs(), { signal: AbortSignal.timeout(5000), onProgress: (evt) => { progress.push(evt.type) } })
    const ours = progress.filter(type => type.startsWith('websocket-star:'))
    assert.deepEqual(ours, ['websocket-star:open-connection', 'websocket-star:dial', 'websocket-star:dial-accepted'])
    assert.ok(progress.indexOf('upgrader:encrypt-outbound-connection') > progress.indexOf('websocket-star:dial-accepted'), progress.join(', '))
    const rtt = await dialOnly.services.ping.ping(a.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
    assert.ok(rtt >= 0)
    const [info] = wsstarOf(dialOnly).getServers()
    assert.equal(info.listening, false)
    assert.equal(info.status, 'registered')
    await dialOnly.hangUp(a.peerId)
    await waitFor(() => server.stats().dials === 0, 3000)
  })

  it('a dial through a server that is down fails fast with ServerUnavailableError', async () => {
    const down = await startRendezvous()
    const port = down.port
    await down.stop()
    const node = await createNode({ wsstar: { servers: [serverOf(port)] } })
    try {
      const started = Date.now()
      await assert.rejects(node.dial(multiaddr(await randomPeerAddress(port))), { name: 'ServerUnavailableError' })
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
    } finally {
      await node.stop()
    }
  })

  it('a dial naming a server the node was not configured with fails at once with UnknownServerError; nothing connects there', async () => {
    const other = await startRendezvous()
    try {
      const started = Date.now()
      await assert.rejects(dialOnly.dial(multiaddr(await randomPeerAddress(other.port))), (err: any) => {
        assert.equal(err.name, 'UnknownServerError', `${err.name}: ${err.message}`)
        assert.equal(err.code, 'ERR_UNKNOWN_SERVER')
        return true
      })
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
      assert.equal(other.stats().sockets, 0)
      assert.ok(wsstarOf(dialOnly).getServers().every(s => s.server !== `ws://127.0.0.1:${other.port}`))
    } finally {
      await other.stop()
    }
  })

  it('aborting a dial rejects with AbortError and leaves no dial on the server or the client', async () => {
    // a callee that accepts only after 800 ms: the server creates the dial
    // after the caller gave up, and the caller must reset it
    const callee = await rawPeer(server.port, { answer: 800 })
    raws.push(callee)
    const transport = wsstarOf(a)
    const baseline = transport.getServers()[0]
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 200)
    const started = Date.now()
    await assert.rejects(a.dial(multiaddr(callee.address), { signal: controller.signal }), { name: 'AbortError' })
    assert.ok(Date.now() - started < 1000, `abort took ${Date.now() - started} ms`)
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'abort listeners left on the signal')
    // the callee accepted at 800 ms; the caller reset the dial it no longer wants
    await waitFor(() => callee.incoming.length === 1 && callee.ends.some(([id, kind]) => id === callee.incoming[0] && kind === 'reset'), 3000)
    await waitFor(() => server.stats().dials === 0, 3000)
    const now = transport.getServers()[0]
    assert.equal(now.dials, 0)
    assert.equal(now.socketListeners, baseline.socketListeners)
    assert.equal(a.getConnections().filter(c => c.remotePeer.equals(callee.peerId)).length, 0)
  })

  it('many concurrent aborted dials leak nothing', async () => {
    const callee = await rawPeer(server.port, { answer: 300 })
    raws.push(callee)
    const transport = wsstarOf(a)
    const upgrader = (a as any).components.upgrader
    const baseline = transport.getServers()[0]
    // straight to the transport, so every dial reaches the server (libp2p
    // would coalesce dials to one peer)
    const signals: AbortSignal[] = []
    await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const controller = new AbortController()
      signals.push(controller.signal)
      setTimeout(() => { controller.abort() }, 20 + i * 10)
      await assert.rejects(transport.dial(multiaddr(callee.address), { upgrader, signal: controller.signal }), { name: 'AbortError' })
    }))
    // every dial the server created (callee accepted after 300 ms) was reset by the caller
    await waitFor(() => server.stats().dials === 0, 5000)
    assert.ok(callee.incoming.length >= 15, `${callee.incoming.length} dials reached the callee`)
    await waitFor(() => callee.incoming.every(id => callee.ends.some(([dialId, kind]) => dialId === id && kind === 'reset')), 3000)
    const now = transport.getServers()[0]
    assert.equal(now.dials, 0)
    assert.equal(now.socketListeners, baseline.socketListeners)
    assert.equal(now.status, 'registered')
    for (const signal of signals) {
      assert.equal(getEventListeners(signal, 'abort').length, 0)
    }
  })
})
