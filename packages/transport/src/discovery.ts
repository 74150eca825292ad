import { TypedEventEmitter, peerDiscoverySymbol, serviceCapabilities } from '@libp2p/interface'
import type { PeersChange, ServerPool } from './server-pool.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ComponentLogger, Logger, PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerInfo, PeerStore, PrivateKey, Startable } from '@libp2p/interface'

export interface WebSocketStarDiscoveryComponents {
  peerId: PeerId
  privateKey: PrivateKey
  logger: ComponentLogger
  /** read lazily; used to drop the websocket-star address of peers announced gone */
  peerStore?: Pick<PeerStore, 'has' | 'get' | 'patch'>
}

/**
 * Peer discovery from the rendezvous servers this node is connected to:
 * the join sample and every `ws-peers` delta's `joined` become `peer`
 * events (never this node); `left` removes that websocket-star address from
 * the peer store. Peers announced before `start()` (the join sample may
 * arrive first) are emitted on start. Nothing is emitted while stopped.
 */
export class WebSocketStarDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [Symbol.toStringTag] = '@wsstar/discovery'
  readonly [serviceCapabilities]: string[] = ['@libp2p/peer-discovery']

  readonly #components: WebSocketStarDiscoveryComponents
  readonly #pool: ServerPool
  readonly #log: Logger
  #started = false

  constructor (components: WebSocketStarDiscoveryComponents, pool: ServerPool) {
    super()
    this.#components = components
    this.#pool = pool
    this.#log = components.logger.forComponent('libp2p:websocket-star:discovery')
  }

  get [peerDiscoverySymbol] (): PeerDiscovery {
    return this
  }

  isStarted (): boolean {
    return this.#started
  }

  start (): void {
    if (this.#started) {
      return
    }
    this.#started = true
    this.#pool.addEventListener('peers', this.#onPeers)
    const known = this.#pool.knownPeers()
    if (known.length > 0) {
      // after start() returns, so listeners added around start() see them
      setTimeout(() => {
        for (const peer of known) {
          this.#emit(peer)
        }
      }, 0)
    }
  }

  stop (): void {
    this.#started = false
    this.#pool.removeEventListener('peers', this.#onPeers)
  }

  readonly #onPeers = (evt: CustomEvent<PeersChange>): void => {
    for (const peer of evt.detail.joined) {
      this.#emit(peer)
    }
    for (const peer of evt.detail.left) {
      this.#forget(peer).catch(err => {
        this.#log('could not remove %a of %p - %e', peer.multiaddrs[0], peer.id, err)
      })
    }
  }

  #emit (peer: PeerInfo): void {
    if (!this.#started || peer.id.equals(this.#components.peerId)) {
      return
    }
    this.safeDispatchEvent('peer', { detail: peer })
  }

  async #forget (peer: PeerInfo): Promise<void> {
    if (!this.#started) {
      return
    }
    let peerStore: WebSocketStarDiscoveryComponents['peerStore']
    try {
      peerStore = this.#components.peerStore
    } catch {
      return
    }
    if (peerStore == null || !(await peerStore.has(peer.id))) {
      return
    }
    const stored = await peerStore.get(peer.id)
    // the peer store keeps addresses without the peer's own /p2p suffix
    const key = (ma: Multiaddr): string => {
      const text = ma.toString()
      const suffix = `/p2p/${peer.id.toString()}`
      return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text
    }
    const gone = peer.multiaddrs.map(key)
    const remaining = stored.addresses.filter(a => !gone.includes(key(a.multiaddr)))
    if (remaining.length === stored.addresses.length) {
      return
    }
    this.#log('%p left, removing %s', peer.id, gone.join(', '))
    await peerStore.patch(peer.id, { multiaddrs: remaining.map(a => a.multiaddr) })
  }
}
