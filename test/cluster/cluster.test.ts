/**
 * Cluster mode as processes: a private redis-server, 3 rendezvous replicas
 * (the CLI with --redis-url) and HAProxy in front, all on loopback.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_WINDOW_BYTES, EndKind, Event, MAX_FRAME_BYTES } from '@wsstar/protocol'
import { nextEvent, rawPeer, resultOf } from '@wsstar/raw-client'
import { startHaproxy, startRedis, startReplica, stopAll, uniquePrefix } from '../helpers/cluster.js'
import { createNode, wsstarOf } from '../helpers/nodes.js'
import { listenAddr } from '../helpers/rendezvous.js'
import { haproxy as haproxyComponent, redisServer, requires } from '../helpers/system-components.js'
import { hashingSink, readAll, writeAll } from '../helpers/streams.js'
import { waitFor } from '../helpers/wait.js'
import type { RawPeer } from '@wsstar/raw-client'
import type { Replica, TestHaproxy, TestRedis } from '../helpers/cluster.js'
import type { TestNode } from '../helpers/nodes.js'

const SINK = '/wsstar-test/sink/1.0.0'
const skip = requires('cluster suite', redisServer, haproxyComponent)

/** The address of `peer` spelled through the replica on `port`: any replica reaches any peer by id. */
function via (port: number, peerAddress: string): string {
  return `${listenAddr(port)}/p2p/${peerAddress.split('/p2p/').pop() ?? ''}`
}

async function sink (node: TestNode): Promise<void> {
  await node.handle(SINK, hashingSink)
}

/** ss-dial from `caller` (registered at its replica) to `callee` (anywhere in the cluster); ms to the accept. */
async function rawDial (caller: RawPeer, callee: RawPeer): Promise<number> {
  const started = performance.now()
  const result = await resultOf(caller.socket, Event.DIAL, caller.address, callee.address)
  const ms = performance.now() - started
  assert.equal(typeof result.dialId, 'string')
  caller.socket.emit(Event.END, result.dialId, 'reset')
  return ms
}

function p50 (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

describe('cluster: 3 replicas sharing Redis', { skip, timeout: 120_000 }, () => {
  let redis: TestRedis
  let replicas: Replica[] = []
  let haproxy: TestHaproxy
  let prefix = ''
  const nodes: TestNode[] = []
  const raws: RawPeer[] = []

  before(async () => {
    redis = await startRedis()
    prefix = uniquePrefix()
    // a short dial timeout: a dial into a paused replica gives up sooner
    replicas = await Promise.all([0, 1, 2].map(async i => await startReplica({ redisUrl: redis.url, prefix, nodeId: `replica-${i}`, args: ['--dial-timeout', '3s'] })))
    haproxy = await startHaproxy(replicas.map(r => r.port))
  })

  after(async () => {
    for (const raw of raws) raw.close()
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await stopAll()
  })

  it('libp2p nodes on different replicas discover each other, dial across nodes and move 64 MiB byte-exact', async () => {
    const [r0, r1] = replicas
    const a = await createNode({ listen: [listenAddr(r0.port)] })
    const b = await createNode({ listen: [listenAddr(r1.port)] })
    nodes.push(a, b)
    await sink(b)
    // discovery crosses nodes: b (on replica 1) learns about a (on replica 0) and vice versa
    await waitFor(async () => (await a.peerStore.has(b.peerId)) && (await b.peerStore.has(a.peerId)), 5000)
    const size = 64 * 1024 * 1024
    const data = randomBytes(size)
    const expected = createHash('sha256').update(data).digest('hex')
    const started = Date.now()
    // through replica 0 only: a has no socket to replica 1, so the dial is relayed across nodes
    const stream = await a.dialProtocol(multiaddr(via(r0.port, b.getMultiaddrs()[0].toString())), SINK, { signal: AbortSignal.timeout(5000) })
    const reply = readAll(stream)
    await writeAll(stream, data)
    await stream.close({ signal: AbortSignal.timeout(30_000) })
    const [hash, bytes] = (await reply).toString().split(' ')
    const seconds = (Date.now() - started) / 1000
    console.log(`# 64 MiB across replicas in ${seconds.toFixed(2)} s (${(64 / seconds).toFixed(1)} MiB/s)`)
    assert.equal(Number(bytes), size)
    assert.equal(hash, expected)
    assert.equal(wsstarOf(a).getServers().length, 1, 'a only ever talked to replica 0')
    assert.equal((await r1.health()).dials, 0, 'the dial is homed on the caller\'s replica')
  })

  it('credits bound the bytes in flight across replicas exactly as on one; resets reach the remote end', async () => {
    const [r0, r1] = replicas
    const caller = await rawPeer(r0.port)
    const callee = await rawPeer(r1.port)
    raws.push(caller, callee)
    const dialsBefore = (await r0.health()).dials
    const received: Buffer[] = []
    const credits: number[] = []
    callee.socket.on(Event.DATA, (_id: string, bytes: Uint8Array) => { received.push(Buffer.from(bytes)) })
    caller.socket.on(Event.CREDIT, (_id: string, bytes: number) => { credits.push(bytes) })
    const receivedBytes = (): number => received.reduce((n, b) => n + b.length, 0)
    const send = (dialId: string, data: Buffer): void => {
      for (let at = 0; at < data.length; at += MAX_FRAME_BYTES) {
        caller.socket.emit(Event.DATA, dialId, data.subarray(at, at + MAX_FRAME_BYTES))
      }
    }
    const resetOf = (peer: RawPeer, dialId: string): boolean => peer.ends.some(([id, kind]) => id === dialId && kind === EndKind.RESET)

    // a callee that does not credit gets exactly one window, byte-exact and in order
    const first = (await resultOf(caller.socket, Event.DIAL, caller.address, callee.address)).dialId as string
    const data = randomBytes(DEFAULT_WINDOW_BYTES + DEFAULT_WINDOW_BYTES / 2)
    send(first, data.subarray(0, DEFAULT_WINDOW_BYTES))
    await waitFor(() => receivedBytes() === DEFAULT_WINDOW_BYTES, 5000)
    // its credit crosses back; the caller may send that much more, and not one byte beyond
    callee.socket.emit(Event.CREDIT, first, DEFAULT_WINDOW_BYTES / 2)
    await waitFor(() => credits.length === 1, 5000)
    assert.equal(credits[0], DEFAULT_WINDOW_BYTES / 2)
    send(first, data.subarray(DEFAULT_WINDOW_BYTES))
    caller.socket.emit(Event.DATA, first, Buffer.from([1]))
    // the home replica resets both ends, the remote callee included
    await waitFor(() => resetOf(caller, first) && resetOf(callee, first), 5000)
    assert.equal(receivedBytes(), data.length, 'the byte over the credit never reached the callee')
    assert.ok(Buffer.concat(received).equals(data))

    // a remote callee crediting bytes it never got: reset one hop later, both ends told
    const second = (await resultOf(caller.socket, Event.DIAL, caller.address, callee.address)).dialId as string
    callee.socket.emit(Event.CREDIT, second, 1)
    await waitFor(() => resetOf(caller, second) && resetOf(callee, second), 5000)

    // the caller's reset reaches the remote callee
    const third = (await resultOf(caller.socket, Event.DIAL, caller.address, callee.address)).dialId as string
    caller.socket.emit(Event.END, third, EndKind.RESET)
    await waitFor(() => resetOf(callee, third), 5000)
    await waitFor(async () => (await r0.health()).dials === dialsBefore, 5000)
  })

  it('a remote callee that declines or does not answer fails the dial as on one server: ERR_DIAL_REFUSED with its reason, ERR_DIAL_TIMEOUT and a reset for the callee', async () => {
    const [r0, r1] = replicas
    const caller = await rawPeer(r0.port)
    const decliner = await rawPeer(r1.port, { answer: 'ignore' })
    const silent = await rawPeer(r1.port, { answer: 'ignore' })
    raws.push(caller, decliner, silent)
    const dialsBefore = (await r0.health()).dials
    decliner.socket.on(Event.INCOMING, (_id: string, _from: string, ack: (err: unknown) => void) => { ack({ code: 'ERR_DIAL_REFUSED', message: 'busy' }) })
    await assert.rejects(resultOf(caller.socket, Event.DIAL, caller.address, decliner.address), { code: 'ERR_DIAL_REFUSED', message: 'the callee declined the dial: busy' })
    await assert.rejects(resultOf(caller.socket, Event.DIAL, caller.address, silent.address), { code: 'ERR_DIAL_TIMEOUT', message: 'the callee did not answer within 3000 ms' })
    assert.equal(silent.incoming.length, 1)
    // a late accept would find nothing: the callee's replica told it the dial is gone
    await waitFor(() => silent.ends.some(([id, kind]) => id === silent.incoming[0] && kind === EndKind.RESET), 5000)
    assert.equal((await r0.health()).dials, dialsBefore)
  })

  it('a peer id that joins again on another replica is evicted from the first: ws-evicted ERR_REPLACED with the old address, and it is dialable at the new one', async () => {
    const [r0, r1, r2] = replicas
    const first = await rawPeer(r0.port)
    raws.push(first)
    const evicted = nextEvent(first.socket, Event.EVICTED, () => true, 10_000)
    const again = await rawPeer(r1.port, { key: first.key })
    raws.push(again)
    const [notice] = await evicted
    assert.deepEqual(notice, { address: first.address, code: 'ERR_REPLACED', message: 'this peer id joined from another connection' })
    const caller = await rawPeer(r2.port)
    raws.push(caller)
    await rawDial(caller, again)
    assert.deepEqual(first.incoming, [])
    assert.equal(again.incoming.length, 1)
  })

  it('a paused replica (SIGSTOP) does not stall dials between the others', async () => {
    const [r0, r1, r2] = replicas
    const p0 = await rawPeer(r0.port)
    const p1 = await rawPeer(r1.port)
    const p2 = await rawPeer(r2.port)
    raws.push(p0, p1, p2)
    await rawDial(p0, p1)
    r2.pause()
    try {
      const stuck = rawDial(p0, p2).then(() => 'accepted', (err: Error & { code?: string }) => err.code ?? err.message)
      const times: number[] = []
      for (let i = 0; i < 20; i++) {
        times.push(await rawDial(i % 2 === 0 ? p0 : p1, i % 2 === 0 ? p1 : p0))
      }
      console.log(`# with replica 2 paused: 20 cross-node dials, p50 ${p50(times).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms`)
      assert.ok(Math.max(...times) < 1000, `dials took ${times.join(', ')} ms`)
      // the dial into the paused replica fails on its own (its liveness key expires, or the dial times out)
      const outcome = await stuck
      assert.ok(['ERR_DIAL_TIMEOUT', 'ERR_PEER_NOT_FOUND'].includes(outcome), outcome)
    } finally {
      r2.resume()
    }
    // resumed: reachable again
    await waitFor(async () => await rawDial(p0, p2).then(() => true, () => false), 10_000, 'a dial after the replica came back', 200)
  })

  it('SIGKILL of a replica: its peers reconnect through HAProxy and are dialable again within a bounded time', async () => {
    const lb = listenAddr(haproxy.port)
    const x = await createNode({ listen: [lb] })
    const y = await createNode({ listen: [lb] })
    nodes.push(x, y)
    await waitFor(() => y.getMultiaddrs().length > 0 && x.getMultiaddrs().length > 0, 10_000)
    const target = y.getMultiaddrs()[0]
    await x.services.ping.ping(target, { signal: AbortSignal.timeout(5000) })
    // kill the replica that holds y
    const holderId = await holderOf(redis.url, prefix, y.peerId.toString())
    const holder = replicas.find(r => r.nodeId === holderId)
    assert.ok(holder != null, `y is held by ${holderId}`)
    const killedAt = Date.now()
    await holder.kill('SIGKILL')
    replicas = replicas.filter(r => r !== holder)
    let attempts = 0
    await waitFor(async () => {
      attempts++
      try {
        await x.hangUp(y.peerId).catch(() => {})
        await x.services.ping.ping(target, { signal: AbortSignal.timeout(2000) })
        return true
      } catch {
        return false
      }
    }, 20_000, 'the peer of the killed replica to be dialable again', 100)
    const recoveryMs = Date.now() - killedAt
    console.log(`# replica SIGKILLed: peer dialable again after ${recoveryMs} ms (${attempts} attempts)`)
    assert.ok(recoveryMs < 15_000, `recovery took ${recoveryMs} ms`)
  })

  it('Redis restart: the cluster recovers (registrations re-asserted, cross-node dials work again)', async () => {
    const [r0, r1] = replicas
    const p0 = await rawPeer(r0.port)
    const p1 = await rawPeer(r1.port)
    raws.push(p0, p1)
    await rawDial(p0, p1)
    const startedAt = Date.now()
    await redis.restart()
    // registrations made before the restart come back without the peers doing anything
    await waitFor(async () => await rawDial(p0, p1).then(() => true, () => false), 20_000, 'cross-node dials after the Redis restart', 100)
    const recoveryMs = Date.now() - startedAt
    console.log(`# redis restarted empty: cross-node dials work again after ${recoveryMs} ms`)
    assert.ok(recoveryMs < 15_000, `recovery took ${recoveryMs} ms`)
    // and new peers can join and be dialled across nodes
    const q0 = await rawPeer(r0.port)
    const q1 = await rawPeer(r1.port)
    raws.push(q0, q1)
    await rawDial(q1, q0)
  })
})

/** The node id holding `peerId`, read from the registry in Redis. */
async function holderOf (url: string, prefix: string, peerId: string): Promise<string | null> {
  const { Redis } = await import('ioredis')
  const client = new Redis(url)
  try {
    return await client.hget(`${prefix}peer:${peerId}`, 'n')
  } finally {
    client.disconnect()
  }
}
