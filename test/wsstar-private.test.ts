import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { UnauthorizedError } from '@wsstar/transport'
import { createNode, wsstarListeners } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { sleep, waitFor } from './helpers/wait.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'

/** `wsstar_rejected_total{code="ERR_UNAUTHORIZED"}` of a server */
async function unauthorized (server: TestServer): Promise<number> {
  const sample = 'wsstar_rejected_total{code="ERR_UNAUTHORIZED"}'
  const line = (await server.metrics.metrics()).split('\n').find(l => l.startsWith(`${sample} `))
  return line == null ? 0 : Number(line.slice(sample.length + 1))
}

describe('wsstar: private servers (token)', { timeout: 60_000 }, () => {
  const servers: TestServer[] = []
  const nodes: TestNode[] = []

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await Promise.all(servers.map(async s => { await s.stop() }))
  })

  it('a node with the token listens and is dialled; one without gets UnauthorizedError on listen and dial, and does not retry', async () => {
    const tokensFile = join(mkdtempSync(join(tmpdir(), 'wsstar-private-')), 'tokens')
    writeFileSync(tokensFile, 'listener-token name=listener\ndialler-token name=dialler max-peers=1\n')
    const server = await startRendezvous({ auth: { mode: 'token', tokensFile } })
    servers.push(server)
    const address = listenAddr(server.port)
    // a node that only dials joins the servers of its `servers` option
    const allowed = [`/ip4/127.0.0.1/tcp/${server.port}/ws`]

    const listener = await createNode({ listen: [address], wsstar: { token: 'listener-token' } })
    nodes.push(listener)
    await waitFor(() => listener.getMultiaddrs().length > 0, 10_000, 'the listener registered')
    // a token from a function, asked for before each connection
    let asked = 0
    const dialler = await createNode({ wsstar: { servers: allowed, token: async () => { asked++; return 'dialler-token' } } })
    nodes.push(dialler)
    await dialler.services.ping.ping(listener.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    assert.ok(asked >= 1)
    assert.equal(await unauthorized(server), 0)

    // listening without a token: listen() fails with the refusal, and the node does not start
    const refused = await createNode({ listen: [address], start: false, wsstar: { reconnect: { initialDelay: 50, maxDelay: 100 } } })
    nodes.push(refused)
    await assert.rejects(async () => { await refused.start() }, (err: Error) => {
      // libp2p gathers the listeners' errors into one, with each one's message
      assert.equal(err.name, 'UnsupportedListenAddressesError')
      assert.match(err.message, /does not admit this node: this server is private: present a token/)
      return true
    })
    assert.equal(await unauthorized(server), 1)

    // dialling with a wrong token: UnauthorizedError, one attempt per dial
    const stranger = await createNode({ wsstar: { servers: allowed, token: 'wrong-token', reconnect: { initialDelay: 50, maxDelay: 100 } } })
    nodes.push(stranger)
    await assert.rejects(stranger.dial(listener.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }), (err: Error) => {
      assert.ok(err instanceof UnauthorizedError, String(err))
      assert.equal((err as UnauthorizedError).code, 'ERR_UNAUTHORIZED')
      return true
    })
    assert.equal(await unauthorized(server), 2)
    // at a 50..100 ms reconnect delay, a node that kept retrying would have tried again many times by now
    await sleep(1000)
    assert.equal(await unauthorized(server), 2, 'no retries after a refusal')
    assert.equal(wsstarListeners(refused).every(l => l.getAddrs().length === 0), true)
  })
})
