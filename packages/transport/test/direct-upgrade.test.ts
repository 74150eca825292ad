import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { defaultLogger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import { pEvent } from 'p-event'
import { DirectUpgrade } from '../src/direct-upgrade.js'
import { DirectUpgradeTimeoutError, DirectUpgradeUnavailableError } from '../src/errors.js'
import { registerRelayedConnection } from '../src/relayed-connection-registry.js'
import type { DirectUpgradeComponents, DirectUpgradeFailedDetail, DirectUpgradeInit } from '../src/direct-upgrade.js'
import type { RelayedConnection } from '../src/relayed-connection.js'
import type { AbortOptions, Connection, Libp2pEvents, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** A stand-in for a libp2p connection: what the service reads and calls. */
interface FakeConnection extends Connection {
  maConn?: { bytesSent: number, bytesReceived: number }
}

async function waitUntil (condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`)
    await sleep(10)
  }
}

function peer (id: string): PeerId {
  return { toString: () => id, equals: (other: any) => other?.toString() === id } as unknown as PeerId
}

function connection (remote: PeerId, direction: 'inbound' | 'outbound', relayed: boolean): FakeConnection {
  const conn: any = {
    remotePeer: remote,
    direction,
    status: 'open',
    timeline: { open: Date.now() },
    streams: [],
    remoteAddr: { toString: () => relayed ? '/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star' : '/webrtc' },
    close: async () => { conn.status = 'closed' },
    abort: () => { conn.status = 'closed' }
  }
  if (relayed) {
    conn.maConn = { timeline: conn.timeline, bytesSent: 0, bytesReceived: 0 }
    registerRelayedConnection(conn.maConn as RelayedConnection)
  }
  return conn
}

interface Harness {
  service: DirectUpgrade
  events: TypedEventEmitter<Libp2pEvents>
  connections: FakeConnection[]
  dials: Multiaddr[]
  counters: Record<string, number>
  open(conn: FakeConnection): void
}

function harness (dial: (ma: Multiaddr, options?: AbortOptions) => Promise<Connection>, init: DirectUpgradeInit = {}, webrtc = true): Harness {
  const events = new TypedEventEmitter<Libp2pEvents>()
  const connections: FakeConnection[] = []
  const dials: Multiaddr[] = []
  const counters: Record<string, number> = {}
  const components: DirectUpgradeComponents = {
    peerId: peer('local'),
    events,
    logger: defaultLogger(),
    connectionManager: {
      getConnections: (p?: PeerId) => connections.filter(c => p == null || c.remotePeer.equals(p))
    },
    transportManager: {
      dialTransportForMultiaddr: () => (webrtc ? {} as any : undefined),
      dial: async (ma, options) => {
        dials.push(ma)
        const conn = await dial(ma, options)
        connections.push(conn as FakeConnection)
        return conn
      }
    },
    metrics: {
      registerCounterGroup: (name: string) => ({
        increment: (values: Record<string, boolean>) => {
          for (const key of Object.keys(values)) {
            counters[`${name}{${key}}`] = (counters[`${name}{${key}}`] ?? 0) + 1
          }
        }
      }),
      registerCounter: (name: string) => ({
        increment: (n = 1) => { counters[name] = (counters[name] ?? 0) + n }
      })
    } as any
  }
  const service = new DirectUpgrade(components, init)
  service.start()
  return {
    service,
    events,
    connections,
    dials,
    counters,
    open: (conn) => {
      connections.push(conn)
      events.safeDispatchEvent('connection:open', { detail: conn })
    }
  }
}

describe('DirectUpgrade', () => {
  it('dials /webrtc/p2p/<peer> for an outbound wsstar connection, then retires the relayed one after the grace', async () => {
    const remote = peer('12D3KooWRemote')
    const direct = connection(remote, 'outbound', false)
    const h = harness(async () => direct, { grace: 50 })
    const relayed = connection(remote, 'outbound', true)
    const upgraded = pEvent(h.service, 'direct', { timeout: 5000 })
    h.open(relayed)
    await upgraded
    assert.deepEqual(h.dials.map(String), ['/webrtc/p2p/12D3KooWRemote'])
    assert.equal(relayed.status, 'open', 'still open during the grace')
    relayed.maConn!.bytesSent += 100
    await pEvent(h.service, 'retired', { timeout: 5000 })
    assert.equal(relayed.status, 'closed')
    h.events.safeDispatchEvent('connection:close', { detail: relayed })
    assert.deepEqual(h.service.stats(), { attempted: 1, succeeded: 1, failed: 0, relayBytesAfterUpgrade: 100 })
    assert.equal(h.counters['wsstar_direct_upgrades_total{attempted}'], 1)
    assert.equal(h.counters['wsstar_direct_upgrades_total{succeeded}'], 1)
    assert.equal(h.counters.wsstar_direct_upgrade_relay_bytes_total, 100)
    h.service.stop()
  })

  it('waits for the streams on the relayed connection to end before closing it', async () => {
    const remote = peer('12D3KooWRemote')
    const h = harness(async () => connection(remote, 'outbound', false), { grace: 10 })
    const relayed = connection(remote, 'outbound', true)
    relayed.streams.push({} as any)
    h.open(relayed)
    await pEvent(h.service, 'direct', { timeout: 5000 })
    await sleep(600)
    assert.equal(relayed.status, 'open')
    relayed.streams.pop()
    await pEvent(h.service, 'retired', { timeout: 5000 })
    assert.equal(relayed.status, 'closed')
    h.service.stop()
  })

  it('keeps the relayed connection when the direct one closes before the grace ends', async () => {
    const remote = peer('12D3KooWRemote')
    const direct = connection(remote, 'outbound', false)
    const h = harness(async () => direct, { grace: 100 })
    const relayed = connection(remote, 'outbound', true)
    h.open(relayed)
    await pEvent(h.service, 'direct', { timeout: 5000 })
    direct.status = 'closed'
    await sleep(400)
    assert.equal(relayed.status, 'open')
    h.service.stop()
  })

  it('ignores inbound and non-wsstar connections, and a peer with an attempt under way', async () => {
    const remote = peer('12D3KooWRemote')
    let release: (() => void) | undefined
    const h = harness(async () => {
      await new Promise<void>(resolve => { release = resolve })
      return connection(remote, 'outbound', false)
    })
    h.open(connection(remote, 'inbound', true))
    h.open(connection(peer('12D3KooWOther'), 'outbound', false))
    assert.equal(h.service.stats().attempted, 0)
    h.open(connection(remote, 'outbound', true))
    h.open(connection(remote, 'outbound', true))
    assert.equal(h.service.stats().attempted, 1)
    release?.()
    await pEvent(h.service, 'direct', { timeout: 5000 })
    assert.equal(h.dials.length, 1)
    // a peer this node already reaches directly is not upgraded again
    h.open(connection(remote, 'outbound', true))
    assert.equal(h.service.stats().attempted, 1)
    h.service.stop()
  })

  it('retries a failed try, then reports the failure and leaves the relayed connection alone', async () => {
    const remote = peer('12D3KooWRemote')
    let tries = 0
    const h = harness(async () => { tries++; throw new Error('ICE failed') }, { attempts: 3 })
    const relayed = connection(remote, 'outbound', true)
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(h.service, 'failed', { timeout: 5000 })
    h.open(relayed)
    const { detail } = await failed
    assert.equal(detail.error.message, 'ICE failed')
    assert.equal(tries, 3)
    assert.equal(relayed.status, 'open')
    relayed.maConn!.bytesReceived += 1000
    assert.deepEqual(h.service.stats(), { attempted: 1, succeeded: 0, failed: 1, relayBytesAfterUpgrade: 1000 })
    assert.equal(h.counters['wsstar_direct_upgrades_total{failed}'], 1)
    h.service.stop()
  })

  it('does not retry a remote without the signalling protocol', async () => {
    let tries = 0
    const h = harness(async () => {
      tries++
      throw Object.assign(new Error('could not negotiate /webrtc-signaling/0.0.1'), { name: 'UnsupportedProtocolError' })
    }, { attempts: 3 })
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(h.service, 'failed', { timeout: 5000 })
    h.open(connection(peer('12D3KooWRemote'), 'outbound', true))
    await failed
    assert.equal(tries, 1)
    h.service.stop()
  })

  it('gives an attempt up after the timeout (DirectUpgradeTimeoutError)', async () => {
    const h = harness(async (_ma, options) => {
      await new Promise((resolve, reject) => { options?.signal?.addEventListener('abort', () => { reject(options.signal?.reason) }) })
      throw new Error('unreachable')
    }, { timeout: 50, attempts: 1 })
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(h.service, 'failed', { timeout: 5000 })
    h.open(connection(peer('12D3KooWRemote'), 'outbound', true))
    const { detail } = await failed
    assert.ok(detail.error instanceof DirectUpgradeTimeoutError)
    h.service.stop()
  })

  it('fails at once without a WebRTC transport, and does nothing when disabled', async () => {
    const h = harness(async () => { throw new Error('not dialled') }, {}, false)
    const failed = pEvent<'failed', CustomEvent<DirectUpgradeFailedDetail>>(h.service, 'failed', { timeout: 5000 })
    h.open(connection(peer('12D3KooWRemote'), 'outbound', true))
    assert.ok((await failed).detail.error instanceof DirectUpgradeUnavailableError)
    assert.equal(h.dials.length, 0)
    h.service.stop()

    const off = harness(async () => { throw new Error('not dialled') }, { enabled: false })
    off.open(connection(peer('12D3KooWRemote'), 'outbound', true))
    await sleep(50)
    assert.equal(off.service.stats().attempted, 0)
    off.service.stop()
  })

  it('closes an inbound WebRTC connection from a relayed peer that never answers a stream (a failed attempt the answerer took for a connection)', async () => {
    const remote = peer('12D3KooWRemote')
    const h = harness(async () => { throw new Error('not dialled') }, { timeout: 50 })
    h.open(connection(remote, 'inbound', true))
    const dead = connection(remote, 'inbound', false)
    let probeSignal: AbortSignal | undefined
    dead.newStream = async (_protocols: any, options?: AbortOptions) => {
      probeSignal = options?.signal
      return await new Promise((_resolve, reject) => { options?.signal?.addEventListener('abort', () => { reject(options.signal?.reason) }) })
    }
    h.open(dead)
    await waitUntil(() => dead.status === 'closed', 5000)
    assert.ok(probeSignal != null, 'the probe is bounded by a signal')
    assert.equal(h.service.stats().attempted, 0, 'answering is not an attempt')
    h.service.stop()
  })

  it('keeps an inbound WebRTC connection that answers, even with "protocol not supported"', async () => {
    const remote = peer('12D3KooWRemote')
    const h = harness(async () => { throw new Error('not dialled') }, { timeout: 50 })
    h.open(connection(remote, 'inbound', true))
    const live = connection(remote, 'inbound', false)
    let probes = 0
    live.newStream = async () => {
      probes++
      throw Object.assign(new Error('protocol selection failed'), { name: 'UnsupportedProtocolError' })
    }
    h.open(live)
    // an inbound WebRTC connection without a relayed one to that peer is not ours to judge
    const other = connection(peer('12D3KooWOther'), 'inbound', false)
    other.newStream = async () => { probes += 100; throw new Error('not probed') }
    h.open(other)
    await sleep(200)
    assert.equal(probes, 1)
    assert.equal(live.status, 'open')
    assert.equal(other.status, 'open')
    h.service.stop()
  })

  it('rejects negative options', () => {
    const h = harness(async () => { throw new Error('x') })
    h.service.stop()
    assert.throws(() => new DirectUpgrade({} as any, { grace: -1 }), TypeError)
    assert.throws(() => new DirectUpgrade({} as any, { timeout: Number.NaN }), TypeError)
  })
})
