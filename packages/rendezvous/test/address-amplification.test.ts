/**
 * Discovery amplification: what one join makes the server send to every
 * other peer. The registered address is capped (`max-address-length`) and
 * stored and broadcast in its canonical form (server part + the peer id),
 * so padding inside the server part (`/tls/sni/<padding>`) is not fanned out;
 * and registrations and leaves, each broadcast to every peer, are bounded
 * per socket (`churn-rate` / `churn-burst`).
 */
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { closeClients, connect, identity, join, nextEvent, request } from '@wsstar/raw-client'
import { joinedClient, startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { PeersDelta } from '@wsstar/protocol'

function paddedAddress (server: RendezvousServer, peerId: string, padding: number): string {
  return `/ip4/127.0.0.1/tcp/${server.port}/tls/sni/${'a'.repeat(padding)}.example/ws/p2p-websocket-star/p2p/${peerId}`
}

describe('discovery amplification: address length and canonical form', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer({ limits: { peersIntervalMs: 50 } }) })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('a 1,000-character address (padded /tls/sni) is refused with ERR_INVALID_ADDRESS', async () => {
    const watcher = await joinedClient(server)
    const peer = await identity()
    const address = paddedAddress(server, peer.peerId.toString(), 1000 - paddedAddress(server, peer.peerId.toString(), 0).length)
    assert.equal(address.length, 1000)
    let broadcast: string | undefined
    watcher.socket.on('ws-peers', (delta: PeersDelta) => { broadcast ??= delta.joined.find(a => a.length > 500) })
    const socket = await connect(server)
    await assert.rejects(join(socket, peer, address), (err: { code?: string }) => {
      assert.equal(err.code, 'ERR_INVALID_ADDRESS')
      return true
    })
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(broadcast, undefined, `broadcast verbatim: ${broadcast?.length ?? 0} chars`)
  })

  it('an address within the cap is registered and broadcast as server part + peer id, without the /sni padding', async () => {
    const watcher = await joinedClient(server)
    const peer = await identity()
    const address = paddedAddress(server, peer.peerId.toString(), 60)
    const seen = nextEvent(watcher.socket, 'ws-peers', (delta: PeersDelta) => delta.joined.some(a => a.endsWith(peer.peerId.toString())))
    const socket = await connect(server)
    await join(socket, peer, address)
    const [delta] = await seen
    const announced = (delta as PeersDelta).joined.find(a => a.endsWith(peer.peerId.toString()))
    assert.equal(announced, `/ip4/127.0.0.1/tcp/${server.port}/tls/ws/p2p-websocket-star/p2p/${peer.peerId.toString()}`)
  })

  it('with --announce, the announced server part is what gets broadcast', async () => {
    const announced = await startServer({ limits: { peersIntervalMs: 50 }, announce: ['/ip4/127.0.0.1/tcp/4443/wss'] })
    try {
      const peer = await identity()
      const other = await identity()
      const watcherSocket = await connect(announced)
      await join(watcherSocket, other, `/ip4/127.0.0.1/tcp/4443/wss/p2p-websocket-star/p2p/${other.peerId.toString()}`)
      const seen = nextEvent(watcherSocket, 'ws-peers', (delta: PeersDelta) => delta.joined.some(a => a.endsWith(peer.peerId.toString())))
      const socket = await connect(announced)
      await join(socket, peer, `/ip4/127.0.0.1/tcp/4443/tls/sni/padding.example/ws/p2p-websocket-star/p2p/${peer.peerId.toString()}`)
      const [delta] = await seen
      assert.ok((delta as PeersDelta).joined.includes(`/ip4/127.0.0.1/tcp/4443/wss/p2p-websocket-star/p2p/${peer.peerId.toString()}`), JSON.stringify(delta))
    } finally {
      closeClients()
      await announced.stop()
    }
  })

  it('join/leave churn on one socket is bounded (ERR_RATE_LIMITED past the churn bucket, counted), even with the join rate out of the way; a watcher keeps its registration', async () => {
    const churny = await startServer({ limits: { peersIntervalMs: 50, joinRate: 1000, joinBurst: 1000, churnRate: 1, churnBurst: 6 } })
    try {
      const watcher = await joinedClient(churny)
      const peer = await identity()
      const socket = await connect(churny)
      const address = `/ip4/127.0.0.1/tcp/${churny.port}/ws/p2p-websocket-star/p2p/${peer.peerId.toString()}`
      const codes: string[] = []
      for (let i = 0; i < 20; i++) {
        try {
          await join(socket, peer, address)
          codes.push('join:ok')
        } catch (err) {
          codes.push(`join:${(err as { code?: string }).code ?? 'error'}`)
        }
        const [err] = await request(socket, 'ss-leave', address)
        codes.push(`leave:${err?.code ?? 'ok'}`)
      }
      const changes = codes.filter(c => c === 'join:ok' || c === 'leave:ok').length
      assert.ok(codes.includes('join:ERR_RATE_LIMITED'), codes.join(' '))
      // 6 tokens at once, 1 a second; the loop takes well under 10 s
      assert.ok(changes >= 6 && changes <= 16, `${changes} registrations and leaves went through: ${codes.join(' ')}`)
      const hits = (await churny.metrics.getSingleMetricAsString('wsstar_limit_hits_total')).split('\n').find(l => l.includes('limit="churn-rate"'))
      assert.ok(hits != null && Number(hits.split(' ').pop()) > 0, `churn-rate hits counted: ${hits ?? 'none'}`)
      const again = await joinedClient(churny)
      assert.ok(again.result.peers.includes(watcher.address), 'the watcher is still registered')
    } finally {
      closeClients()
      await churny.stop()
    }
  })
})
