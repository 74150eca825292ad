import { InvalidMultiaddrError, TypedEventEmitter, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { WebSocketStarListen, WebSocketStarPeer, parsePeerAddress } from '@wsstar/protocol'
import { CustomProgressEvent } from 'progress-events'
import { abortError } from './abort.js'
import { UnknownServerError } from './errors.js'
import { WebSocketStarListener } from './listener.js'
import type { AddressConfirmer } from './listener.js'
import type { ServerStatus, ServerStatusDetail } from './server-connection.js'
import type { ServerPool } from './server-pool.js'
import type {
  ComponentLogger, Connection, CreateListenerOptions, DialTransportOptions, Listener, Logger,
  OutboundConnectionUpgradeEvents, PeerId, PrivateKey, Startable, Transport
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { WebSocketStarAddress } from '@wsstar/protocol'
import type { ProgressEvent } from 'progress-events'

export type WebSocketStarDialEvents =
  OutboundConnectionUpgradeEvents |
  /** finding or opening the socket to the server, joining it if needed */
  ProgressEvent<'websocket-star:open-connection'> |
  /** `ss-dial` sent, waiting for the callee to accept */
  ProgressEvent<'websocket-star:dial'> |
  /** the callee accepted; the libp2p upgrade (noise, yamux) starts */
  ProgressEvent<'websocket-star:dial-accepted'>

export interface WebSocketStarComponents {
  peerId: PeerId
  privateKey: PrivateKey
  logger: ComponentLogger
  addressManager?: AddressConfirmer
}

/** A snapshot of one server connection, for diagnostics and tests. */
export interface ServerConnectionInfo {
  server: string
  address: string
  status: ServerStatus
  listening: boolean
  /** relayed connections routed over this socket right now */
  dials: number
  /** the servers this socket relays dials to (its cluster, itself included), as the server named them */
  cluster: string[]
  /** socket.io listeners on the socket (constant: one per event, however many dials) */
  socketListeners: number
}

export interface WebSocketStarTransportEvents {
  /** a server connection changed status (all servers; listeners report their own too) */
  status: CustomEvent<ServerStatusDetail>
}

/**
 * The libp2p transport: dials `<server>/p2p-websocket-star/p2p/<id>`
 * addresses through the rendezvous server and listens on
 * `<server>/p2p-websocket-star` addresses.
 */
export class WebSocketStarTransport extends TypedEventEmitter<WebSocketStarTransportEvents> implements Transport<WebSocketStarDialEvents>, Startable {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@wsstar/transport'
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']

  readonly #components: WebSocketStarComponents
  readonly #pool: ServerPool
  readonly #log: Logger

  constructor (components: WebSocketStarComponents, pool: ServerPool) {
    super()
    this.#components = components
    this.#pool = pool
    this.#log = components.logger.forComponent('libp2p:websocket-star')
    pool.addEventListener('status', (evt) => {
      this.safeDispatchEvent('status', { detail: evt.detail })
    })
  }

  start (): void {}

  async stop (): Promise<void> {
    await this.#pool.close()
  }

  async dial (ma: Multiaddr, options: DialTransportOptions<WebSocketStarDialEvents>): Promise<Connection> {
    const { signal } = options
    if (signal?.aborted === true) {
      throw abortError(signal)
    }
    let target: WebSocketStarAddress
    try {
      target = parsePeerAddress(ma.toString())
    } catch (err: any) {
      throw new InvalidMultiaddrError(`cannot dial ${ma.toString()}: ${err.message}`)
    }
    let server
    try {
      server = this.#pool.connectionFor(target.server)
    } catch (err: any) {
      if (err instanceof UnknownServerError) {
        throw new UnknownServerError(`cannot dial ${ma.toString()}: ${err.message}`)
      }
      throw new InvalidMultiaddrError(`cannot dial ${ma.toString()}: ${err.message}`)
    }
    this.#log('dialing %a through %s', ma, server.url)
    options.onProgress?.(new CustomProgressEvent('websocket-star:open-connection'))
    let maConn
    try {
      maConn = await server.openDial(target, {
        signal,
        onDialSent: () => { options.onProgress?.(new CustomProgressEvent('websocket-star:dial')) }
      })
    } catch (err: any) {
      this.#pool.metrics.event('dial_error')
      if (isAborted(signal) && err?.name !== 'AbortError') {
        throw abortError(signal)
      }
      throw err
    }
    options.onProgress?.(new CustomProgressEvent('websocket-star:dial-accepted'))
    try {
      const connection = await options.upgrader.upgradeOutbound(maConn, options)
      this.#log('outbound connection to %a upgraded', ma)
      this.#pool.metrics.event('dial')
      return connection
    } catch (err: any) {
      this.#pool.metrics.event('dial_error')
      maConn.abort(err)
      if (isAborted(signal) && err?.name !== 'AbortError') {
        throw abortError(signal)
      }
      throw err
    }
  }

  createListener (options: CreateListenerOptions): Listener {
    return new WebSocketStarListener(this.#components, { upgrader: options.upgrader, pool: this.#pool })
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => WebSocketStarListen.exactMatch(ma))
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => WebSocketStarPeer.exactMatch(ma))
  }

  /** One entry per rendezvous server this node has a socket to. */
  getServers (): ServerConnectionInfo[] {
    return this.#pool.connections().map(c => ({
      server: c.url,
      address: c.address,
      status: c.status,
      listening: c.listening,
      dials: c.dials,
      cluster: c.cluster.map(String),
      socketListeners: c.socket == null ? 0 : c.socket.listeners('d').length + c.socket.listeners('c').length + c.socket.listeners('e').length
    }))
  }
}

function isAborted (signal?: AbortSignal): boolean {
  return signal?.aborted === true
}
