/**
 * Namespaces in cluster mode: 2 replicas (the CLI with --redis-url) sharing
 * a private redis-server. Join samples, `ws-peers` deltas and re-samples
 * stay within namespaces across replicas, and --dial-scope namespace is
 * enforced on cross-replica dials.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Event } from '@wsstar/protocol'
import { errorCode, rawPeer, resultOf } from '@wsstar/raw-client'
import { startRedis, startReplica, stopAll, uniquePrefix } from '../helpers/cluster.js'
import { redisServer, requires } from '../helpers/system-components.js'
import { waitFor } from '../helpers/wait.js'
import type { PeersDelta } from '@wsstar/protocol'
import type { RawPeer } from '@wsstar/raw-client'
import type { Replica, TestRedis } from '../helpers/cluster.js'

const skip = requires('cluster namespaces suite', redisServer)

interface Heard {
  peer: RawPeer
  joined: Set<string>
  left: Set<string>
  events: number
}

async function joinIn (replica: Replica, namespaces?: string[]): Promise<Heard> {
  const peer = await rawPeer(replica.port, { namespaces })
  const heard: Heard = { peer, joined: new Set(peer.joined.peers), left: new Set(), events: 0 }
  peer.socket.on(Event.PEERS, (delta: PeersDelta) => {
    heard.events++
    for (const a of delta.joined) heard.joined.add(a)
    for (const a of delta.left) heard.left.add(a)
  })
  return heard
}

/** The peer id of an address (replicas spell the server part their own way). */
const idOf = (address: string): string => address.split('/p2p/').pop() ?? ''

function onlyAmong (heard: Heard, allowed: Heard[], what: string): void {
  // a delta announcing a joiner reaches the joiner too (clients ignore their own address)
  const ok = new Set([heard, ...allowed].map(h => idOf(h.peer.address)))
  for (const address of [...heard.joined, ...heard.left]) {
    assert.ok(ok.has(idOf(address)), `${what} heard of ${address}, which shares no namespace with it`)
  }
}

const heardOf = (heard: Heard, other: Heard): boolean => [...heard.joined].some(a => idOf(a) === idOf(other.peer.address))
const heardLeft = (heard: Heard, other: Heard): boolean => [...heard.left].some(a => idOf(a) === idOf(other.peer.address))

describe('cluster: namespaces across 2 replicas', { skip, timeout: 120_000 }, () => {
  let redis: TestRedis
  let replicas: Replica[] = []
  let scoped: Replica[] = []
  const raws: RawPeer[] = []

  before(async () => {
    redis = await startRedis()
    const prefix = uniquePrefix()
    const scopedPrefix = uniquePrefix()
    const fast = ['--peers-interval', '50ms', '--resample-interval', '300ms']
    replicas = await Promise.all([0, 1].map(async i => await startReplica({ redisUrl: redis.url, prefix, nodeId: `ns-${i}`, args: fast })))
    scoped = await Promise.all([0, 1].map(async i => await startReplica({ redisUrl: redis.url, prefix: scopedPrefix, nodeId: `scoped-${i}`, args: ['--dial-scope', 'namespace'] })))
  })

  after(async () => {
    for (const raw of raws) raw.close()
    await stopAll()
  })

  it('two namespaces never see each other in join samples, deltas or re-samples across replicas; a peer in both sees both', async () => {
    const [r0, r1] = replicas
    const a0 = await joinIn(r0, ['cl-a'])
    const b0 = await joinIn(r0, ['cl-b'])
    const d0 = await joinIn(r0)
    const a1 = await joinIn(r1, ['cl-a'])
    const b1 = await joinIn(r1, ['cl-b'])
    const d1 = await joinIn(r1)
    const ab = await joinIn(r1, ['cl-b', 'cl-a'])
    const all = [a0, b0, d0, a1, b1, d1, ab]
    raws.push(...all.map(h => h.peer))

    // join samples come from Redis: the namespace's peers on both replicas
    assert.deepEqual(a1.peer.joined.peers.map(idOf), [idOf(a0.peer.address)])
    assert.deepEqual(b1.peer.joined.peers.map(idOf), [idOf(b0.peer.address)])
    assert.deepEqual(d1.peer.joined.peers.map(idOf), [idOf(d0.peer.address)])
    assert.deepEqual(new Set(ab.peer.joined.peers.map(idOf)), new Set([a0, b0, a1, b1].map(h => idOf(h.peer.address))))

    // deltas cross replicas within the namespace
    await waitFor(() => heardOf(a0, a1) && heardOf(a0, ab), 20_000, 'a0 (replica 0) hears of a1 and ab (replica 1)')
    await waitFor(() => heardOf(b0, b1) && heardOf(b0, ab), 20_000, 'b0 hears of b1 and ab')
    await waitFor(() => heardOf(d0, d1), 20_000, 'd0 hears of d1')

    // so do leaves
    b1.peer.close()
    await waitFor(() => heardLeft(b0, b1) && heardLeft(ab, b1), 20_000, 'b0 and ab hear b1 left')

    // re-samples (every ~300 ms) before looking at everything heard
    const live = [a0, b0, d0, a1, d1, ab]
    const seen = live.map(h => h.events)
    await waitFor(() => live.every((h, i) => h.events >= seen[i] + 3), 20_000, 'three more ws-peers each')
    onlyAmong(a0, [a1, ab], 'a0')
    onlyAmong(a1, [a0, ab], 'a1')
    onlyAmong(b0, [b1, ab], 'b0')
    onlyAmong(ab, [a0, a1, b0, b1], 'ab')
    onlyAmong(d0, [d1], 'd0')
    onlyAmong(d1, [d0], 'd1')
  })

  it('a dial across replicas crosses namespaces with the default dial scope', async () => {
    const [r0, r1] = replicas
    const a = await rawPeer(r0.port, { namespaces: ['cl-dial-a'] })
    const b = await rawPeer(r1.port, { namespaces: ['cl-dial-b'] })
    raws.push(a, b)
    const result = await resultOf(a.socket, Event.DIAL, a.address, `${b.address}`)
    assert.equal(typeof result.dialId, 'string')
  })

  it('--dial-scope namespace: a cross-replica dial between peers that share no namespace is ERR_PEER_NOT_FOUND; sharing one it goes through', async () => {
    const [s0, s1] = scoped
    const a = await rawPeer(s0.port, { namespaces: ['cl-scope-a'] })
    const b = await rawPeer(s1.port, { namespaces: ['cl-scope-b'] })
    const ab = await rawPeer(s1.port, { namespaces: ['cl-scope-a', 'cl-scope-b'] })
    raws.push(a, b, ab)
    // a dial names the callee by peer id: any replica's spelling of its address will do
    const via = (address: string): string => `/ip4/127.0.0.1/tcp/${s0.port}/ws/p2p-websocket-star/p2p/${idOf(address)}`
    assert.equal(await errorCode(a.socket, Event.DIAL, a.address, via(b.address)), 'ERR_PEER_NOT_FOUND')
    const result = await resultOf(a.socket, Event.DIAL, a.address, via(ab.address))
    assert.equal(typeof result.dialId, 'string')
  })
})
