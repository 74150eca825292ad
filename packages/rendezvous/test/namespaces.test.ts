/**
 * Namespaces (scoped discovery): a peer joins with `namespaces` and hears,
 * in its join sample, the `ws-peers` deltas and the re-samples, only of
 * peers that share one of them; without, it is in the default namespace.
 * Dials cross namespaces unless the server runs with dialScope 'namespace'.
 */
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { Event, PROTOCOL_VERSION, signJoin } from '@wsstar/protocol'
import { closeClients, connect, errorCode, identity, openDial, peerAddress, rawPeer, request, tryJoin, tryJoinBySocketId } from '@wsstar/raw-client'
import { metricValue, startServer, waitUntil } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { PeersDelta } from '@wsstar/protocol'
import type { RawPeer } from '@wsstar/raw-client'

/** Every address a peer heard of: join sample, deltas (joined and left) and re-samples. */
interface Heard {
  peer: RawPeer
  /** addresses in the join sample, `joined` lists and re-samples */
  joined: Set<string>
  /** addresses in `left` lists */
  left: Set<string>
  /** `ws-peers` events received */
  events: number
}

async function joinIn (server: RendezvousServer, namespaces?: string[]): Promise<Heard> {
  const peer = await rawPeer(server, { namespaces })
  const heard: Heard = { peer, joined: new Set(peer.joined.peers), left: new Set(), events: 0 }
  peer.socket.on(Event.PEERS, (delta: PeersDelta) => {
    heard.events++
    for (const a of delta.joined) heard.joined.add(a)
    for (const a of delta.left) heard.left.add(a)
  })
  return heard
}

function onlyAmong (heard: Heard, allowed: Heard[], what: string): void {
  // a delta announcing a joiner reaches the joiner too (clients ignore their own address)
  const ok = new Set([heard, ...allowed].map(h => h.peer.address))
  for (const address of [...heard.joined, ...heard.left]) {
    assert.ok(ok.has(address), `${what} heard of ${address}, which shares no namespace with it`)
  }
}

describe('namespaces (server)', () => {
  let server: RendezvousServer

  // short periods: deltas every 50 ms, a re-sample every ~200 ms
  before(async () => { server = await startServer({ limits: { peersIntervalMs: 50, resampleIntervalMs: 200 } }) })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('two namespaces never see each other in join samples, deltas or re-samples; a peer in both sees both; the default namespace sees neither', async () => {
    const d1 = await joinIn(server)
    const a1 = await joinIn(server, ['app-a'])
    const b1 = await joinIn(server, ['app-b'])
    const a2 = await joinIn(server, ['app-a'])
    const b2 = await joinIn(server, ['app-b'])
    const ab = await joinIn(server, ['app-a', 'app-b'])
    const d2 = await joinIn(server)

    // the join samples
    assert.deepEqual(a2.peer.joined.peers, [a1.peer.address])
    assert.deepEqual(b2.peer.joined.peers, [b1.peer.address])
    assert.deepEqual(new Set(ab.peer.joined.peers), new Set([a1, b1, a2, b2].map(h => h.peer.address)))
    assert.deepEqual(d2.peer.joined.peers, [d1.peer.address])

    // the deltas: later joins reach earlier peers of their namespaces
    await waitUntil(() => a1.joined.has(a2.peer.address) && a1.joined.has(ab.peer.address), 10_000, 'a1 hears of a2 and ab')
    await waitUntil(() => b1.joined.has(b2.peer.address) && b1.joined.has(ab.peer.address), 10_000, 'b1 hears of b2 and ab')
    await waitUntil(() => d1.joined.has(d2.peer.address), 10_000, 'd1 hears of d2')

    // leaves are scoped too
    b2.peer.close()
    await waitUntil(() => b1.left.has(b2.peer.address) && ab.left.has(b2.peer.address), 10_000, 'b1 and ab hear b2 left')

    // a few re-samples each (every ~200 ms) before looking at everything heard
    const seen = [a1, a2, b1, ab, d1, d2].map(h => h.events)
    await waitUntil(() => [a1, a2, b1, ab, d1, d2].every((h, i) => h.events >= seen[i] + 3), 10_000, 'three more ws-peers each')
    assert.ok(ab.joined.has(a1.peer.address) && ab.joined.has(b1.peer.address))
    onlyAmong(a1, [a2, ab], 'a1')
    onlyAmong(a2, [a1, ab], 'a2')
    onlyAmong(b1, [b2, ab], 'b1')
    onlyAmong(ab, [a1, a2, b1, b2], 'ab')
    onlyAmong(d1, [d2], 'd1')
    onlyAmong(d2, [d1], 'd2')
  })

  it('the one-request join takes namespaces as the hello does', async () => {
    const a = await joinIn(server, ['one-request'])
    await joinIn(server)
    const peer = await identity()
    const socket = await connect(server)
    const address = peerAddress(server, peer)
    const [err, result] = await tryJoinBySocketId(socket, peer, address, { namespaces: ['one-request'] })
    assert.equal(err, null)
    assert.deepEqual(result.peers, [a.peer.address])
  })

  it('two-step join: the hello\'s namespaces hold; a proof naming others is refused with ERR_BAD_REQUEST, one repeating them is taken', async () => {
    const a = await joinIn(server, ['two-step'])
    const join = async (proofNamespaces: unknown): Promise<[any, any, string]> => {
      const peer = await identity()
      const socket = await connect(server)
      const address = peerAddress(server, peer)
      const [, hello] = await request(socket, Event.JOIN, address, { namespaces: ['two-step'] })
      assert.equal(typeof hello.nonce, 'string')
      const signature = await signJoin(peer.key, address, hello.nonce)
      const [err, result] = await request(socket, Event.JOIN, address, proofNamespaces === undefined ? { signature } : { signature, namespaces: proofNamespaces })
      return [err, result, address]
    }
    const [plainErr, plain] = await join(undefined)
    assert.equal(plainErr, null)
    assert.deepEqual(plain.peers, [a.peer.address])
    const [sameErr, same] = await join(['two-step'])
    assert.equal(sameErr, null)
    assert.ok(same.peers.includes(a.peer.address))
    const [otherErr] = await join(['elsewhere'])
    assert.equal(otherErr?.code, 'ERR_BAD_REQUEST')
  })

  it('bad namespaces get ERR_BAD_REQUEST: too many, too long, wrong types, empty, duplicated; the limits count their hits', async () => {
    const maxCount = server.limits.maxNamespaces
    const maxLength = server.limits.maxNamespaceLength
    const cases: Array<[string, unknown]> = [
      ['too many', Array.from({ length: maxCount + 1 }, (_, i) => `ns-${i}`)],
      ['too long', ['x'.repeat(maxLength + 1)]],
      ['not an array', 'app'],
      ['an object', { 0: 'app' }],
      ['a number inside', ['app', 7]],
      ['an empty list', []],
      ['an empty name', ['']],
      ['a space inside', ['my app']],
      ['a duplicate', ['app', 'app']],
      ['null inside', [null]]
    ]
    const countHits = async (): Promise<number> => await metricValue(server, 'wsstar_limit_hits_total{limit="max-namespaces"}')
    const lengthHits = async (): Promise<number> => await metricValue(server, 'wsstar_limit_hits_total{limit="max-namespace-length"}')
    const [countBefore, lengthBefore] = [await countHits(), await lengthHits()]
    for (const [what, namespaces] of cases) {
      const peer = await identity()
      const socket = await connect(server)
      const address = peerAddress(server, peer)
      const [helloErr] = await tryJoin(socket, peer, address, { namespaces })
      assert.equal(helloErr?.code, 'ERR_BAD_REQUEST', `hello with ${what}`)
      const [oneErr] = await tryJoinBySocketId(socket, peer, address, { namespaces })
      assert.equal(oneErr?.code, 'ERR_BAD_REQUEST', `one-request join with ${what}`)
      socket.disconnect()
    }
    // the hello and the one-request join of each case
    assert.equal(await countHits(), countBefore + 2)
    assert.equal(await lengthHits(), lengthBefore + 2)
    // the longest and the most namespaces the limits allow are taken
    const full = await joinIn(server, Array.from({ length: maxCount }, (_, i) => `${'y'.repeat(maxLength - 3)}-${String(i).padStart(2, '0')}`))
    assert.ok(Array.isArray(full.peer.joined.peers))
  })

  it('a re-join with other namespaces moves the peer: announced as left where it no longer is, as joined where it now is', async () => {
    const x = await joinIn(server, ['move-x'])
    const y = await joinIn(server, ['move-y'])
    const mover = await joinIn(server, ['move-x'])
    await waitUntil(() => x.joined.has(mover.peer.address), 10_000, 'x hears of the mover')
    const [err, result] = await tryJoin(mover.peer.socket, mover.peer, mover.peer.address, { namespaces: ['move-y'] })
    assert.equal(err, null)
    assert.deepEqual(result.peers, [y.peer.address])
    await waitUntil(() => x.left.has(mover.peer.address), 10_000, 'x hears the mover left')
    await waitUntil(() => y.joined.has(mover.peer.address), 10_000, 'y hears the mover joined')
    assert.ok(!y.left.has(mover.peer.address))
  })

  it('a dial crosses namespaces with the default dial scope', async () => {
    assert.equal(server.dialScope, 'any')
    const a = await rawPeer(server, { namespaces: ['dial-a'] })
    const b = await rawPeer(server, { namespaces: ['dial-b'] })
    const d = await rawPeer(server)
    assert.equal(typeof await openDial(a, b), 'string')
    assert.equal(typeof await openDial(d, a), 'string')
  })

  it('the gauges: namespaces in use, peers of the top namespaces only', async () => {
    const top = await startServer({ limits: { namespaceMetricsTop: 2 } })
    try {
      const peers: RawPeer[] = []
      for (const [ns, n] of [['big', 3], ['mid', 2], ['small', 1]] as const) {
        for (let i = 0; i < n; i++) peers.push(await rawPeer(top, { namespaces: [ns] }))
      }
      peers.push(await rawPeer(top))
      assert.equal(await metricValue(top, 'wsstar_namespaces'), 3)
      assert.equal(await metricValue(top, 'wsstar_namespace_peers{namespace="big"}'), 3)
      assert.equal(await metricValue(top, 'wsstar_namespace_peers{namespace="mid"}'), 2)
      const text = await top.metrics.metrics()
      assert.ok(!text.includes('namespace="small"'), 'beyond the top 2: no label')
      for (const p of peers) p.close()
      await waitUntil(() => top.stats().peers === 0, 10_000, 'everyone gone')
      assert.equal(await metricValue(top, 'wsstar_namespaces'), 0)
      assert.ok(!(await top.metrics.metrics()).includes('namespace="big"'))
    } finally {
      await top.stop()
    }
  })
})

describe('namespaces: dial scope namespace', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer({ dialScope: 'namespace' }) })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('a dial between peers that share no namespace is refused as ERR_PEER_NOT_FOUND; sharing one (or both in the default) it goes through', async () => {
    const a = await rawPeer(server, { namespaces: ['scope-a'] })
    const b = await rawPeer(server, { namespaces: ['scope-b'] })
    const ab = await rawPeer(server, { namespaces: ['scope-b', 'scope-a'] })
    const d1 = await rawPeer(server)
    const d2 = await rawPeer(server)
    assert.equal(await errorCode(a.socket, Event.DIAL, a.address, b.address), 'ERR_PEER_NOT_FOUND')
    assert.equal(await errorCode(b.socket, Event.DIAL, b.address, a.address), 'ERR_PEER_NOT_FOUND')
    assert.equal(await errorCode(d1.socket, Event.DIAL, d1.address, a.address), 'ERR_PEER_NOT_FOUND')
    assert.equal(await errorCode(a.socket, Event.DIAL, a.address, d1.address), 'ERR_PEER_NOT_FOUND')
    // the same answer as for a peer that is not online: the refusal does not tell it is there
    const absent = peerAddress(server, await identity())
    const [refused] = await request(a.socket, Event.DIAL, a.address, b.address)
    const [missing] = await request(a.socket, Event.DIAL, a.address, absent)
    assert.deepEqual(refused, missing)
    assert.equal(typeof await openDial(a, ab), 'string')
    assert.equal(typeof await openDial(ab, b), 'string')
    assert.equal(typeof await openDial(d1, d2), 'string')
  })
})

describe('namespaces on a private server (--auth token)', () => {
  let server: RendezvousServer

  before(async () => {
    const tokens = joinPath(mkdtempSync(joinPath(tmpdir(), 'wsstar-ns-auth-')), 'tokens')
    writeFileSync(tokens, 'chat-token namespaces=chat\nany-token\n')
    server = await startServer({ auth: { mode: 'token', tokensFile: tokens } })
  })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('a token that allows some namespaces: a join naming another is refused, and so is a re-join that moves to another', async () => {
    const joinWith = async (token: string, namespaces: unknown, socket?: Awaited<ReturnType<typeof connect>>, peer?: Awaited<ReturnType<typeof identity>>): Promise<[string | undefined, Awaited<ReturnType<typeof connect>>, Awaited<ReturnType<typeof identity>>]> => {
      const who = peer ?? await identity()
      const s = socket ?? await connect(server, { auth: { protocol: PROTOCOL_VERSION, token } })
      const [err] = await tryJoinBySocketId(s, who, peerAddress(server, who), { namespaces })
      return [err?.code, s, who]
    }
    assert.equal((await joinWith('chat-token', ['files']))[0], 'ERR_UNAUTHORIZED')
    const [ok, socket, peer] = await joinWith('chat-token', ['chat'])
    assert.equal(ok, undefined)
    // a second join on that socket (two steps: the one-request join is once per socket and peer id)
    const [moved] = await tryJoin(socket, peer, peerAddress(server, peer), { namespaces: ['files'] })
    assert.equal(moved?.code, 'ERR_UNAUTHORIZED')
    assert.equal((await joinWith('any-token', ['files']))[0], undefined)
  })
})
