import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Discovery } from '../src/discovery.js'
import { InMemoryPeerRegistry } from '../src/peer-registry.js'
import { closeClients, joinedClient, nextEvent, request, startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { Session } from '../src/session.js'
import type { PeersDelta } from '@wsstar/protocol'

describe('discovery (server)', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer({ limits: { peersIntervalMs: 50 } }) })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('the join sample holds earlier peers but never the joiner itself', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    assert.ok(b.result.peers.includes(a.address))
    assert.ok(!b.result.peers.includes(b.address))
  })

  it('a join reaches earlier peers as a ws-peers `joined` delta', async () => {
    const a = await joinedClient(server)
    const seen = nextEvent(a.socket, 'ws-peers', (delta: PeersDelta) => delta.joined.length > 0 && !delta.joined.every(x => x === a.address))
    const b = await joinedClient(server)
    const [delta] = await seen
    assert.ok(delta.joined.includes(b.address))
    assert.ok(Array.isArray(delta.left))
  })

  it('a leave and a disconnect reach the others as `left`', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const c = await joinedClient(server)
    let gone = nextEvent(a.socket, 'ws-peers', (delta: PeersDelta) => delta.left.includes(b.address))
    const [err] = await request(b.socket, 'ss-leave', b.address)
    assert.equal(err, null)
    await gone
    gone = nextEvent(a.socket, 'ws-peers', (delta: PeersDelta) => delta.left.includes(c.address))
    c.socket.disconnect()
    await gone
  })

  it('the join sample is bounded by the sample size', async () => {
    const small = await startServer({ limits: { sampleSize: 3 } })
    try {
      for (let i = 0; i < 5; i++) {
        await joinedClient(small)
      }
      const last = await joinedClient(small)
      assert.equal(last.result.peers.length, 3)
      assert.equal(new Set(last.result.peers).size, 3)
      assert.ok(!last.result.peers.includes(last.address))
    } finally {
      closeClients()
      await small.stop()
    }
  })

  it('registered sockets get a periodic fresh sample', async () => {
    const fast = await startServer({ limits: { resampleIntervalMs: 100 } })
    try {
      const a = await joinedClient(fast)
      const b = await joinedClient(fast)
      // the resample carries b even though a already learnt it from the delta
      const [delta] = await nextEvent(a.socket, 'ws-peers', (d: PeersDelta) => d.joined.includes(b.address) && d.left.length === 0, 3000)
      assert.ok(!delta.joined.includes(a.address))
      const again = await nextEvent(a.socket, 'ws-peers', (d: PeersDelta) => d.joined.includes(b.address), 3000)
      assert.ok(again != null)
    } finally {
      closeClients()
      await fast.stop()
    }
  })
})

describe('Discovery batching (unit)', () => {
  function make (batchMax = 128, intervalMs = 10_000): { discovery: Discovery, sent: PeersDelta[] } {
    const sent: PeersDelta[] = []
    const discovery = new Discovery({
      registry: new InMemoryPeerRegistry(),
      sampleSize: 64,
      intervalMs,
      batchMax,
      resampleIntervalMs: 60_000,
      broadcast: (delta) => { sent.push(delta) },
      send: () => {},
      logger: pino({ level: 'silent' })
    })
    return { discovery, sent }
  }

  it('collects joins and leaves into one delta per period', async () => {
    const { discovery, sent } = make(128, 30)
    discovery.joined('/a')
    await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(sent.length, 1, 'the first change after a quiet period goes out at once')
    discovery.joined('/b')
    discovery.joined('/c')
    discovery.left('/d')
    assert.equal(sent.length, 1)
    await new Promise(resolve => setTimeout(resolve, 60))
    assert.equal(sent.length, 2)
    assert.deepEqual([...sent[1].joined].sort(), ['/b', '/c'])
    assert.deepEqual(sent[1].left, ['/d'])
    discovery.stop()
  })

  it('caps each list with a random subset', () => {
    const { discovery, sent } = make(2)
    for (const x of ['/1', '/2', '/3', '/4', '/5']) {
      discovery.joined(x)
      discovery.left(`/gone${x}`)
    }
    discovery.flush()
    assert.equal(sent[0].joined.length, 2)
    assert.equal(sent[0].left.length, 2)
    assert.ok(sent[0].joined.every(x => ['/1', '/2', '/3', '/4', '/5'].includes(x)))
    discovery.stop()
  })

  it('a join then a leave in one period is announced as left only; a leave then a re-join as joined only', () => {
    const { discovery, sent } = make()
    discovery.joined('/x')
    discovery.left('/x')
    discovery.left('/y')
    discovery.joined('/y')
    discovery.flush()
    assert.deepEqual(sent[0], { joined: ['/y'], left: ['/x'] })
    discovery.stop()
  })

  it('sampleFor excludes the socket\'s own peers', async () => {
    const registry = new InMemoryPeerRegistry()
    registry.addSync({ peerId: 'me', address: '/me', socketId: 's1' })
    registry.addSync({ peerId: 'you', address: '/you', socketId: 's2' })
    const discovery = new Discovery({
      registry, sampleSize: 10, intervalMs: 10, batchMax: 10, resampleIntervalMs: 1000, broadcast: () => {}, send: () => {}, logger: pino({ level: 'silent' })
    })
    const sample = await discovery.sampleFor({ peerIds: new Set(['me']) } as unknown as Session)
    assert.deepEqual(sample, ['/you'])
  })
})
