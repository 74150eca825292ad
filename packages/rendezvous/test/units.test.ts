import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { parsePeerAddress } from '@wsstar/protocol'
import { JoinChallengeStore } from '../src/join/join-challenge-store.js'
import { DEFAULT_LIMITS } from '../src/limits.js'
import { resolveOptions } from '../src/options.js'
import { InMemoryPeerRegistry } from '../src/discovery/peer-registry.js'
import { TokenBucket } from '../src/session/token-bucket.js'

describe('TokenBucket', () => {
  it('allows a burst, then refills at the rate', () => {
    let now = 0
    const bucket = new TokenBucket(10, 3, () => now)
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), false)
    now += 100 // one token at 10/s
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), false)
    now += 10_000
    assert.equal(Math.round(bucket.tokens), 3, 'never more than the burst')
  })

  it('charge takes a token even when none is left; the debt is paid back before the next take', () => {
    let now = 0
    const bucket = new TokenBucket(1, 2, () => now)
    bucket.charge()
    bucket.charge()
    bucket.charge()
    assert.equal(bucket.tokens, -1)
    now += 1500
    assert.equal(bucket.take(), false, 'half a token after 1.5 s of paying back')
    now += 500
    assert.equal(bucket.take(), true)
  })
})

describe('InMemoryPeerRegistry', () => {
  const rec = (i: number, socketId = 's'): { peerId: string, address: string, socketId: string } => ({ peerId: `p${i}`, address: `/a/${i}`, socketId })

  it('adds, replaces, and removes only for the holding socket', async () => {
    const registry = new InMemoryPeerRegistry()
    assert.equal(await registry.add(rec(1, 's1')), undefined)
    const previous = await registry.add(rec(1, 's2'))
    assert.equal(previous?.socketId, 's1')
    assert.equal(await registry.remove('p1', 's1'), false, 'a replaced socket cannot remove its replacement')
    assert.equal((await registry.get('p1'))?.socketId, 's2')
    assert.equal(await registry.remove('p1', 's2'), true)
    assert.equal(await registry.size(), 0)
  })

  it('keeps its index consistent through swap-removes', async () => {
    const registry = new InMemoryPeerRegistry()
    for (let i = 0; i < 100; i++) await registry.add(rec(i))
    for (let i = 0; i < 100; i += 3) assert.equal(await registry.remove(`p${i}`, 's'), true)
    const left = 100 - 34
    assert.equal(await registry.size(), left)
    const all = await registry.sample(1000)
    assert.equal(all.length, left)
    assert.equal(new Set(all).size, left)
    for (let i = 0; i < 100; i++) {
      assert.equal(all.includes(`/a/${i}`), i % 3 !== 0)
    }
  })

  it('samples the current address of each peer and excludes by id after replacements and swap-removes', () => {
    const registry = new InMemoryPeerRegistry()
    for (let i = 0; i < 200; i++) registry.addSync(rec(i))
    registry.addSync({ ...rec(3), address: '/b/3' })
    assert.equal(registry.removeSync('p0', 's'), true) // p199 moves into index 0
    for (const count of [10, 1000]) {
      const sample = registry.sampleSync(count, new Set(['p199', 'p5', 'unknown']))
      assert.equal(sample.length, Math.min(count, 199 - 2))
      assert.ok(!sample.includes('/a/199') && !sample.includes('/a/5') && !sample.includes('/a/0'), 'excluded and removed peers never appear')
      assert.ok(!sample.includes('/a/3'), 'a replaced address never appears')
      if (count === 1000) assert.ok(sample.includes('/b/3'))
    }
  })

  it('samples distinct peers, excludes the given ids, and is roughly uniform', async () => {
    const registry = new InMemoryPeerRegistry()
    for (let i = 0; i < 1000; i++) registry.addSync(rec(i))
    const exclude = new Set(['p0', 'p1'])
    const counts = new Map<string, number>()
    for (let round = 0; round < 200; round++) {
      const sample = registry.sampleSync(64, exclude)
      assert.equal(sample.length, 64)
      assert.equal(new Set(sample).size, 64)
      assert.ok(!sample.includes('/a/0') && !sample.includes('/a/1'))
      for (const a of sample) counts.set(a, (counts.get(a) ?? 0) + 1)
    }
    // 200 * 64 / 998 = 12.8 expected picks each
    const max = Math.max(...counts.values())
    assert.ok(max < 40, `no peer is picked far more often than others (max ${max})`)
    assert.ok(counts.size > 950, `almost every peer gets picked (${counts.size})`)
  })

  it('returns everyone (shuffled) when there are few peers', () => {
    const registry = new InMemoryPeerRegistry()
    for (let i = 0; i < 5; i++) registry.addSync(rec(i))
    assert.deepEqual(registry.sampleSync(64, new Set(['p2'])).sort(), ['/a/0', '/a/1', '/a/3', '/a/4'])
    assert.deepEqual(registry.sampleSync(0), [])
  })
})

describe('JoinChallengeStore', () => {
  /** what step 1 parsed; the store only carries it to step 2 */
  const parsedFor = (key: Awaited<ReturnType<typeof generateKeyPair>>['publicKey']) =>
    parsePeerAddress(`/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/${peerIdFromPublicKey(key).toString()}`)

  it('is single use, bound to socket + address, and expires', async () => {
    let now = 0
    const store = new JoinChallengeStore({ ttlMs: 1000, maxPerSocket: 4, now: () => now })
    const key = (await generateKeyPair('Ed25519')).publicKey
    const parsed = parsedFor(key)
    const nonce = store.issue('s1', '/addr', key, parsed)
    assert.equal(store.take('s2', '/addr'), undefined, 'other socket')
    assert.equal(store.take('s1', '/other'), undefined, 'other address')
    assert.equal(store.take('s1', '/addr')?.nonce, nonce)
    assert.equal(store.take('s1', '/addr'), undefined, 'used')
    store.issue('s1', '/addr', key, parsed)
    now += 1000
    assert.equal(store.take('s1', '/addr'), undefined, 'expired')
    assert.equal(store.size, 0)
  })

  it('keeps at most maxPerSocket nonces, dropping the oldest; a new hello replaces the nonce', async () => {
    const store = new JoinChallengeStore({ ttlMs: 1000, maxPerSocket: 2 })
    const key = (await generateKeyPair('Ed25519')).publicKey
    const parsed = parsedFor(key)
    store.issue('s', '/1', key, parsed)
    store.issue('s', '/2', key, parsed)
    store.issue('s', '/3', key, parsed)
    assert.equal(store.size, 2)
    assert.equal(store.take('s', '/1'), undefined)
    const first = store.issue('s', '/2', key, parsed)
    const second = store.issue('s', '/2', key, parsed)
    assert.notEqual(first, second)
    assert.equal(store.take('s', '/2')?.nonce, second)
    store.clearSocket('s')
    assert.equal(store.size, 0)
  })
})

describe('options', () => {
  it('fills in defaults', () => {
    const resolved = resolveOptions({})
    assert.equal(resolved.port, 13579)
    assert.equal(resolved.host, '0.0.0.0')
    assert.equal(resolved.challenge, true)
    assert.deepEqual(resolved.limits, DEFAULT_LIMITS)
  })

  it('rejects unknown limits, bad values and bad announce addresses', () => {
    assert.throws(() => resolveOptions({ limits: { nope: 1 } as any }), /unknown limit "nope"/)
    assert.throws(() => resolveOptions({ limits: { windowBytes: 10 } }), /windowBytes/)
    assert.throws(() => resolveOptions({ limits: { maxPeers: 1.5 } }), /maxPeers/)
    assert.throws(() => resolveOptions({ port: 70000 }), /port/)
    assert.throws(() => resolveOptions({ announce: ['/ip4/1.2.3.4/tcp/1'] }), /announce/)
    assert.equal(resolveOptions({ announce: ['/dns4/example.com/tcp/443/wss'] }).announce.length, 1)
  })
})

describe('serverAddresses', () => {
  it('derives websocket addresses from the bound host, or uses the announced ones', async () => {
    const { serverAddresses } = await import('../src/join/server-addresses.js')
    const { multiaddr } = await import('@multiformats/multiaddr')
    assert.deepEqual(serverAddresses('127.0.0.1', 1234, []).map(String), ['/ip4/127.0.0.1/tcp/1234/ws'])
    assert.deepEqual(serverAddresses('::1', 1234, []).map(String), ['/ip6/::1/tcp/1234/ws'])
    assert.deepEqual(serverAddresses('relay.example.com', 443, []).map(String), ['/dns/relay.example.com/tcp/443/ws'])
    const wildcard = serverAddresses('0.0.0.0', 1234, []).map(String)
    assert.ok(wildcard.includes('/ip4/127.0.0.1/tcp/1234/ws'), wildcard.join(' '))
    assert.deepEqual(serverAddresses('0.0.0.0', 1234, [multiaddr('/dns4/x.example/tcp/443/wss')]).map(String), ['/dns4/x.example/tcp/443/wss'])
  })
})
