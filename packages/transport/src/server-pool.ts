import { TypedEventEmitter } from '@libp2p/interface'
import { canonicalPeerAddress, parsePeerAddress, serverUrl } from '@wsstar/protocol'
import { UnknownServerError } from './errors.js'
import { ServerConnection } from './server-connection.js'
import { WebSocketStarMetrics } from './transport-metrics.js'
import type { ResolvedOptions } from './options.js'
import type { ServerStatusDetail } from './server-connection.js'
import type { ComponentLogger, Logger, Metrics, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface PeersChange {
  /** peers announced as online (never this node) */
  joined: PeerInfo[]
  /** peers announced as gone */
  left: PeerInfo[]
}

export interface ServerPoolEvents {
  peers: CustomEvent<PeersChange>
  /** status changes of every server connection */
  status: CustomEvent<ServerStatusDetail>
}

export interface ServerPoolComponents {
  peerId: PeerId
  privateKey: PrivateKey
  logger: ComponentLogger
  /** the node's metrics, when it has them */
  metrics?: Metrics
}

/**
 * The state a transport and its discovery service share within one libp2p
 * node: one `ServerConnection` per rendezvous server (keyed by socket.io
 * URL), the servers the node may join (its listen servers and the
 * `servers` option), and a bounded cache of the peers they announced, so a
 * discovery service that starts after the first join still learns the join
 * sample.
 */
export class ServerPool extends TypedEventEmitter<ServerPoolEvents> {
  readonly #components: ServerPoolComponents
  readonly #options: ResolvedOptions
  readonly #log: Logger
  readonly #connections = new Map<string, ServerConnection>()
  /** address -> peer info, insertion ordered (oldest first) */
  readonly #known = new Map<string, PeerInfo>()
  /** socket.io URLs of the servers this node may join */
  readonly #allowed = new Set<string>()

  /** counts reported through the node's metrics */
  readonly metrics: WebSocketStarMetrics

  constructor (components: ServerPoolComponents, options: ResolvedOptions) {
    super()
    this.#components = components
    this.#options = options
    this.metrics = new WebSocketStarMetrics(components.metrics, () => {
      const byStatus: Record<string, number> = {}
      for (const connection of this.#connections.values()) byStatus[connection.status] = (byStatus[connection.status] ?? 0) + 1
      return byStatus
    })
    this.#log = components.logger.forComponent('libp2p:websocket-star:pool')
    for (const server of options.servers) {
      this.#allowed.add(serverUrl(server))
    }
  }

  /** Lets this node join `server` (a server it listens on). */
  allow (server: Multiaddr): void {
    this.#allowed.add(serverUrl(server))
  }

  /** True when this node may join `server`: it listens there or has it in the `servers` option. */
  allows (server: Multiaddr): boolean {
    try {
      return this.#allowed.has(serverUrl(server))
    } catch {
      return false
    }
  }

  get options (): ResolvedOptions {
    return this.#options
  }

  /** The connection for a server multiaddr, created (idle) if there is none. */
  connection (server: Multiaddr): ServerConnection {
    const url = serverUrl(server)
    let connection = this.#connections.get(url)
    if (connection == null || connection.status === 'closed') {
      connection = new ServerConnection({
        server,
        url,
        peerId: this.#components.peerId,
        privateKey: this.#components.privateKey,
        logger: this.#components.logger,
        metrics: this.metrics,
        options: this.#options,
        onPeers: (conn, joined, left) => { this.#onPeers(conn, joined, left) },
        onClosed: (conn) => {
          if (this.#connections.get(conn.url) === conn) {
            this.#connections.delete(conn.url)
          }
        }
      })
      connection.addEventListener('status', (evt) => {
        this.safeDispatchEvent('status', { detail: evt.detail })
      })
      this.#connections.set(url, connection)
    }
    return connection
  }

  /**
   * The connection to dial a peer on `server` through: this node's
   * connection to that server if it has one, else a registered connection
   * to another server of the same cluster (its join answer named `server`;
   * the cluster relays the dial between its replicas), else a new one. A
   * second registration in a cluster would be a move: the replica holding
   * the first one would evict it. A new one only to a server this node may
   * join (`allows`), else UnknownServerError: joining signs this node's peer
   * id for that server, which a hostile one could relay to a real one.
   */
  connectionFor (server: Multiaddr): ServerConnection {
    const own = this.#connections.get(serverUrl(server))
    if (own != null && own.status !== 'closed') {
      return own
    }
    let relay: ServerConnection | undefined
    for (const connection of this.#connections.values()) {
      if (connection.registered && connection.relaysTo(server) && (relay == null || (connection.listening && !relay.listening))) {
        relay = connection
      }
    }
    if (relay != null) {
      return relay
    }
    if (!this.allows(server)) {
      throw new UnknownServerError(`${server.toString()} is not a server this node listens on, has in its \`servers\` option, or reaches through a cluster it joined`)
    }
    return this.connection(server)
  }

  connections (): ServerConnection[] {
    return [...this.#connections.values()]
  }

  /** Peers announced so far and not announced gone since (bounded). */
  knownPeers (): PeerInfo[] {
    return [...this.#known.values()]
  }

  async close (): Promise<void> {
    const connections = [...this.#connections.values()]
    this.#connections.clear()
    this.#known.clear()
    await Promise.all(connections.map(async c => { await c.close() }))
  }

  #onPeers (connection: ServerConnection, joined: string[], left: string[]): void {
    const change: PeersChange = { joined: [], left: [] }
    const rehomed = { count: 0 }
    for (const address of left) {
      const info = this.#peerInfo(address, connection, rehomed)
      if (info == null) {
        continue
      }
      this.#known.delete(info.multiaddrs[0].toString())
      change.left.push(info)
    }
    for (const address of joined) {
      const info = this.#peerInfo(address, connection, rehomed)
      if (info == null) {
        continue
      }
      const key = info.multiaddrs[0].toString()
      this.#known.delete(key)
      this.#known.set(key, info)
      while (this.#known.size > this.#options.maxCachedPeers) {
        const oldest = this.#known.keys().next().value
        if (oldest == null) {
          break
        }
        this.#known.delete(oldest)
      }
      change.joined.push(info)
    }
    if (rehomed.count > 0) {
      this.#log('%s: %d announced addresses named another server; kept on this one', connection.url, rehomed.count)
    }
    this.#log.trace('%s: %d joined, %d left', connection.url, change.joined.length, change.left.length)
    if (change.joined.length > 0 || change.left.length > 0) {
      this.safeDispatchEvent('peers', { detail: change })
    }
  }

  #sameUrl (server: Multiaddr, url: string): boolean {
    try {
      return serverUrl(server) === url
    } catch {
      return false
    }
  }

  /**
   * A peer announcement as a PeerInfo; null for malformed ones and for
   * ourselves. The address always names the announcing server or, in a
   * cluster, one of its replicas (its join answer's `cluster`): any other
   * server part is replaced by the announcing server's, which relays to
   * every peer it announces, so discovery never has this node join a server
   * it did not choose.
   */
  #peerInfo (address: string, connection: ServerConnection, rehomed: { count: number }): PeerInfo | null {
    try {
      const parsed = parsePeerAddress(address)
      if (parsed.peerId.equals(this.#components.peerId)) {
        return null
      }
      if (!this.#sameUrl(parsed.server, connection.url) && !connection.relaysTo(parsed.server)) {
        rehomed.count++
        return { id: parsed.peerId, multiaddrs: [canonicalPeerAddress(connection.server, parsed.peerId).multiaddr] }
      }
      return { id: parsed.peerId, multiaddrs: [parsed.multiaddr] }
    } catch {
      this.#log('ignoring malformed peer address %s', address)
      return null
    }
  }
}
