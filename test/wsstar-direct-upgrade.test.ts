/**
 * The direct upgrade in Node: real libp2p 3 nodes, a real rendezvous server,
 * WebRTC over loopback. A wsstar connection becomes a direct WebRTC
 * connection by itself, traffic leaves the server, the relayed connection is
 * retired; a failed upgrade keeps the relayed connection and the streams on it.
 */
import assert from 'node:assert/strict'
import { after, afterEach, describe, it } from 'node:test'
import { DirectUpgradeTimeoutError, DirectUpgradeUnavailableError, relayedConnectionOf } from '@wsstar/transport'
import nodeDataChannel from 'node-datachannel'
import { pEvent } from 'p-event'
import { createNode } from './helpers/nodes.js'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import { hashingSink, readAll, transferVerified, writeAll } from './helpers/streams.js'
import { LOOPBACK_RTC, createUpgradeNode } from './helpers/upgrade-nodes.js'
import { waitFor } from './helpers/wait.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { UpgradeNode } from './helpers/upgrade-nodes.js'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { DirectUpgradeDirectDetail, DirectUpgradeFailedDetail, DirectUpgradeRetiredDetail } from '@wsstar/transport'

const SINK = '/wsstar-test/sink/1.0.0'
const ECHO = '/wsstar-test/echo/1.0.0'
const MiB = 1024 * 1024

async function echo (stream: Stream): Promise<void> {
  for await (const chunk of stream) {
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
    }
  }
  await stream.close()
}

function connectionOf (node: Libp2p<any>, peer: PeerId, stream: Stream): Connection | undefined {
  return node.getConnections(peer).find(c => c.streams.includes(stream))
}

function isRelayed (c: Connection): boolean {
  return relayedConnectionOf(c) != null
}

describe('wsstar: direct WebRTC upgrade', { timeout: 120_000 }, () => {
  let server: TestServer | undefined
  let nodes: Array<Libp2p<any>> = []

  afterEach(async () => {
    await Promise.all(nodes.map(async n => n.stop()))
    nodes = []
    await server?.stop()
    server = undefined
  })

  // libdatachannel's threads outlive the peer connections of an attempt that
  // never connected, and would hold the process at exit
  after(() => { nodeDataChannel.cleanup() })

  async function setup (a: () => Promise<UpgradeNode>, b: () => Promise<Libp2p<any>>): Promise<[UpgradeNode, Libp2p<any>]> {
    const pair: [UpgradeNode, Libp2p<any>] = [await a(), await b()]
    nodes.push(...pair)
    await pair[1].handle(SINK, hashingSink)
    await pair[1].handle(ECHO, echo)
    return pair
  }

  it('upgrades a wsstar connection to WebRTC; 8 MiB then leave the server flat and the relayed connection is retired', async () => {
    server = await startRendezvous()
    const listen = [listenAddr(server.port)]
    const [a, b] = await setup(
      async () => createUpgradeNode({ listen, upgrade: { grace: 1500, timeout: 5000, attempts: 3 } }),
      async () => createUpgradeNode({ listen })
    )
    const direct = pEvent<'direct', CustomEvent<DirectUpgradeDirectDetail>>(a.services.directUpgrade, 'direct', { timeout: 25_000 })

    const relayed = await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    assert.ok(isRelayed(relayed), 'the first connection runs through the rendezvous server')
    await waitFor(() => b.getConnections(a.peerId).some(isRelayed), 10_000)

    const { detail } = await direct
    // the grace period (1.5 s) starts now
    const retired = pEvent<'retired', CustomEvent<DirectUpgradeRetiredDetail>>(a.services.directUpgrade, 'retired', { timeout: 20_000 })
    console.log(`# wsstar -> direct WebRTC in ${detail.duration} ms`)
    assert.equal(detail.relayed, relayed)
    assert.ok(!isRelayed(detail.direct))
    assert.match(detail.direct.remoteAddr.toString(), /\/webrtc\//)
    assert.equal(detail.direct.status, 'open')

    // new streams take the direct connection while the relayed one is still open
    // (the relayed one only carries the end of the signalling and libp2p's own
    // control messages meanwhile)
    let before = server.stats().relayedBytes
    const early = await a.dialProtocol(b.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connectionOf(a, b.peerId, early), detail.direct, 'the new stream runs on the WebRTC connection')
    await transferVerified(early, 1 * MiB)
    assert.ok(server.stats().relayedBytes - before < 16 * 1024, `relayed during the grace: ${server.stats().relayedBytes - before} bytes`)

    const gone = await retired
    assert.equal(gone.detail.relayed, relayed)
    await waitFor(() => relayed.status === 'closed', 10_000)
    await waitFor(() => b.getConnections(a.peerId).every(c => !isRelayed(c)), 10_000)
    assert.deepEqual(a.getConnections(b.peerId), [detail.direct])
    const stats = a.services.directUpgrade.stats()
    assert.deepEqual({ ...stats, relayBytesAfterUpgrade: 0 }, { attempted: 1, succeeded: 1, failed: 0, relayBytesAfterUpgrade: 0 })
    // control messages only: the end of the signalling, the connection's close
    assert.ok(stats.relayBytesAfterUpgrade >= gone.detail.bytesAfterUpgrade && stats.relayBytesAfterUpgrade < 16 * 1024, `relayed after the upgrade: ${stats.relayBytesAfterUpgrade}`)

    // 8 MiB on the direct connection: the server's relayed-bytes counter stays flat
    before = server.stats().relayedBytes
    const stream = await a.dialProtocol(b.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connectionOf(a, b.peerId, stream), detail.direct)
    await transferVerified(stream, 8 * MiB)
    assert.equal(server.stats().relayedBytes, before, 'no byte of the 8 MiB went through the server')

    // later dials by peer id keep using the direct connection
    const again = await a.dialProtocol(b.peerId, ECHO, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connectionOf(a, b.peerId, again), detail.direct)
    const echoed = readAll(again)
    await writeAll(again, new TextEncoder().encode('still direct'))
    await again.close({ signal: AbortSignal.timeout(10_000) })
    assert.equal((await echoed).toString(), 'still direct')
  })

  it('keeps a stream that was open on the relayed connection until it ends, then retires the connection', async () => {
    server = await startRendezvous()
    const listen = [listenAddr(server.port)]
    const [a, b] = await setup(
      async () => createUpgradeNode({ listen, upgrade: { grace: 200, timeout: 5000, attempts: 3 } }),
      async () => createUpgradeNode({ listen })
    )
    const direct = pEvent(a.services.directUpgrade, 'direct', { timeout: 25_000 })
    const relayed = await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    const long = await relayed.newStream(ECHO, { signal: AbortSignal.timeout(10_000) })
    const echoed = readAll(long)
    await writeAll(long, Buffer.from('before '))
    await direct
    // well past the grace: the stream is still open, so the relayed connection is too
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.equal(relayed.status, 'open')
    await writeAll(long, Buffer.from('after'))
    await long.close({ signal: AbortSignal.timeout(10_000) })
    assert.equal((await echoed).toString(), 'before after')
    await waitFor(() => relayed.status === 'closed', 10_000)
  })

  it('a remote without WebRTC: the upgrade fails, the relayed connection and the stream on it keep working', async () => {
    server = await startRendezvous()
    const listen = [listenAddr(server.port)]
    const [a, b] = await setup(
      async () => createUpgradeNode({ listen }),
      async () => createNode({ listen })
    )
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(a.services.directUpgrade, 'failed', { timeout: 20_000 })
    const relayed = await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    // the application's stream opens at once, while the upgrade is being tried
    const stream = await relayed.newStream(ECHO, { signal: AbortSignal.timeout(10_000) })
    const echoed = readAll(stream)
    await writeAll(stream, Buffer.from('one '))

    const { detail } = await failed
    assert.equal(detail.relayed, relayed)
    assert.notEqual(detail.error.name, DirectUpgradeUnavailableError.name, 'this node has WebRTC; the remote does not answer its signalling')
    assert.equal(relayed.status, 'open')

    await writeAll(stream, Buffer.from('two'))
    await stream.close({ signal: AbortSignal.timeout(10_000) })
    assert.equal((await echoed).toString(), 'one two')

    // a transfer after the failure goes through the relay
    const before = server.stats().relayedBytes
    const sink = await a.dialProtocol(b.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connectionOf(a, b.peerId, sink), relayed)
    await transferVerified(sink, 1 * MiB)
    assert.ok(server.stats().relayedBytes - before >= MiB)
    assert.deepEqual(a.getConnections(b.peerId), [relayed])
    const stats = a.services.directUpgrade.stats()
    assert.deepEqual({ ...stats, relayBytesAfterUpgrade: 0 }, { attempted: 1, succeeded: 0, failed: 1, relayBytesAfterUpgrade: 0 })
    assert.ok(stats.relayBytesAfterUpgrade >= MiB, `bytes that stayed on the relay: ${stats.relayBytesAfterUpgrade}`)
  })

  it('no usable ICE candidates: the upgrade times out and an 8 MiB transfer goes through the relay', async () => {
    server = await startRendezvous()
    const listen = [listenAddr(server.port)]
    // relay-only ICE and no TURN server on both sides: no candidate at all
    const noCandidates = { ...LOOPBACK_RTC, iceTransportPolicy: 'relay' as const }
    const [a, b] = await setup(
      async () => createUpgradeNode({ listen, webrtc: noCandidates, upgrade: { timeout: 3000, attempts: 1 } }),
      async () => createUpgradeNode({ listen, webrtc: noCandidates, upgrade: { timeout: 3000 } })
    )
    await a.handle(SINK, hashingSink)
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(a.services.directUpgrade, 'failed', { timeout: 20_000 })
    const relayed = await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    const { detail } = await failed
    assert.equal(detail.relayed, relayed)
    assert.equal(detail.error.name, DirectUpgradeTimeoutError.name)
    assert.equal(relayed.status, 'open')

    const before = server.stats().relayedBytes
    const sink = await a.dialProtocol(b.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connectionOf(a, b.peerId, sink), relayed)
    await transferVerified(sink, 8 * MiB)
    assert.ok(server.stats().relayedBytes - before >= 8 * MiB)
    assert.deepEqual(a.getConnections(b.peerId).map(isRelayed), [true])
    assert.equal(a.services.directUpgrade.stats().failed, 1)

    // the answering side: @libp2p/webrtc takes the end of the failed attempt's
    // signalling for a connection and opens a WebRTC connection that never
    // connected; b's service closes it, so b's own streams go through the relay
    await waitFor(() => b.getConnections(a.peerId).every(isRelayed), 10_000)
    const back = await b.dialProtocol(a.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    assert.ok(isRelayed(connectionOf(b, a.peerId, back)!))
    await transferVerified(back, 256 * 1024)
  })

  it('an attempt that outlasts its timeout is given up and the relayed connection stays', async () => {
    server = await startRendezvous()
    const listen = [listenAddr(server.port)]
    const [a, b] = await setup(
      // shorter than the signalling's first round trip through the server
      async () => createUpgradeNode({ listen, upgrade: { timeout: 1, attempts: 1 } }),
      async () => createUpgradeNode({ listen })
    )
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(a.services.directUpgrade, 'failed', { timeout: 20_000 })
    const relayed = await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    const { detail } = await failed
    assert.equal(detail.error.name, DirectUpgradeTimeoutError.name)
    assert.equal(relayed.status, 'open')
    const sink = await a.dialProtocol(b.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connectionOf(a, b.peerId, sink), relayed)
    await transferVerified(sink, 256 * 1024)
    // the answering side gives up its half of the attempt too: no WebRTC connection appears later
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.deepEqual(a.getConnections(b.peerId), [relayed])
  })

  it('enabled: false never tries', async () => {
    server = await startRendezvous()
    const listen = [listenAddr(server.port)]
    const [a, b] = await setup(
      async () => createUpgradeNode({ listen, upgrade: { enabled: false } }),
      async () => createUpgradeNode({ listen })
    )
    let started = 0
    a.services.directUpgrade.addEventListener('started', () => { started++ })
    b.services.directUpgrade.addEventListener('started', () => { started++ })
    const relayed = await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    const sink = await a.dialProtocol(b.peerId, SINK, { signal: AbortSignal.timeout(10_000) })
    await transferVerified(sink, 64 * 1024)
    // an upgrade would have started at once; give it time to show
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.equal(started, 0)
    assert.deepEqual(a.getConnections(b.peerId), [relayed])
    assert.equal(a.services.directUpgrade.stats().attempted, 0)
  })
})
