/**
 * Discovery around a join: nodes that join at the same moment (a start, or
 * everyone re-joining after a server restart) must all learn of each other
 * from the join samples and the first `ws-peers` deltas, not from the
 * periodic re-sample a minute later. Each scenario runs many rounds: the
 * announcement lost in a race shows up in a fraction of them.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DEFAULT_WINDOW_BYTES, Event, MAX_FRAME_BYTES } from '@wsstar/protocol'
import { Server as SocketIoServer } from 'socket.io'
import { createNode } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { waitFor } from './helpers/wait.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { AddressInfo } from 'node:net'

const NODES = 10
const ROUNDS = 20
/** every node must have discovered every other within this long */
const DISCOVERY_MS = 3000
/** a short re-join backoff: the restart rounds wait for the reconnects */
const RECONNECT = { initialDelay: 50, maxDelay: 250 }

/** Records, per node, the peers its discovery service announced since the last reset. */
class DiscoveryLog {
  readonly seen = new Map<TestNode, Set<string>>()

  watch (node: TestNode): void {
    const set = new Set<string>()
    this.seen.set(node, set)
    node.services.discovery.addEventListener('peer', (evt) => { set.add(evt.detail.id.toString()) })
  }

  reset (): void {
    for (const set of this.seen.values()) set.clear()
  }

  /** `node -> peer ids it has not discovered yet`, for the nodes still missing some */
  missing (nodes: TestNode[]): string[] {
    const out: string[] = []
    for (const node of nodes) {
      const set = this.seen.get(node) ?? new Set()
      const absent = nodes.filter(other => other !== node && !set.has(other.peerId.toString()))
      if (absent.length > 0) out.push(`${node.peerId.toString().slice(-6)} misses ${absent.map(o => o.peerId.toString().slice(-6)).join(',')}`)
    }
    return out
  }

  /** Resolves once every node discovered every other; rejects with who misses whom after `ms`. */
  async complete (nodes: TestNode[], ms: number, label: string): Promise<number> {
    const started = Date.now()
    while (this.missing(nodes).length > 0) {
      if (Date.now() - started > ms) {
        throw new assert.AssertionError({ message: `${label}: not every node discovered every other within ${ms} ms: ${this.missing(nodes).join('; ')}` })
      }
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    return Date.now() - started
  }
}

describe('wsstar: no discovery announcement is lost around a join', { timeout: 300_000 }, () => {
  const servers: TestServer[] = []
  const nodes = new Set<TestNode>()

  after(async () => {
    await Promise.allSettled([...nodes].map(async n => { await n.stop() }))
    await Promise.allSettled(servers.map(async s => { await s.stop() }))
  })

  it(`${NODES} nodes started at once discover each other within ${DISCOVERY_MS} ms, ${ROUNDS} rounds in a row`, async () => {
    const server = await startRendezvous()
    servers.push(server)
    const slowest: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const log = new DiscoveryLog()
      const group = await Promise.all(Array.from({ length: NODES }, async () => await createNode({ listen: [listenAddr(server.port)], start: false, wsstar: { reconnect: RECONNECT } })))
      for (const node of group) {
        nodes.add(node)
        log.watch(node)
      }
      await Promise.all(group.map(async node => { await node.start() }))
      slowest.push(await log.complete(group, DISCOVERY_MS, `round ${round + 1}`))
      await Promise.all(group.map(async node => { await node.stop() }))
      for (const node of group) nodes.delete(node)
    }
    console.log(`# ${ROUNDS} rounds of ${NODES} simultaneous starts: slowest complete discovery ${Math.max(...slowest)} ms`)
  })

  it(`${NODES} registered nodes re-discover each other within ${DISCOVERY_MS} ms of a server restart, ${ROUNDS} restarts in a row`, async () => {
    let server = await startRendezvous()
    const port = server.port
    const log = new DiscoveryLog()
    const group = await Promise.all(Array.from({ length: NODES }, async () => await createNode({ listen: [listenAddr(port)], start: false, wsstar: { reconnect: RECONNECT } })))
    for (const node of group) {
      nodes.add(node)
      log.watch(node)
    }
    try {
      await Promise.all(group.map(async node => { await node.start() }))
      await log.complete(group, DISCOVERY_MS, 'first start')
      const slowest: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        await server.stop()
        log.reset()
        server = await startRendezvous({ port })
        slowest.push(await log.complete(group, DISCOVERY_MS, `restart ${round + 1}`))
      }
      console.log(`# ${ROUNDS} server restarts under ${NODES} nodes: slowest complete re-discovery ${Math.max(...slowest)} ms`)
    } finally {
      servers.push(server)
    }
  })

  it('a join of an earlier connection that fails late does not drop the ws-peers held for the current join', async () => {
    // Signing is made slow, so the first connection's join (signed over its
    // socket id) goes out after that connection dropped and the socket came
    // back: it reaches the stand-in server on the second connection, which
    // refuses it (and the two-step join it falls back to) while the second
    // connection's own join waits with a delta held for it.
    const http = createServer()
    const io = new SocketIoServer(http, { transports: ['websocket'] })
    await new Promise<void>(resolve => { http.listen(0, '127.0.0.1', resolve) })
    const port = (http.address() as AddressInfo).port
    const others = await Promise.all([0, 1].map(async () => `${listenAddr(port)}/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`))
    const [inSample, heldBack] = others
    let connections = 0
    let staleJoins = 0
    io.on('connection', (socket) => {
      const connection = ++connections
      if (connection === 1) {
        setTimeout(() => { socket.disconnect(true) }, 50)
      } else {
        setTimeout(() => { socket.emit(Event.PEERS, { joined: [heldBack], left: [] }) }, 10)
      }
      socket.on(Event.JOIN, (_address: string, data: { sid?: string }, ack: (err: unknown, result?: unknown) => void) => {
        if (data?.sid === socket.id) {
          ack(null, { peers: [inSample], window: DEFAULT_WINDOW_BYTES, maxFrame: MAX_FRAME_BYTES, verified: true })
        } else if (data?.sid != null) {
          staleJoins++
          ack({ code: 'ERR_CHALLENGE_EXPIRED', message: 'signed for another socket id' })
        } else {
          ack({ code: 'ERR_RATE_LIMITED', message: 'slow down' })
        }
      })
    })
    const key = await generateKeyPair('Ed25519')
    let signs = 0
    const slowKey = Object.create(key, {
      sign: {
        value: async (data: Uint8Array) => {
          const n = ++signs
          const signature = await key.sign(data)
          // the first connection's signature comes back once the second
          // connection's join waits for its own, which takes longer still
          await new Promise(resolve => setTimeout(resolve, n === 1 ? 400 : 800))
          return signature
        }
      }
    })
    const node = await createNode({ listen: [listenAddr(port)], start: false, privateKey: slowKey, wsstar: { reconnect: { initialDelay: 20, maxDelay: 50 } } })
    nodes.add(node)
    const seen = new Set<string>()
    node.services.discovery.addEventListener('peer', (evt) => { seen.add(evt.detail.multiaddrs[0].toString()) })
    try {
      await node.start()
      await waitFor(() => seen.has(inSample), 5000)
      await waitFor(() => seen.size === 2, 1000).catch(() => {})
      assert.equal(staleJoins, 1, 'the first connection\'s join reached the second connection')
      assert.deepEqual([...seen].sort(), [...others].sort())
    } finally {
      await node.stop()
      nodes.delete(node)
      await io.close()
    }
  })

  it('a node keeps the ws-peers that arrive while it joins: before the join answer, and right behind it in the same read', async () => {
    // a stand-in server that answers the join at once (the client is told not
    // to insist on the challenge) and wraps the answer in two deltas
    const http = createServer()
    const io = new SocketIoServer(http, { transports: ['websocket'] })
    await new Promise<void>(resolve => { http.listen(0, '127.0.0.1', resolve) })
    const port = (http.address() as AddressInfo).port
    const others = await Promise.all([0, 1, 2].map(async () => `${listenAddr(port)}/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`))
    const [inSample, before, behind] = others
    io.on('connection', (socket) => {
      socket.on(Event.JOIN, (_address: string, _data: unknown, ack: (err: null, result: unknown) => void) => {
        socket.emit(Event.PEERS, { joined: [before], left: [] })
        ack(null, { peers: [inSample], window: DEFAULT_WINDOW_BYTES, maxFrame: MAX_FRAME_BYTES, verified: true })
        socket.emit(Event.PEERS, { joined: [behind], left: [] })
      })
    })
    const node = await createNode({ listen: [listenAddr(port)], start: false, wsstar: { challenge: false } })
    nodes.add(node)
    const seen = new Set<string>()
    node.services.discovery.addEventListener('peer', (evt) => { seen.add(evt.detail.multiaddrs[0].toString()) })
    try {
      await node.start()
      await waitFor(() => seen.size === 3, 3000).catch(() => {})
      assert.deepEqual([...seen].sort(), [...others].sort())
    } finally {
      await node.stop()
      nodes.delete(node)
      await io.close()
    }
  })
})
