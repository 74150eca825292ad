import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { createNode, wsstarListeners, wsstarOf } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'

async function pingUntilOk (from: TestNode, to: TestNode, timeout: number): Promise<number> {
  const started = Date.now()
  let lastError: unknown
  while (Date.now() - started < timeout) {
    try {
      await from.services.ping.ping(to.peerId, { signal: AbortSignal.timeout(1000) })
      return Date.now() - started
    } catch (err) {
      lastError = err
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  throw new Error(`no ping within ${timeout} ms: ${String(lastError)}`)
}

describe('wsstar: server restarts and outages', { timeout: 60_000 }, () => {
  const servers: TestServer[] = []
  const nodes: TestNode[] = []

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await Promise.all(servers.map(async s => { await s.stop().catch(() => {}) }))
  })

  it('both nodes re-register after a server restart and dial again with no manual step', async () => {
    const first = await startRendezvous()
    servers.push(first)
    const port = first.port
    const a = await createNode({ listen: [listenAddr(port)] })
    const b = await createNode({ listen: [listenAddr(port)] })
    nodes.push(a, b)
    await pingUntilOk(a, b, 5000)

    const statuses: string[] = []
    let lostAt = 0
    for (const listener of wsstarListeners(a)) {
      listener.addEventListener('status', (evt) => {
        statuses.push(evt.detail.status)
        if (evt.detail.status === 'reconnecting' && lostAt === 0) lostAt = Date.now()
      })
    }
    const stopStarted = Date.now()
    await first.stop()
    const second = await startRendezvous({ port })
    servers.push(second)
    const restarted = Date.now()
    const recovered = await pingUntilOk(a, b, 15_000)
    const fromStop = Date.now() - stopStarted
    const fromLoss = Date.now() - lostAt
    console.log(`# recovered ${recovered} ms after the new server started, ${fromLoss} ms after the socket dropped (stop() drained the open dial for ${restarted - stopStarted} ms; ${fromStop} ms after stop() began)`)
    assert.ok(recovered < 10_000, `recovery took ${recovered} ms`)
    assert.ok(statuses.includes('reconnecting'), statuses.join(','))
    assert.ok(statuses.includes('challenged'), statuses.join(','))
    assert.equal(statuses.at(-1), 'registered')
    // the address is announced again
    assert.deepEqual(a.getMultiaddrs().map(String), [`${listenAddr(port)}/p2p/${a.peerId}`])
    assert.ok(b.getConnections(a.peerId).length >= 1)

    // nothing of the lost session is left behind: once the relayed
    // connection is closed, closing the listener closes the socket
    await a.hangUp(b.peerId)
    await waitFor(() => wsstarOf(a).getServers()[0]?.dials === 0, 3000)
    await wsstarListeners(a)[0].close()
    assert.deepEqual(wsstarOf(a).getServers(), [])
  })

  it('a node starts while its server is down and registers once the server comes up', async () => {
    const probe = await startRendezvous()
    const port = probe.port
    await probe.stop()
    const started = Date.now()
    const node = await createNode({ listen: [listenAddr(port)] })
    nodes.push(node)
    const startTime = Date.now() - started
    assert.ok(startTime < 3000, `node start took ${startTime} ms with the server down`)
    assert.deepEqual(node.getMultiaddrs(), [])
    const listening = new Promise<void>(resolve => {
      node.addEventListener('transport:listening', () => {
        if (wsstarListeners(node).some(l => l.getAddrs().length > 0)) resolve()
      })
    })
    const server = await startRendezvous({ port })
    servers.push(server)
    const up = Date.now()
    await listening
    const registeredAfter = Date.now() - up
    console.log(`# registered ${registeredAfter} ms after the server came up`)
    assert.ok(registeredAfter < 5000)
    await waitFor(() => node.getMultiaddrs().length === 1, 3000)
    assert.equal(node.getMultiaddrs()[0].toString(), `${listenAddr(port)}/p2p/${node.peerId}`)
  })
})
