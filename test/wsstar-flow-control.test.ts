import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { webSocketStar } from '@wsstar/transport'
import { pEvent } from 'p-event'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { Connection, Listener, MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { WebSocketStarTransport } from '@wsstar/transport'

/**
 * The bare relayed MultiaddrConnections (no noise, no yamux) between two
 * transports, through the real server: an upgrader that hands out the raw
 * connection instead of upgrading it.
 */
function capturingUpgrader (onConnection: (maConn: MultiaddrConnection) => void): Upgrader {
  return {
    upgradeOutbound: async (maConn: MultiaddrConnection) => { onConnection(maConn); return {} as unknown as Connection },
    upgradeInbound: async (maConn: MultiaddrConnection) => { onConnection(maConn) }
  } as unknown as Upgrader
}

/** A bare transport that may join `servers` without listening there. */
async function peer (servers: string[] = []): Promise<{ transport: WebSocketStarTransport, peerId: string }> {
  const privateKey = await generateKeyPair('Ed25519')
  const components = { peerId: peerIdFromPrivateKey(privateKey), privateKey, logger: defaultLogger() }
  return { transport: webSocketStar({ servers }).transport(components), peerId: components.peerId.toString() }
}

describe('wsstar: credit flow control through the real server', { timeout: 60_000 }, () => {
  let server: TestServer
  let listener: Listener
  let caller: WebSocketStarTransport
  let callee: WebSocketStarTransport
  let outbound: MultiaddrConnection
  let inbound: MultiaddrConnection

  before(async () => {
    server = await startRendezvous()
    // the caller dials through a server it does not listen on
    const a = await peer([`/ip4/127.0.0.1/tcp/${server.port}/ws`])
    const b = await peer()
    caller = a.transport
    callee = b.transport
    const accepted = new Promise<MultiaddrConnection>(resolve => {
      listener = callee.createListener({ upgrader: capturingUpgrader(resolve) })
    })
    await listener.listen(multiaddr(listenAddr(server.port)))
    let dialled: MultiaddrConnection | undefined
    await caller.dial(multiaddr(`${listenAddr(server.port)}/p2p/${b.peerId}`), {
      upgrader: capturingUpgrader(c => { dialled = c }),
      signal: AbortSignal.timeout(5000)
    })
    inbound = await accepted
    outbound = dialled as MultiaddrConnection
  })

  after(async () => {
    await listener?.close()
    await caller?.stop()
    await callee?.stop()
    await server?.stop()
  })

  it('a paused receiver stops the sender after exactly one window; resuming drains it', async () => {
    const window = 1024 * 1024
    const received: Buffer[] = []
    inbound.addEventListener('message', (evt) => { received.push(Buffer.from(evt.data.subarray())) })
    inbound.pause()
    const data = randomBytes(4 * window)
    let offset = 0
    while (offset < data.byteLength) {
      const more = outbound.send(data.subarray(offset, offset + 100_000))
      offset += 100_000
      if (!more) break
    }
    // everything the sender had credit for sits in the receiver's read buffer,
    // nothing more: the server holds at most one window for this dial
    await waitFor(() => inbound.readBufferLength === window, 5000)
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(inbound.readBufferLength, window)
    assert.equal(outbound.writableNeedsDrain, true)
    assert.equal(server.stats().dialInFlightBytes, window)
    assert.equal(received.length, 0)

    const drained = pEvent(outbound, 'drain', { timeout: 10_000 })
    inbound.resume()
    await drained
    while (offset < data.byteLength) {
      if (!outbound.send(data.subarray(offset, offset + 100_000))) {
        await pEvent(outbound, 'drain', { timeout: 10_000 })
      }
      offset += 100_000
    }
    await waitFor(() => received.reduce((n, b) => n + b.byteLength, 0) === data.byteLength, 10_000)
    assert.equal(createHash('sha256').update(Buffer.concat(received)).digest('hex'), createHash('sha256').update(data).digest('hex'))
    assert.ok(server.stats().maxDialInFlight <= window)
  })

  it('closing one end closes both and the server forgets the dial', async () => {
    const remoteClosed = pEvent(inbound, 'close', { timeout: 10_000 })
    await outbound.close()
    await remoteClosed
    assert.equal(outbound.status, 'closed')
    assert.equal(inbound.status, 'closed')
    await waitFor(() => server.stats().dials === 0, 3000)
    assert.equal(caller.getServers()[0].dials, 0)
    assert.equal(callee.getServers()[0].dials, 0)
  })
})
