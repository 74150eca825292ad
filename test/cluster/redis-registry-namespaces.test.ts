/**
 * The cluster registry's namespaces against a real redis-server: samples
 * per namespace, a re-join that moves a peer, the count of both kinds, a
 * record that expired and joined elsewhere, and the heartbeat that
 * re-creates records (and their sets) when Redis lost its data.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { RedisPeerRegistry } from '@wsstar/rendezvous'
import { startRedis, stopAll, uniquePrefix } from '../helpers/cluster.js'
import { redisServer, requires } from '../helpers/system-components.js'
import type { TestRedis } from '../helpers/cluster.js'

const skip = requires('redis registry namespaces', redisServer)

describe('cluster registry: namespaces in Redis', { skip, timeout: 60_000 }, () => {
  let redis: TestRedis
  let client: Redis
  let registry: RedisPeerRegistry
  let prefix = ''

  before(async () => {
    redis = await startRedis()
    client = new Redis(redis.url)
    prefix = uniquePrefix()
    registry = new RedisPeerRegistry({ redis: client, nodeId: 'node-a', prefix })
    await registry.start()
  })

  after(async () => {
    await registry?.close()
    client?.disconnect()
    await stopAll()
  })

  const sampled = async (namespaces?: string[]): Promise<Set<string>> => new Set(await registry.sample(100, undefined, namespaces))

  it('samples hold the peers of the namespaces asked for only; a move changes the sets; the count holds both kinds', async () => {
    await registry.add({ peerId: 'd1', address: 'addr-d1', socketId: 's' })
    await registry.add({ peerId: 'a1', address: 'addr-a1', socketId: 's', namespaces: ['a'] })
    await registry.add({ peerId: 'ab', address: 'addr-ab', socketId: 's', namespaces: ['a', 'b'] })
    await registry.add({ peerId: 'b1', address: 'addr-b1', socketId: 's', namespaces: ['b'] })
    assert.deepEqual(await sampled(), new Set(['addr-d1']))
    assert.deepEqual(await sampled(['a']), new Set(['addr-a1', 'addr-ab']))
    assert.deepEqual(await sampled(['b', 'a']), new Set(['addr-a1', 'addr-ab', 'addr-b1']))
    assert.deepEqual(await sampled(['', 'b']), new Set(['addr-d1', 'addr-ab', 'addr-b1']))
    assert.equal(await registry.size(), 4)
    assert.deepEqual((await registry.get('ab'))?.namespaces, ['a', 'b'])
    assert.equal((await registry.get('d1'))?.namespaces, undefined)

    // a1 moves to b, d1 to a, ab to the default namespace
    const replaced = await registry.add({ peerId: 'a1', address: 'addr-a1', socketId: 's2', namespaces: ['b'] })
    assert.deepEqual(replaced?.namespaces, ['a'])
    await registry.add({ peerId: 'd1', address: 'addr-d1', socketId: 's', namespaces: ['a'] })
    await registry.add({ peerId: 'ab', address: 'addr-ab', socketId: 's' })
    assert.deepEqual(await sampled(), new Set(['addr-ab']))
    assert.deepEqual(await sampled(['a']), new Set(['addr-d1']))
    assert.deepEqual(await sampled(['b']), new Set(['addr-a1', 'addr-b1']))
    assert.equal(await registry.size(), 4)

    assert.equal(await registry.remove('b1', 's'), true)
    assert.deepEqual(await sampled(['b']), new Set(['addr-a1']))
    assert.equal(await client.sismember(`${prefix}nspeers`, 'b1'), 0)
    assert.equal(await registry.size(), 3)
  })

  it('a sample drops an id its namespace\'s set holds for a record that is no longer in it', async () => {
    // as if the record had expired and its peer joined again in another namespace
    await client.sadd(`${prefix}ns:a`, 'ab')
    assert.deepEqual(await sampled(['a']), new Set(['addr-d1']))
    assert.equal(await client.sismember(`${prefix}ns:a`, 'ab'), 0)
  })

  it('the heartbeat re-creates this node\'s records and their namespaces\' sets when Redis lost them', async () => {
    await client.flushall()
    assert.deepEqual(await sampled(['a']), new Set())
    await registry.heartbeat(true)
    assert.deepEqual(await sampled(), new Set(['addr-ab']))
    assert.deepEqual(await sampled(['a']), new Set(['addr-d1']))
    assert.deepEqual(await sampled(['b']), new Set(['addr-a1']))
    assert.deepEqual((await registry.get('d1'))?.namespaces, ['a'])
    assert.equal(await registry.size(), 3)
  })
})
