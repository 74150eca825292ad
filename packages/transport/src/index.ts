/**
 * @packageDocumentation
 *
 * A js-libp2p 3 transport and peer discovery for wsstar rendezvous servers
 * (websocket-star, wire protocol v2): peers that cannot accept connections
 * (browsers, NATs) listen through a server and reach each other over one
 * socket.io connection per server.
 *
 * @example
 *
 * ```TypeScript
 * import { createLibp2p } from 'libp2p'
 * import { noise } from '@libp2p/noise'
 * import { yamux } from '@libp2p/yamux'
 * import { webSocketStar } from '@wsstar/transport'
 *
 * const wsstar = webSocketStar()
 * const node = await createLibp2p({
 *   addresses: { listen: ['/dns4/star.example.com/tcp/443/wss/p2p-websocket-star'] },
 *   transports: [wsstar.transport],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   services: { wsstarDiscovery: wsstar.discovery }
 * })
 * ```
 */
import { WebSocketStarDiscovery } from './discovery.js'
import { resolveOptions } from './options.js'
import { ServerPool } from './server-pool.js'
import { WebSocketStarTransport } from './transport.js'
import type { WebSocketStarDiscoveryComponents } from './discovery.js'
import type { WebSocketStarInit } from './options.js'
import type { WebSocketStarComponents } from './transport.js'
import type { Metrics } from '@libp2p/interface'

export interface WebSocketStar {
  /** for `transports: [...]` */
  transport(components: WebSocketStarComponents): WebSocketStarTransport
  /** for `peerDiscovery: [...]` or `services: { wsstarDiscovery: ... }`: libp2p 3 takes discovery from either */
  discovery(components: WebSocketStarDiscoveryComponents): WebSocketStarDiscovery
}

/**
 * Creates the transport and discovery factories. Both share the node's
 * connections to rendezvous servers; the state is kept per libp2p node, so
 * one `webSocketStar()` may configure several nodes.
 */
export function webSocketStar (init: WebSocketStarInit = {}): WebSocketStar {
  const options = resolveOptions(init)
  const pools = new WeakMap<object, ServerPool>()
  const poolFor = (components: WebSocketStarComponents | WebSocketStarDiscoveryComponents): ServerPool => {
    let pool = pools.get(components)
    if (pool == null) {
      const { peerId, privateKey, logger } = components
      // libp2p passes its metrics to both when the node has them
      const { metrics } = components as { metrics?: Metrics }
      pool = new ServerPool({ peerId, privateKey, logger, metrics }, options)
      pools.set(components, pool)
    }
    return pool
  }
  return {
    transport: (components) => new WebSocketStarTransport(components, poolFor(components)),
    discovery: (components) => new WebSocketStarDiscovery(components, poolFor(components))
  }
}

export { WebSocketStarTransport } from './transport.js'
export { WebSocketStarDiscovery } from './discovery.js'
export { WebSocketStarListener } from './listener.js'
export { RelayedConnection } from './relayed-connection.js'
export { backoffDelay } from './backoff.js'
export { directUpgrade, DirectUpgrade, DEFAULT_DIRECT_UPGRADE_ATTEMPTS, DEFAULT_DIRECT_UPGRADE_GRACE, DEFAULT_DIRECT_UPGRADE_TIMEOUT } from './direct-upgrade.js'
export { relayedConnectionOf } from './relayed-connection-registry.js'
export * from './errors.js'
export type { WebSocketStarInit, ReconnectOptions } from './options.js'
export type { WebSocketStarComponents, WebSocketStarDialEvents, WebSocketStarTransportEvents, ServerConnectionInfo } from './transport.js'
export type { WebSocketStarDiscoveryComponents } from './discovery.js'
export type { DirectUpgradeInit, DirectUpgradeComponents, DirectUpgradeEvents, DirectUpgradeStats, DirectUpgradeStartedDetail, DirectUpgradeDirectDetail, DirectUpgradeFailedDetail, DirectUpgradeRetiredDetail } from './direct-upgrade.js'
export type { WebSocketStarListenerEvents, AddressConfirmer } from './listener.js'
export type { ServerStatus, ServerStatusDetail } from './server-connection.js'
