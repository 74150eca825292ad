/**
 * What the server assumes about ioredis beyond its documented API
 * (packages/rendezvous/src/internals/ioredis-internals.ts), checked against the real
 * ioredis and a real redis-server: a command's `toWritable` gets the
 * connection's socket and what it returns is written right after, so a
 * command in several parts goes out byte for byte, uncopied, in order with
 * the commands around it.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { startRedis, stopAll } from '../helpers/cluster.js'
import { rendezvousModule } from '../helpers/rendezvous-internals.js'
import { redisServer, requires } from '../helpers/system-components.js'
import type { TestRedis } from '../helpers/cluster.js'

type IoredisInternals = typeof import('../../packages/rendezvous/src/internals/ioredis-internals.js')
type Spublish = typeof import('../../packages/rendezvous/src/cluster/spublish.js')
type ClusterMessages = typeof import('../../packages/rendezvous/src/cluster/cluster-messages.js')

const skip = requires('ioredis contract', redisServer)
const CHANNEL = 'wsstar-contract:to:node-1'

describe('contract: ioredis (what ioredis-internals.ts relies on)', { skip, timeout: 60_000 }, () => {
  let redis: TestRedis
  let pub: Redis
  let sub: Redis
  let internals: IoredisInternals
  let spublish: Spublish
  let messages: ClusterMessages
  const received: Buffer[] = []

  before(async () => {
    internals = await rendezvousModule<IoredisInternals>('internals/ioredis-internals')
    spublish = await rendezvousModule<Spublish>('cluster/spublish')
    messages = await rendezvousModule<ClusterMessages>('cluster/cluster-messages')
    redis = await startRedis()
    // as cluster mode makes its publisher: no offline queue
    pub = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true })
    sub = new Redis(redis.url, { lazyConnect: true })
    await Promise.all([pub.connect(), sub.connect()])
    sub.on('smessageBuffer', (_channel: Buffer, message: Buffer) => { received.push(message) })
    await sub.ssubscribe(CHANNEL)
  })

  after(async () => {
    pub?.disconnect()
    sub?.disconnect()
    await stopAll()
  })

  async function nextMessages (n: number): Promise<Buffer[]> {
    const deadline = Date.now() + 5000
    while (received.length < n) {
      if (Date.now() > deadline) throw new Error(`${received.length} of ${n} messages within 5 s`)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    return received.splice(0, n)
  }

  it('a command in several parts: toWritable gets the socket (one cork, every part written), Redis gets it byte for byte and the reply resolves it', async () => {
    const big = randomBytes(64 * 1024)
    const batch = { types: [3, 4, 3], ids: ['A'.repeat(22), 'A'.repeat(22), 'B'.repeat(22)], bodies: [big, '65536', big.subarray(1000, 40_000)], bodyLengths: [big.length, 5, 39_000], bytes: 0 }
    batch.bytes = batch.bodyLengths.reduce((sum, n, i) => sum + 6 + batch.ids[i].length + n, 0)
    const parts = spublish.encodeSpublish(CHANNEL, batch, 0)
    assert.ok(parts.length >= 3, 'the batch is sent as its parts')
    const stream = pub.stream
    let corks = 0
    let writes = 0
    const cork = stream.cork.bind(stream)
    const write = stream.write.bind(stream) as (chunk: Uint8Array) => boolean
    stream.cork = () => { corks++; cork() }
    stream.write = ((chunk: Uint8Array) => { writes++; return write(chunk) }) as typeof stream.write
    let reply: unknown
    try {
      reply = await internals.sendEncodedCommand(pub, 'spublish', parts)
    } finally {
      stream.cork = cork
      stream.write = write as typeof stream.write
    }
    assert.equal(corks, 1, 'toWritable was handed a socket it could cork')
    assert.equal(writes, parts.length, 'all but the last part written by toWritable, the last by ioredis')
    assert.equal(reply, 1, 'SPUBLISH reply: one subscriber')
    const [message] = await nextMessages(1)
    const decoded: Array<[number, string, Buffer]> = []
    messages.decodeChannelMessage(message, (type, id, body) => { decoded.push([type, id, Buffer.from(body)]) })
    assert.deepEqual(decoded, [[3, 'A'.repeat(22), big], [4, 'A'.repeat(22), Buffer.from('65536')], [3, 'B'.repeat(22), big.subarray(1000, 40_000)]])
  })

  it('one part is written as it is; commands sent in the same tick, before and after, reach Redis in order', async () => {
    const one = { types: [10], ids: ['C'.repeat(22)], bodies: ['4096'], bodyLengths: [4], bytes: 6 + 22 + 4 }
    const sent = [
      pub.spublish(CHANNEL, 'before'),
      internals.sendEncodedCommand(pub, 'spublish', spublish.encodeSpublish(CHANNEL, one)),
      internals.sendEncodedCommand(pub, 'spublish', spublish.encodeSpublish(CHANNEL, { ...one, bodies: [randomBytes(20_000)], bodyLengths: [20_000], bytes: 6 + 22 + 20_000 }, 0)),
      pub.spublish(CHANNEL, 'after')
    ]
    assert.deepEqual(await Promise.all(sent), [1, 1, 1, 1])
    const got = await nextMessages(4)
    assert.equal(got[0].toString(), 'before')
    assert.deepEqual(got[1], Buffer.concat([Buffer.from([10, 22]), Buffer.from('C'.repeat(22)), Buffer.from('4096')]))
    assert.equal(got[2].length, 2 + 22 + 20_000)
    assert.equal(got[3].toString(), 'after')
  })

  it('without a connection and without an offline queue, the command rejects (the link then resets the dial)', async () => {
    const offline = new Redis(redis.url, { enableOfflineQueue: false, lazyConnect: true })
    try {
      await assert.rejects(internals.sendEncodedCommand(offline, 'spublish', spublish.encodeSpublish(CHANNEL, { types: [7], ids: ['D'.repeat(22)], bodies: [''], bodyLengths: [0], bytes: 28 })))
    } finally {
      offline.disconnect()
    }
  })
})
