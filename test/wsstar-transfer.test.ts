import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createNode, wsstarOf } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { hashingSink } from './helpers/streams.js'
import type { TestNode } from './helpers/nodes.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { Stream } from '@libp2p/interface'

const SINK = '/wsstar-test/sink/1.0.0'
const ECHO = '/wsstar-test/echo/1.0.0'

async function write (stream: Stream, data: Uint8Array, chunk = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += chunk) {
    if (!stream.send(data.subarray(offset, offset + chunk))) {
      await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
  }
}

async function readAll (stream: Stream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) {
    chunks.push(Buffer.from(chunk.subarray()))
  }
  return Buffer.concat(chunks)
}

describe('wsstar: streams through the relay', { timeout: 90_000 }, () => {
  let server: TestServer
  let a: TestNode
  let b: TestNode

  before(async () => {
    server = await startRendezvous()
    a = await createNode({ listen: [listenAddr(server.port)] })
    b = await createNode({ listen: [listenAddr(server.port)] })
    // sink: hash everything, answer with the sha256 and the byte count
    await b.handle(SINK, hashingSink)
    await b.handle(ECHO, async (stream) => {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) {
          await stream.onDrain()
        }
      }
      await stream.close()
    }, { maxInboundStreams: 128 })
  })

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await server?.stop()
  })

  it('a 64 MiB stream arrives byte-exact', async () => {
    const size = 64 * 1024 * 1024
    const data = randomBytes(size)
    const expected = createHash('sha256').update(data).digest('hex')
    const started = Date.now()
    const stream = await a.dialProtocol(b.getMultiaddrs(), SINK, { signal: AbortSignal.timeout(5000) })
    const reply = readAll(stream)
    await write(stream, data)
    await stream.close({ signal: AbortSignal.timeout(30_000) })
    const [hash, bytes] = (await reply).toString().split(' ')
    const seconds = (Date.now() - started) / 1000
    console.log(`# 64 MiB through the relay in ${seconds.toFixed(2)} s (${(64 / seconds).toFixed(1)} MiB/s)`)
    assert.equal(Number(bytes), size)
    assert.equal(hash, expected)
  })

  it('50 concurrent streams over one connection all echo exactly', async () => {
    const count = 50
    const size = 256 * 1024
    await a.dial(b.peerId)
    const results = await Promise.all(Array.from({ length: count }, async (_, i) => {
      const data = randomBytes(size + i)
      const stream = await a.dialProtocol(b.peerId, ECHO, { maxOutboundStreams: 128, signal: AbortSignal.timeout(10_000) })
      const echoed = readAll(stream)
      await write(stream, data, 16 * 1024)
      await stream.close({ signal: AbortSignal.timeout(20_000) })
      return Buffer.compare(await echoed, data) === 0
    }))
    assert.deepEqual(results, Array(count).fill(true))
    assert.equal(a.getConnections(b.peerId).length, 1, 'all streams shared one relayed connection')
    // one relayed dial on each side's socket, and still exactly one listener per frame event
    const [info] = wsstarOf(a).getServers()
    assert.equal(info.dials, 1)
    assert.equal(info.socketListeners, 3)
  })
})
