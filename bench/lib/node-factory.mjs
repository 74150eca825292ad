// libp2p nodes for every benchmark path. All endpoints use the same stack:
// noise + yamux (defaults) + identify + ping; only the transports differ.

import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

/** Listen address of websocket listeners (direct listener, circuit relay). */
export const WS_LISTEN = '/ip4/127.0.0.1/tcp/0/ws'

/** The circuit-relay-v2 server options that lift every per-connection limit. */
export const CIRCUIT_RELAY_UNLIMITED = {
  // @libp2p/circuit-relay-v2 4.x ServerReservationStore: when
  // applyDefaultLimit is false a reservation has no `limit`, so the HOP/STOP
  // messages carry none, createLimitedRelay() adds neither a duration timer
  // nor a byte counter, and the endpoints' connections have no `limits`
  // (so they are not "limited"). The two defaults are raised as well, in
  // case a future version applies them regardless.
  reservations: {
    maxReservations: 1024,
    applyDefaultLimit: false,
    defaultDurationLimit: 24 * 60 * 60 * 1000, // 24 h (default 2 min)
    defaultDataLimit: 1n << 40n, // 1 TiB (default 128 KiB)
    reservationTtl: 24 * 60 * 60 * 1000 // default 2 h
  },
  maxInboundHopStreams: 1024,
  maxOutboundHopStreams: 1024,
  maxOutboundStopStreams: 1024
}

function common ({ pingAbort = false } = {}) {
  return {
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // allow everything on loopback (the Node default does too; explicit for clarity)
    connectionGater: { denyDialMultiaddr: () => false },
    // libp2p's connection monitor pings every connection every 10 s with an
    // adaptive timeout of at least 5 s and, by default, aborts the connection
    // when a ping fails. Under bulk load on a busy 2-core machine the
    // circuit relay's ping to the dialer queued for more than 5 s behind
    // relayed data and the relay aborted the connection mid-transfer; and a
    // SIGSTOPped receiver (slow-receiver) loses its connections on every path.
    // So every benchmark node, on every path alike, keeps its connections
    // when a ping fails (`--ping-abort` restores libp2p's default).
    connectionMonitor: { abortConnectionOnPingFailure: pingAbort }
  }
}

function baseServices () {
  return {
    identify: identify(),
    ping: ping()
  }
}

/**
 * Creates (and starts) a libp2p node for `path`:
 *  - 'direct'  : @libp2p/websockets; `listen` true → listens on 127.0.0.1 ws
 *  - 'circuit' : @libp2p/websockets + circuitRelayTransport; `listen` true →
 *                reserves a slot on `relayAddr` (with /p2p/<relayId>)
 *  - 'circuit-relay' : the relay server itself (websockets + circuitRelayServer, limits lifted)
 *  - 'wsstar'  : webSocketStar() from @wsstar/transport; always registers
 *                with the server at `serverAddr` (a dialer must be registered
 *                to dial, see DESIGN.md ss-dial)
 * `pingAbort`: abort connections whose keep-alive ping fails (libp2p's default; off here).
 */
export async function createNode ({ path, listen = false, relayAddr, serverAddr, pingAbort = false } = {}) {
  switch (path) {
    case 'direct':
      return createLibp2p({
        ...common({ pingAbort }),
        addresses: { listen: listen ? [WS_LISTEN] : [] },
        transports: [webSockets()],
        services: baseServices()
      })
    case 'circuit': {
      const { circuitRelayTransport } = await import('@libp2p/circuit-relay-v2')
      if (listen && relayAddr == null) throw new Error('circuit listener needs relayAddr')
      return createLibp2p({
        ...common({ pingAbort }),
        addresses: { listen: listen ? [`${relayAddr}/p2p-circuit`] : [] },
        transports: [webSockets(), circuitRelayTransport()],
        services: baseServices()
      })
    }
    case 'circuit-relay': {
      const { circuitRelayServer } = await import('@libp2p/circuit-relay-v2')
      return createLibp2p({
        ...common({ pingAbort }),
        addresses: { listen: [WS_LISTEN] },
        transports: [webSockets()],
        connectionManager: { maxConnections: 10_000 },
        services: {
          ...baseServices(),
          relay: circuitRelayServer(CIRCUIT_RELAY_UNLIMITED)
        }
      })
    }
    case 'wsstar': {
      if (serverAddr == null) throw new Error('wsstar node needs serverAddr')
      const { webSocketStar } = await import('@wsstar/transport')
      const ws = webSocketStar()
      return createLibp2p({
        ...common({ pingAbort }),
        addresses: { listen: [`${serverAddr}/p2p-websocket-star`] },
        transports: [ws.transport],
        services: {
          ...baseServices(),
          wsstarDiscovery: ws.discovery
        }
      })
    }
    default:
      throw new Error(`unknown path ${path}`)
  }
}

/** Resolves once `predicate(node.getMultiaddrs())` returns an address. */
export async function waitForAddr (node, predicate, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = node.getMultiaddrs().find(ma => predicate(ma.toString()))
    if (found != null) return found.toString()
    if (Date.now() > deadline) {
      throw new Error(`no matching listen address after ${timeoutMs} ms (have ${node.getMultiaddrs().map(String).join(', ') || 'none'})`)
    }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}
