import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { webSocketStar } from '@wsstar/transport'
import { createLibp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, Listener, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { WebSocketStarDiscovery, WebSocketStarInit, WebSocketStarListener, WebSocketStarTransport } from '@wsstar/transport'

export type TestNode = Libp2p<{ identify: Identify, ping: Ping, discovery: WebSocketStarDiscovery }>

export interface TestNodeOptions {
  listen?: string[]
  wsstar?: WebSocketStarInit
  start?: boolean
  /** merged over the default gater, which allows dialling private addresses */
  connectionGater?: ConnectionGater
  /** the node's identity; default: a new Ed25519 key */
  privateKey?: PrivateKey
}

/** A real libp2p node: wsstar transport + discovery, noise, yamux, identify, ping. */
export async function createNode (options: TestNodeOptions = {}): Promise<TestNode> {
  const wsstar = webSocketStar({ reconnect: { initialDelay: 100, maxDelay: 2000 }, ...options.wsstar })
  return createLibp2p({
    start: options.start ?? true,
    ...(options.privateKey != null ? { privateKey: options.privateKey } : {}),
    addresses: { listen: options.listen ?? [] },
    transports: [wsstar.transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false, ...options.connectionGater },
    services: {
      identify: identify(),
      ping: ping(),
      discovery: wsstar.discovery
    }
  })
}

/** The node's wsstar transport instance (for diagnostics). */
export function wsstarOf (node: Libp2p<any>): WebSocketStarTransport {
  const transport = (node as any).components.transportManager.getTransports()
    .find((t: any) => t[Symbol.toStringTag] === '@wsstar/transport')
  if (transport == null) {
    throw new Error('node has no wsstar transport')
  }
  return transport
}

/** The node's wsstar listeners. */
export function wsstarListeners (node: Libp2p<any>): WebSocketStarListener[] {
  return (node as any).components.transportManager.getListeners()
    .filter((l: Listener) => l.constructor.name === 'WebSocketStarListener')
}
