/**
 * The transport's `namespaces` option: libp2p nodes discover only the nodes
 * that share a namespace with them, and still dial any node by address
 * unless the server confines dials to a shared namespace.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { webSocketStar } from '@wsstar/transport'
import { createNode } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'

interface Watched {
  node: TestNode
  /** peer ids its discovery reported */
  found: Set<string>
}

async function watchedNode (server: TestServer, namespaces?: string[]): Promise<Watched> {
  const node = await createNode({ listen: [listenAddr(server.port)], wsstar: { namespaces }, start: false })
  const found = new Set<string>()
  node.addEventListener('peer:discovery', (evt) => { found.add(evt.detail.id.toString()) })
  await node.start()
  return { node, found }
}

describe('wsstar: the namespaces option', { timeout: 60_000 }, () => {
  let server: TestServer
  let scoped: TestServer
  const nodes: TestNode[] = []

  before(async () => {
    server = await startRendezvous({ limits: { peersIntervalMs: 50 } })
    scoped = await startRendezvous({ dialScope: 'namespace', limits: { peersIntervalMs: 50 } })
  })

  after(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await server?.stop()
    await scoped?.stop()
  })

  it('nodes discover only the nodes of their namespaces; a node in two discovers both; a node without namespaces none of them', async () => {
    const x = await watchedNode(server, ['app-x'])
    const y = await watchedNode(server, ['app-y'])
    const plain = await watchedNode(server)
    const xy = await watchedNode(server, ['app-x', 'app-y'])
    nodes.push(x.node, y.node, plain.node, xy.node)
    const id = (w: Watched): string => w.node.peerId.toString()
    await waitFor(() => xy.found.has(id(x)) && xy.found.has(id(y)), 20_000, 'the node in both namespaces discovers x and y')
    await waitFor(() => x.found.has(id(xy)) && y.found.has(id(xy)), 20_000, 'x and y discover the node in both')
    // a later node of app-x reaches x through a delta sent after y's and plain's joins
    const late = await watchedNode(server, ['app-x'])
    nodes.push(late.node)
    await waitFor(() => x.found.has(id(late)), 20_000, 'x discovers a later node of its namespace')
    const plainLate = await watchedNode(server)
    nodes.push(plainLate.node)
    await waitFor(() => plain.found.has(id(plainLate)), 20_000, 'the default namespace still works')
    assert.ok(!x.found.has(id(y)) && !x.found.has(id(plain)), 'x never hears of y or of the default namespace')
    assert.ok(!y.found.has(id(x)) && !y.found.has(id(late)) && !y.found.has(id(plain)), 'y never hears of x\'s namespace')
    assert.ok(!plain.found.has(id(x)) && !plain.found.has(id(y)) && !plain.found.has(id(xy)), 'the default namespace never hears of named ones')
    assert.ok(!xy.found.has(id(plain)))

    // dials are by address: across namespaces with the server's default dial scope
    const rtt = await x.node.services.ping.ping(multiaddr(`${listenAddr(server.port)}/p2p/${id(y)}`), { signal: AbortSignal.timeout(10_000) })
    assert.ok(rtt >= 0)
  })

  it('a server with dial scope namespace refuses a dial across namespaces and relays one within', async () => {
    const x = await watchedNode(scoped, ['scope-x'])
    const y = await watchedNode(scoped, ['scope-y'])
    const x2 = await watchedNode(scoped, ['scope-x'])
    nodes.push(x.node, y.node, x2.node)
    await assert.rejects(x.node.services.ping.ping(multiaddr(`${listenAddr(scoped.port)}/p2p/${y.node.peerId.toString()}`), { signal: AbortSignal.timeout(10_000) }))
    const rtt = await x.node.services.ping.ping(multiaddr(`${listenAddr(scoped.port)}/p2p/${x2.node.peerId.toString()}`), { signal: AbortSignal.timeout(10_000) })
    assert.ok(rtt >= 0)
  })

  it('the option is checked when the transport is made', () => {
    for (const bad of [[''], [], ['a b'], ['x'.repeat(257)], 'app', [1]]) {
      assert.throws(() => webSocketStar({ namespaces: bad as string[] }), TypeError, JSON.stringify(bad))
    }
    assert.doesNotThrow(() => webSocketStar({ namespaces: ['app/v1', 'did:key:z6Mk'] }))
  })
})
