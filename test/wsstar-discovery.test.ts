import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createNode, wsstarListeners } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { PeerId } from '@libp2p/interface'

describe('wsstar: discovery and ping between two listening nodes', { timeout: 30_000 }, () => {
  let server: TestServer
  let a: TestNode
  let b: TestNode

  before(async () => {
    server = await startRendezvous()
  })

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await server?.stop()
  })

  it('listens at <server>/p2p-websocket-star and announces it with its /p2p id', async () => {
    a = await createNode({ listen: [listenAddr(server.port)], start: false })
    b = await createNode({ listen: [listenAddr(server.port)], start: false })
    const statuses: string[] = []
    a.addEventListener('transport:listening', () => {})
    await a.start()
    for (const listener of wsstarListeners(a)) {
      listener.addEventListener('status', (evt) => { statuses.push(evt.detail.status) })
      assert.deepEqual(listener.getAddrs().map(String), [listenAddr(server.port)])
    }
    assert.deepEqual(a.getMultiaddrs().map(String), [`${listenAddr(server.port)}/p2p/${a.peerId}`])
  })

  it('the two nodes discover each other through the discovery service and ping', async () => {
    const discovered = (node: TestNode, other: () => PeerId): Promise<void> => new Promise(resolve => {
      node.addEventListener('peer:discovery', (evt) => {
        if (evt.detail.id.equals(other())) resolve()
      })
    })
    const aFindsB = discovered(a, () => b.peerId)
    const bFindsA = discovered(b, () => a.peerId)
    await b.start()
    await Promise.all([aFindsB, bFindsA])
    // the discovered address is the websocket-star one (the peer store drops the peer's own /p2p)
    const stored = await a.peerStore.get(b.peerId)
    assert.deepEqual(stored.addresses.map(addr => addr.multiaddr.toString()), [listenAddr(server.port)])
    assert.equal(a.getConnections(b.peerId).length, 0, 'discovery alone does not dial')
    // dial by peer id: libp2p picks the discovered address
    const rttAB = await a.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(5000) })
    const rttBA = await b.services.ping.ping(a.peerId, { signal: AbortSignal.timeout(5000) })
    assert.ok(rttAB >= 0 && rttBA >= 0)
    const [conn] = a.getConnections(b.peerId)
    assert.equal(conn.remoteAddr.toString(), `${listenAddr(server.port)}/p2p/${b.peerId}`)
    assert.equal(conn.encryption, '/noise')
    assert.equal(conn.multiplexer, '/yamux/1.0.0')
  })

  it('a peer that leaves is removed from the others\' peer store', async () => {
    const address = listenAddr(server.port)
    assert.ok((await a.peerStore.get(b.peerId)).addresses.some(x => x.multiaddr.toString() === address))
    await b.stop()
    const deadline = Date.now() + 5000
    for (;;) {
      const peer = await a.peerStore.get(b.peerId).catch(() => undefined)
      if (peer == null || !peer.addresses.some(x => x.multiaddr.toString() === address)) break
      assert.ok(Date.now() < deadline, 'websocket-star address still in the peer store')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })
})
