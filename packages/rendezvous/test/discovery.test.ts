import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { BACKLOG_PERIODS, Discovery, GATHER_MS } from '../src/discovery/discovery.js'
import { InMemoryPeerRegistry } from '../src/discovery/peer-registry.js'
import { signJoin } from '@wsstar/protocol'
import { REQUEST_TIMEOUT_MS, closeClients, connect, identity, nextEvent, peerAddress, request } from '@wsstar/raw-client'
import { joinedClient, sleep, startServer, waitUntil } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { Session } from '../src/session/session.js'
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

  it('the join answer reaches the joiner before any ws-peers, even when a delta goes out while the answer is being made', async () => {
    // a registry that takes its time for the joiner's sample (as Redis can):
    // the delta announcing the joiner goes out to the room, joiner included, meanwhile
    class SlowSampleRegistry extends InMemoryPeerRegistry {
      slowMs = 0
      override async sample (count: number, exclude?: ReadonlySet<string>): Promise<string[]> {
        await sleep(this.slowMs)
        return await super.sample(count, exclude)
      }
    }
    const registry = new SlowSampleRegistry()
    const slow = await startServer({ registry, limits: { peersIntervalMs: 50 } })
    try {
      const a = await joinedClient(slow)
      const peer = await identity()
      const socket = await connect(slow)
      const address = peerAddress(slow, peer)
      const order: string[] = []
      socket.on('ws-peers', (delta: PeersDelta) => { order.push(delta.joined.includes(address) ? 'ws-peers announcing the joiner' : 'ws-peers') })
      const [, hello] = await request(socket, 'ss-join', address, {})
      const signature = await signJoin(peer.key, address, hello.nonce)
      registry.slowMs = 300
      const seenByA = nextEvent(a.socket, 'ws-peers', (delta: PeersDelta) => delta.joined.includes(address))
      await new Promise<void>((resolve, reject) => {
        // the ack is recorded in its callback, synchronously, as the packets are read (the timeout flag keeps it so)
        socket.timeout(REQUEST_TIMEOUT_MS).emit('ss-join', address, { signature }, (noAnswer: Error | null, err: unknown, result: { peers: string[] }) => {
          if (noAnswer != null) {
            reject(new Error(`ss-join proof: ${noAnswer.message}`))
            return
          }
          if (err != null) reject(new Error(JSON.stringify(err)))
          order.push('join answer')
          assert.ok(result.peers.includes(a.address))
          resolve()
        })
      })
      await seenByA
      // the delta that announced the joiner went to it as well, but after its answer
      await waitUntil(() => order.length >= 2, 2000, 'the delta after the answer')
      assert.equal(order[0], 'join answer', order.join(', '))
      assert.ok(order.includes('ws-peers announcing the joiner'), order.join(', '))
    } finally {
      closeClients()
      await slow.stop()
    }
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
      // the resample carries b even though a already learnt it from the delta (one
      // broadcast delta announces b; a re-sample never holds a's own address)
      await nextEvent(a.socket, 'ws-peers', (d: PeersDelta) => d.joined.includes(b.address) && !d.joined.includes(a.address) && d.left.length === 0, 3000)
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
      broadcastNamespace: () => {},
      send: () => {},
      logger: pino({ level: 'silent' })
    })
    return { discovery, sent }
  }

  it('collects joins and leaves into one delta per period', async () => {
    const { discovery, sent } = make(128, 300)
    discovery.joined('/a')
    await new Promise(resolve => setTimeout(resolve, GATHER_MS / 2))
    discovery.joined('/b')
    assert.equal(sent.length, 0, 'the first change after a quiet period waits a little for others')
    await waitUntil(() => sent.length === 1, 2000)
    assert.deepEqual(sent[0].joined, ['/a', '/b'], 'a burst shares one delta')
    discovery.joined('/c')
    discovery.left('/d')
    await new Promise(resolve => setTimeout(resolve, GATHER_MS * 1.5))
    assert.equal(sent.length, 1, 'then at most one delta per period')
    await waitUntil(() => sent.length === 2, 2000)
    assert.deepEqual(sent[1].joined, ['/c'])
    assert.deepEqual(sent[1].left, ['/d'])
    discovery.stop()
  })

  it('caps each list; what is over the cap goes out in the next periods, oldest first', async () => {
    const { discovery, sent } = make(2, 20)
    for (const x of ['/1', '/2', '/3', '/4', '/5']) {
      discovery.joined(x)
      discovery.left(`/gone${x}`)
    }
    discovery.flush()
    assert.deepEqual(sent[0], { joined: ['/1', '/2'], left: ['/gone/1', '/gone/2'] })
    assert.equal(discovery.pending, 6, 'the rest waits for the next periods')
    await waitUntil(() => sent.length === 3, 2000)
    assert.deepEqual(sent[1], { joined: ['/3', '/4'], left: ['/gone/3', '/gone/4'] })
    assert.deepEqual(sent[2], { joined: ['/5'], left: ['/gone/5'] })
    assert.equal(discovery.pending, 0)
    discovery.stop()
  })

  it(`keeps at most ${BACKLOG_PERIODS} periods' worth of addresses over the cap (the newest); the re-sample covers the rest`, () => {
    const { discovery, sent } = make(2)
    const all = Array.from({ length: 2 + 2 * BACKLOG_PERIODS + 5 }, (_, i) => `/${i}`)
    for (const x of all) discovery.joined(x)
    discovery.flush()
    assert.deepEqual(sent[0].joined, all.slice(0, 2))
    assert.equal(discovery.pending, 2 * BACKLOG_PERIODS)
    discovery.flush()
    assert.deepEqual(sent[1].joined, all.slice(7, 9), 'the oldest over the backlog were dropped')
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
      registry, sampleSize: 10, intervalMs: 10, batchMax: 10, resampleIntervalMs: 1000, broadcast: () => {}, broadcastNamespace: () => {}, send: () => {}, logger: pino({ level: 'silent' })
    })
    const sample = await discovery.sampleFor({ peerIds: new Set(['me']) } as unknown as Session)
    assert.deepEqual(sample, ['/you'])
  })
})
