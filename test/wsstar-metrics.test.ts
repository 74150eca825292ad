/**
 * The transport reports its own metrics through libp2p's `components.metrics`
 * (servers by status, joins, dials, incoming dials, relayed bytes), as
 * `@libp2p/websockets` does. The node here gets a recording Metrics
 * implementation that reads the calculated metrics the way a scrape would.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { webSocketStar } from '@wsstar/transport'
import { createLibp2p } from 'libp2p'
import { listenAddr, startRendezvous } from './helpers/rendezvous.js'
import type { TestServer } from './helpers/rendezvous.js'
import type { Libp2p, Metrics } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

type Calculate = () => number | Record<string, number> | Promise<number | Record<string, number>>

/** A Metrics that keeps the calculated metrics by name and ignores everything else. */
function recordingMetrics (): { metrics: Metrics, read: (name: string) => Promise<any> } {
  const calculated = new Map<string, Calculate>()
  const noop: any = new Proxy(() => {}, { get: () => noop, apply: () => noop })
  const register = (name: string, options?: { calculate?: Calculate }): unknown => {
    if (options?.calculate != null) {
      calculated.set(name, options.calculate)
      return undefined
    }
    return noop
  }
  const metrics = new Proxy({} as any, {
    get: (_target, prop) => {
      if (typeof prop === 'string' && prop.startsWith('register')) return register
      if (prop === 'traceFunction') return (_name: string, fn: unknown) => fn
      if (prop === 'then') return undefined
      return () => undefined
    }
  }) as Metrics
  return { metrics, read: async (name) => await calculated.get(name)?.() }
}

async function nodeWith (metrics: Metrics, listen: string[]): Promise<Libp2p<{ ping: Ping }>> {
  const wsstar = webSocketStar({ reconnect: { initialDelay: 100, maxDelay: 2000 } })
  return await createLibp2p({
    addresses: { listen },
    transports: [wsstar.transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    metrics: () => metrics,
    services: { identify: identify(), ping: ping(), discovery: wsstar.discovery }
  })
}

describe('wsstar transport metrics through libp2p components.metrics', { timeout: 60_000 }, () => {
  let server: TestServer
  const nodes: Array<Libp2p<any>> = []

  before(async () => { server = await startRendezvous() })
  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await server?.stop()
  })

  it('counts server status changes, dials, incoming dials and relayed bytes; reports servers by status', async () => {
    const a = recordingMetrics()
    const b = recordingMetrics()
    const listen = listenAddr(server.port)
    const nodeA = await nodeWith(a.metrics, [listen])
    const nodeB = await nodeWith(b.metrics, [listen])
    nodes.push(nodeA, nodeB)

    await nodeB.services.ping.ping(multiaddr(`${listen}/p2p/${nodeA.peerId}`), { signal: AbortSignal.timeout(20_000) })

    const eventsA = await a.read('libp2p_wsstar_events_total')
    const eventsB = await b.read('libp2p_wsstar_events_total')
    assert.equal(eventsA.server_registered, 1, JSON.stringify(eventsA))
    assert.equal(eventsB.server_registered, 1, JSON.stringify(eventsB))
    assert.equal(eventsB.dial, 1, JSON.stringify(eventsB))
    assert.equal(eventsA.incoming, 1, JSON.stringify(eventsA))
    assert.equal(eventsB.dial_error ?? 0, 0)
    assert.deepEqual(await a.read('libp2p_wsstar_servers'), { registered: 1 })
    const bytesA = await a.read('libp2p_wsstar_relayed_bytes_total')
    const bytesB = await b.read('libp2p_wsstar_relayed_bytes_total')
    // noise, yamux, identify and ping all went through the relay, both ways
    assert.ok(bytesA.sent > 0 && bytesA.received > 0, JSON.stringify(bytesA))
    assert.ok(bytesB.sent > 0 && bytesB.received > 0, JSON.stringify(bytesB))

    // a dial to a peer that is not there counts as a dial error
    const nobody = `${listen}/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf`
    await assert.rejects(nodeB.dial(multiaddr(nobody), { signal: AbortSignal.timeout(10_000) }))
    assert.ok(((await b.read('libp2p_wsstar_events_total')).dial_error ?? 0) >= 1)
  })
})
