import { ListenError, TypedEventEmitter, setMaxListeners } from '@libp2p/interface'
import { CODE_P2P } from '@multiformats/multiaddr'
import { WebSocketStarListen, serverOf, serverUrl } from '@wsstar/protocol'
import { UnauthorizedError } from './errors.js'
import type { RelayedConnection } from './relayed-connection.js'
import type { IncomingDialHandler, ServerConnection, ServerStatusDetail } from './server-connection.js'
import type { ServerPool } from './server-pool.js'
import type { ComponentLogger, Listener, ListenerEvents, Logger, PeerId, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The slice of libp2p's AddressManager the listener uses (as circuit-relay does). */
export interface AddressConfirmer {
  confirmObservedAddr(addr: Multiaddr, options?: { type?: 'transport' | 'observed' | 'dns-mapping' | 'ip-mapping', ttl?: number }): void
  removeObservedAddr(addr: Multiaddr, options?: { ttl?: number }): void
}

export interface WebSocketStarListenerComponents {
  peerId: PeerId
  logger: ComponentLogger
  /** read lazily: libp2p sets it up after the transports */
  addressManager?: AddressConfirmer
}

export interface WebSocketStarListenerEvents extends ListenerEvents {
  /** connection status changes: connecting, joining, challenged, registered, reconnecting, evicted, closed */
  status: CustomEvent<ServerStatusDetail>
}

export interface WebSocketStarListenerInit {
  upgrader: Upgrader
  pool: ServerPool
}

/**
 * Listens through one rendezvous server: keeps this node registered there
 * (the server connection reconnects and re-joins by itself) and upgrades
 * every accepted inbound dial. `getAddrs()` is the websocket-star listen
 * address while registered, nothing otherwise; every change is announced
 * with `listening`, which makes libp2p refresh the node's addresses. A
 * server that refuses this node (`UnauthorizedError`: a private server
 * without the right token) fails `listen()` instead of being retried.
 */
export class WebSocketStarListener extends TypedEventEmitter<WebSocketStarListenerEvents> implements Listener, IncomingDialHandler {
  readonly #components: WebSocketStarListenerComponents
  readonly #init: WebSocketStarListenerInit
  readonly #log: Logger
  readonly #shutdown = new AbortController()
  readonly #inbound = new Set<RelayedConnection>()
  #connection?: ServerConnection
  #announced = false
  #closed = false

  constructor (components: WebSocketStarListenerComponents, init: WebSocketStarListenerInit) {
    super()
    this.#components = components
    this.#init = init
    this.#log = components.logger.forComponent('libp2p:websocket-star:listener')
    setMaxListeners(Infinity, this.#shutdown.signal)
  }

  async listen (ma: Multiaddr): Promise<void> {
    if (this.#connection != null) {
      throw new ListenError('this listener is already listening')
    }
    if (!WebSocketStarListen.exactMatch(ma)) {
      throw new ListenError(`not a websocket-star listen address: ${ma.toString()}`)
    }
    const ownId = ma.getComponents().findLast(c => c.code === CODE_P2P)?.value
    if (ownId != null && ownId !== this.#components.peerId.toString()) {
      throw new ListenError(`listen address names another peer id: ${ma.toString()}`)
    }
    const server = serverOf(ma)
    try {
      serverUrl(server)
    } catch (err: any) {
      throw new ListenError(`cannot listen on ${ma.toString()}: ${err.message}`)
    }
    this.#init.pool.allow(server)
    const connection = this.#init.pool.connection(server)
    this.#connection = connection
    connection.addEventListener('status', this.#onStatus)

    // wait for the first attempt's outcome (bounded): registered, or failed
    // and retrying in the background. A down server never fails node start.
    let stopWaiting = (): void => {}
    const firstOutcome = new Promise<void>(resolve => {
      const onStatus = (evt: CustomEvent<ServerStatusDetail>): void => {
        if (['registered', 'reconnecting', 'evicted', 'closed'].includes(evt.detail.status)) {
          stopWaiting()
        }
      }
      const timer = setTimeout(() => { stopWaiting() }, this.#init.pool.options.listenTimeout)
      stopWaiting = () => {
        clearTimeout(timer)
        connection.removeEventListener('status', onStatus)
        resolve()
      }
      connection.addEventListener('status', onStatus)
    })
    connection.addHandler(this)
    if (connection.registered) {
      stopWaiting()
      this.#onRegistered()
      return
    }
    await firstOutcome
    if (connection.status === 'closed' && connection.lastError instanceof UnauthorizedError) {
      // a private server refused this node: not a server that is down, which
      // the listener would wait out in the background, but a configuration to fix
      connection.removeEventListener('status', this.#onStatus)
      connection.removeHandler(this)
      throw connection.lastError
    }
    if (!connection.registered && !this.#closed) {
      this.#log('%s not reachable yet, listening in the background - %s', connection.url, connection.lastError?.message)
    }
  }

  getAddrs (): Multiaddr[] {
    return this.#connection?.registered === true && !this.#closed ? [this.#connection.listenAddr] : []
  }

  updateAnnounceAddrs (): void {}

  async close (): Promise<void> {
    if (this.#closed) {
      return
    }
    this.#closed = true
    this.#shutdown.abort()
    const connection = this.#connection
    if (connection != null) {
      connection.removeEventListener('status', this.#onStatus)
      this.#withdraw(connection)
      for (const maConn of this.#inbound) {
        maConn.abort(new Error('listener closed'))
      }
      this.#inbound.clear()
      if (connection.removeHandler(this)) {
        await connection.close()
      }
    }
    this.safeDispatchEvent('close')
  }

  onIncomingDial (maConn: RelayedConnection): void {
    if (this.#closed) {
      maConn.abort(new Error('listener closed'))
      return
    }
    this.#inbound.add(maConn)
    maConn.addEventListener('close', () => {
      this.#inbound.delete(maConn)
    }, { once: true })
    this.#log('new inbound connection from %a', maConn.remoteAddr)
    this.#init.upgrader.upgradeInbound(maConn, { signal: this.#shutdown.signal })
      .catch((err: Error) => {
        this.#log.error('inbound connection from %a failed to upgrade - %e', maConn.remoteAddr, err)
        maConn.abort(err)
      })
  }

  readonly #onStatus = (evt: CustomEvent<ServerStatusDetail>): void => {
    const connection = this.#connection
    if (connection == null || this.#closed) {
      return
    }
    this.safeDispatchEvent('status', { detail: evt.detail })
    if (evt.detail.status === 'registered') {
      this.#onRegistered()
    } else if (this.#announced) {
      this.#withdraw(connection)
      this.safeDispatchEvent('listening')
    }
  }

  #onRegistered (): void {
    const connection = this.#connection
    if (connection == null || this.#closed) {
      return
    }
    this.#announced = true
    try {
      this.#components.addressManager?.confirmObservedAddr(connection.listenAddr, { type: 'transport' })
    } catch (err) {
      this.#log('could not confirm %a - %e', connection.listenAddr, err)
    }
    this.safeDispatchEvent('listening')
  }

  #withdraw (connection: ServerConnection): void {
    if (!this.#announced) {
      return
    }
    this.#announced = false
    try {
      this.#components.addressManager?.removeObservedAddr(connection.listenAddr)
    } catch (err) {
      this.#log('could not withdraw %a - %e', connection.listenAddr, err)
    }
  }
}
