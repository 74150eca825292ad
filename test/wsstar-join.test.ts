import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { webSocketStar } from '@wsstar/transport'
import { createLibp2p } from 'libp2p'
import { createNode, wsstarListeners, wsstarOf } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { PrivateKey } from '@libp2p/interface'
import type { ServerStatusDetail } from '@wsstar/transport'

async function keyedNode (privateKey: PrivateKey, listen: string): Promise<TestNode> {
  const wsstar = webSocketStar()
  return createLibp2p({
    privateKey,
    addresses: { listen: [listen] },
    transports: [wsstar.transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping(), discovery: wsstar.discovery }
  })
}

describe('wsstar: joining', { timeout: 60_000 }, () => {
  let server: TestServer
  let open: TestServer
  const nodes: TestNode[] = []

  before(async () => {
    server = await startRendezvous()
    open = await startRendezvous({ challenge: false })
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await server?.stop()
    await open?.stop()
  })

  it('runs the challenge: connecting, joining, challenged, registered', async () => {
    const node = await createNode({ listen: [listenAddr(server.port)], start: false })
    nodes.push(node)
    const statuses: string[] = []
    wsstarOf(node).addEventListener('status', (evt) => { statuses.push(evt.detail.status) })
    await node.start()
    assert.deepEqual(statuses, ['connecting', 'joining', 'challenged', 'registered'])
    const [listener] = wsstarListeners(node)
    assert.deepEqual(listener.getAddrs().map(String), [listenAddr(server.port)])
    // the transport signs its socket id and joins in one request: the server saw no two-step hello
    const metrics = await server.metrics.metrics()
    assert.match(metrics, /^wsstar_joins_total\{result="ok"\} 1$/m)
    assert.doesNotMatch(metrics, /^wsstar_joins_total\{result="challenged"\} [1-9]/m)
  })

  it('Ed25519, secp256k1 and RSA peers register and reach each other', async () => {
    const listen = listenAddr(server.port)
    const [ed, secp, rsa] = await Promise.all([
      keyedNode(await generateKeyPair('Ed25519'), listen),
      keyedNode(await generateKeyPair('secp256k1'), listen),
      keyedNode(await generateKeyPair('RSA', 2048), listen)
    ])
    nodes.push(ed, secp, rsa)
    for (const node of [ed, secp, rsa]) {
      assert.equal(node.getMultiaddrs().length, 1, `${node.peerId.type} did not register`)
    }
    await rsa.services.ping.ping(ed.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
    await ed.services.ping.ping(secp.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
    await secp.services.ping.ping(rsa.getMultiaddrs(), { signal: AbortSignal.timeout(5000) })
  })

  it('by default refuses a server that skips the challenge; challenge: false accepts it', async () => {
    const strict = await createNode({ listen: [listenAddr(open.port)], wsstar: { reconnect: { initialDelay: 5000 } } })
    nodes.push(strict)
    const info = wsstarOf(strict).getServers()[0]
    assert.equal(info.status, 'reconnecting')
    assert.deepEqual(strict.getMultiaddrs(), [])

    const relaxed = await createNode({ listen: [listenAddr(open.port)], wsstar: { challenge: false } })
    nodes.push(relaxed)
    assert.equal(wsstarOf(relaxed).getServers()[0].status, 'registered')
    assert.equal(relaxed.getMultiaddrs().length, 1)
  })

  it('reports why it is not registered', async () => {
    const strict = await createNode({ listen: [listenAddr(open.port)], start: false, wsstar: { reconnect: { initialDelay: 100, maxDelay: 200 } } })
    nodes.push(strict)
    const failures: ServerStatusDetail[] = []
    wsstarOf(strict).addEventListener('status', (evt) => { if (evt.detail.status === 'reconnecting') failures.push(evt.detail) })
    await strict.start()
    await waitFor(() => failures.length >= 2, 3000)
    assert.equal(failures[0].error?.name, 'ChallengeRequiredError')
    assert.deepEqual(failures.slice(0, 2).map(f => f.attempt), [1, 2])
    assert.ok(failures.every(f => (f.delay ?? -1) >= 0 && (f.delay ?? 0) <= 200))
  })

  it('a second holder of the same key takes the registration; the first withdraws its address and stays out', async () => {
    const key = await generateKeyPair('Ed25519')
    const first = await keyedNode(key, listenAddr(server.port))
    nodes.push(first)
    assert.equal(first.getMultiaddrs().length, 1)
    const evicted = new Promise<ServerStatusDetail>(resolve => {
      wsstarOf(first).addEventListener('status', (evt) => { if (evt.detail.status === 'evicted') resolve(evt.detail) })
    })
    const second = await keyedNode(key, listenAddr(server.port))
    nodes.push(second)
    const detail = await evicted
    assert.equal(detail.error?.name, 'RegistrationReplacedError')
    assert.equal((detail.error as any)?.code, 'ERR_REPLACED')
    await waitFor(() => first.getMultiaddrs().length === 0, 3000)
    assert.equal(second.getMultiaddrs().length, 1)
    // no flapping: the first one does not take it back
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(wsstarOf(first).getServers()[0].status, 'evicted')
    assert.equal(wsstarOf(second).getServers()[0].status, 'registered')
  })
})
