// The relay of a relayed path, alone in its own process so that its CPU
// seconds and RSS are measured separately. `relay-child.mjs circuit|wsstar`.
//
// Commands: start → { addr }   (the address endpoints put before /p2p-circuit
//                               or /p2p-websocket-star)
//           gc    → heap stats after a full GC when run with --expose-gc
//           stats → server specific counters where available

import { serveRpc } from './child.mjs'
import { createNode, waitForAddr } from './node-factory.mjs'

const [kind] = process.argv.slice(2)
let stopFn = async () => {}
let statsFn = async () => ({})

async function startCircuit ({ pingAbort }) {
  const node = await createNode({ path: 'circuit-relay', pingAbort })
  const addr = await waitForAddr(node, (a) => a.includes('/ws'))
  stopFn = () => node.stop()
  statsFn = async () => ({
    connections: node.getConnections().length,
    reservations: node.services.relay.reservations.size
  })
  return { addr: addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.peerId}`, peerId: node.peerId.toString() }
}

async function startWsstar () {
  const { createRendezvousServer } = await import('@wsstar/rendezvous')
  const { pino } = await import('pino')
  // extra options as JSON, e.g. WSSTAR_BENCH_SERVER_OPTIONS='{"limits":{"windowBytes":4194304}}'
  const extra = process.env.WSSTAR_BENCH_SERVER_OPTIONS != null ? JSON.parse(process.env.WSSTAR_BENCH_SERVER_OPTIONS) : {}
  const server = createRendezvousServer({
    port: 0,
    host: '127.0.0.1',
    // the default logger logs at info (one line per join/dial); keep the
    // benchmark's stdout quiet, override with WSSTAR_BENCH_LOG_LEVEL
    logger: pino({ name: 'wsstar-rendezvous', level: process.env.WSSTAR_BENCH_LOG_LEVEL ?? 'warn' }),
    ...extra,
    // every endpoint connects from 127.0.0.1: per-IP limits out of the way
    limits: { maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6, ...extra.limits }
  })
  await server.start()
  stopFn = () => server.stop()
  statsFn = async () => server.stats()
  const port = server.port
  return { addr: `/ip4/127.0.0.1/tcp/${port}/ws`, port, limits: server.limits }
}

serveRpc({
  async start (args) {
    if (kind === 'circuit') return startCircuit(args)
    if (kind === 'wsstar') return startWsstar()
    throw new Error(`unknown relay kind ${kind}`)
  },
  async gc () {
    globalThis.gc?.()
    const m = process.memoryUsage()
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
  },
  async stats () {
    return statsFn()
  },
  async shutdown () {
    await stopFn()
  }
}, { kind, pid: process.pid })
