/**
 * The direct upgrade: a libp2p service that moves a wsstar connection off the
 * rendezvous server. When this node dials a peer through wsstar, it dials
 * `/webrtc/p2p/<peer>` next; `@libp2p/webrtc` finds the open wsstar
 * connection and runs its SDP/ICE signalling over a stream on it, so the
 * server relays the signalling like any other bytes. Once the WebRTC
 * connection is up, new streams go over it, and the relayed connection is
 * closed after a grace period, when no stream is left on it. A failed or
 * timed-out attempt leaves the relayed connection as it was.
 *
 * On the answering side it checks each inbound WebRTC connection from a peer
 * it has a relayed connection to: `@libp2p/webrtc` (6.0) takes the end of a
 * failed attempt's signalling for success and opens a connection whose peer
 * connection never connected, which would take the answerer's new streams.
 * One that does not answer a stream within `timeout` is closed.
 *
 * Imports the wsstar relayed-connection registry and errors; talks to libp2p
 * only through its components (connection and transport managers, events,
 * metrics). It does not import `@libp2p/webrtc`: the node brings it.
 */
import { TypedEventEmitter, serviceCapabilities } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { DirectUpgradeTimeoutError, DirectUpgradeUnavailableError } from './errors.js'
import { nonNegative } from './options.js'
import { relayedConnectionOf } from './relayed-connection-registry.js'
import type { RelayedConnection } from './relayed-connection.js'
import type {
  AbortOptions, ComponentLogger, Connection, CounterGroup, Counter, Libp2pEvents, Logger, Metrics,
  PeerId, Startable, Transport
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { TypedEventTarget } from 'main-event'

export interface DirectUpgradeInit {
  /**
   * Try the upgrade at all. `false` keeps every wsstar connection this node
   * dials relayed (the remote can still upgrade one it dialled if this node
   * has `webRTC()`; the check of such inbound WebRTC connections still runs).
   *
   * @default true
   */
  enabled?: boolean

  /**
   * How long one attempt (signalling, ICE, the libp2p upgrade of the WebRTC
   * connection) may take before it is given up, ms. On the answering side,
   * how long an inbound WebRTC connection has to answer a first stream.
   *
   * @default 10000
   */
  timeout?: number

  /**
   * Tries per upgrade. A WebRTC handshake can fail for a passing reason
   * (`@libp2p/webrtc` reports a failed DTLS handshake only at the try's
   * timeout); the next try starts at once over the same relayed connection.
   * In Node, `libdatachannelRtcConfiguration` removes the cause of most such
   * failures (see `./libdatachannel-rtc-configuration.ts`).
   *
   * @default 2
   */
  attempts?: number

  /**
   * How long the relayed connection stays after the direct one is up, ms.
   * After it, the relayed connection closes as soon as no stream is open on
   * it: streams that were running on it finish there.
   *
   * @default 5000
   */
  grace?: number
}

export const DEFAULT_DIRECT_UPGRADE_TIMEOUT = 10_000
export const DEFAULT_DIRECT_UPGRADE_ATTEMPTS = 2
export const DEFAULT_DIRECT_UPGRADE_GRACE = 5_000
/** how often a retiring relayed connection is checked for open streams, ms */
const IDLE_CHECK_INTERVAL = 250
/**
 * What the answering side opens on an inbound WebRTC connection to see it
 * work. Nobody handles it: a connection that carries bytes answers "not
 * supported" after one round trip (libp2p's connection monitor takes that as
 * alive too); one that never connected does not answer.
 */
const PROBE_PROTOCOL = '/wsstar/direct-upgrade/probe/1.0.0'

/** The parts of libp2p's connection manager this service uses. */
export interface DirectUpgradeConnectionManager {
  getConnections(peerId?: PeerId): Connection[]
}

/** The parts of libp2p's transport manager this service uses. */
export interface DirectUpgradeTransportManager {
  dial(ma: Multiaddr, options?: AbortOptions): Promise<Connection>
  dialTransportForMultiaddr(ma: Multiaddr): Transport | undefined
}

export interface DirectUpgradeComponents {
  peerId: PeerId
  connectionManager: DirectUpgradeConnectionManager
  transportManager: DirectUpgradeTransportManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  metrics?: Metrics
}

export interface DirectUpgradeStartedDetail {
  peer: PeerId
  relayed: Connection
}

export interface DirectUpgradeDirectDetail extends DirectUpgradeStartedDetail {
  direct: Connection
  /** ms from the start of the attempt to the direct connection */
  duration: number
}

export interface DirectUpgradeFailedDetail extends DirectUpgradeStartedDetail {
  error: Error
}

export interface DirectUpgradeRetiredDetail extends DirectUpgradeStartedDetail {
  /** bytes the relayed connection carried after the direct one was up */
  bytesAfterUpgrade: number
}

export interface DirectUpgradeEvents {
  /** an attempt began for a wsstar connection this node dialled */
  started: CustomEvent<DirectUpgradeStartedDetail>
  /** the WebRTC connection is up; new streams use it */
  direct: CustomEvent<DirectUpgradeDirectDetail>
  /** the attempt failed or timed out; the peer stays on the relayed connection */
  failed: CustomEvent<DirectUpgradeFailedDetail>
  /** the relayed connection was closed after the grace period */
  retired: CustomEvent<DirectUpgradeRetiredDetail>
}

export interface DirectUpgradeStats {
  attempted: number
  succeeded: number
  failed: number
  /**
   * payload bytes that went through the server on connections this node
   * tried to upgrade, after the attempt's outcome: during the grace period
   * and the streams' drain when it succeeded, until the connection closed
   * when it failed
   */
  relayBytesAfterUpgrade: number
}

/** A relayed connection whose attempt is over, and its byte count then. */
interface Settled {
  relayed: RelayedConnection
  bytesAtOutcome: number
}

export class DirectUpgrade extends TypedEventEmitter<DirectUpgradeEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@wsstar/direct-upgrade'
  readonly [serviceCapabilities]: string[] = ['@wsstar/direct-upgrade']

  readonly #components: DirectUpgradeComponents
  readonly #log: Logger
  readonly #enabled: boolean
  readonly #timeout: number
  readonly #grace: number
  readonly #attempts: number
  readonly #outcomes?: CounterGroup<'attempted' | 'succeeded' | 'failed'>
  readonly #relayBytes?: Counter
  /** peers with an attempt under way (by peer id string) */
  readonly #pending = new Set<string>()
  readonly #settled = new Map<Connection, Settled>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  #shutdown = new AbortController()
  #started = false
  readonly #stats: DirectUpgradeStats = { attempted: 0, succeeded: 0, failed: 0, relayBytesAfterUpgrade: 0 }

  constructor (components: DirectUpgradeComponents, init: DirectUpgradeInit = {}) {
    super()
    this.#components = components
    this.#log = components.logger.forComponent('libp2p:websocket-star:direct-upgrade')
    this.#enabled = init.enabled ?? true
    this.#timeout = nonNegative(init.timeout, DEFAULT_DIRECT_UPGRADE_TIMEOUT, 'timeout', 'directUpgrade')
    this.#grace = nonNegative(init.grace, DEFAULT_DIRECT_UPGRADE_GRACE, 'grace', 'directUpgrade')
    this.#attempts = Math.max(1, Math.floor(nonNegative(init.attempts, DEFAULT_DIRECT_UPGRADE_ATTEMPTS, 'attempts', 'directUpgrade')))
    this.#outcomes = components.metrics?.registerCounterGroup('wsstar_direct_upgrades_total', {
      label: 'outcome',
      help: 'Direct WebRTC upgrades of wsstar connections this node dialled, by outcome (attempted, succeeded, failed)'
    })
    this.#relayBytes = components.metrics?.registerCounter('wsstar_direct_upgrade_relay_bytes_total', {
      help: 'Payload bytes that stayed on the rendezvous server after an upgrade attempt ended (grace and drain after success, all of it after failure), counted when the relayed connection closes'
    })
  }

  isStarted (): boolean {
    return this.#started
  }

  start (): void {
    this.#shutdown = new AbortController()
    this.#components.events.addEventListener('connection:open', this.#onOpen)
    this.#components.events.addEventListener('connection:close', this.#onClose)
    this.#started = true
  }

  stop (): void {
    this.#started = false
    this.#components.events.removeEventListener('connection:open', this.#onOpen)
    this.#components.events.removeEventListener('connection:close', this.#onClose)
    this.#shutdown.abort()
    for (const timer of this.#timers) {
      clearTimeout(timer)
    }
    this.#timers.clear()
    this.#pending.clear()
    this.#settled.clear()
  }

  /** Counters since start; the same figures as the metrics. */
  stats (): DirectUpgradeStats {
    let openBytes = 0
    for (const { relayed, bytesAtOutcome } of this.#settled.values()) {
      openBytes += byteCount(relayed) - bytesAtOutcome
    }
    return { ...this.#stats, relayBytesAfterUpgrade: this.#stats.relayBytesAfterUpgrade + openBytes }
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const connection = evt.detail
    if (this.#isAnsweredUpgrade(connection)) {
      this.#probe(connection)
      return
    }
    // the dialling side upgrades, so two peers do not both dial WebRTC
    if (!this.#enabled || connection.direction !== 'outbound' || relayedConnectionOf(connection) == null) {
      return
    }
    const peer = connection.remotePeer
    const key = peer.toString()
    if (this.#pending.has(key) || this.#directConnection(peer) != null) {
      return
    }
    this.#pending.add(key)
    this.#upgrade(connection)
      .finally(() => { this.#pending.delete(key) })
      .catch(err => { this.#log.error('direct upgrade to %p - %e', peer, err) })
  }

  readonly #onClose = (evt: CustomEvent<Connection>): void => {
    const settled = this.#settled.get(evt.detail)
    if (settled == null) {
      return
    }
    this.#settled.delete(evt.detail)
    const bytes = byteCount(settled.relayed) - settled.bytesAtOutcome
    this.#stats.relayBytesAfterUpgrade += bytes
    this.#relayBytes?.increment(bytes)
  }

  async #upgrade (relayed: Connection): Promise<void> {
    const peer = relayed.remotePeer
    const started = Date.now()
    this.#stats.attempted++
    this.#outcomes?.increment({ attempted: true })
    this.#log('upgrading the relayed connection to %p', peer)
    this.safeDispatchEvent('started', { detail: { peer, relayed } })

    let direct: Connection
    try {
      direct = await this.#dialWithRetries(relayed)
    } catch (err: any) {
      this.#stats.failed++
      this.#outcomes?.increment({ failed: true })
      this.#settle(relayed)
      this.#log('direct upgrade to %p failed, staying relayed - %e', peer, err)
      this.safeDispatchEvent('failed', { detail: { peer, relayed, error: err } })
      return
    }

    this.#stats.succeeded++
    this.#outcomes?.increment({ succeeded: true })
    const retiring = this.#components.connectionManager.getConnections(peer)
      .filter(c => c.status === 'open' && relayedConnectionOf(c) != null)
    for (const c of retiring) {
      this.#settle(c)
    }
    this.#log('direct connection to %p is up after %d ms', peer, Date.now() - started)
    this.safeDispatchEvent('direct', { detail: { peer, relayed, direct, duration: Date.now() - started } })
    for (const c of retiring) {
      this.#retireAfterGrace(c, direct)
    }
  }

  async #dialWithRetries (relayed: Connection): Promise<Connection> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#dialDirect(relayed.remotePeer)
      } catch (err: any) {
        // a remote without the signalling protocol will not have it on the next try either
        const again = attempt < this.#attempts && this.#started && relayed.status === 'open' &&
          !(err instanceof DirectUpgradeUnavailableError) && err?.name !== 'UnsupportedProtocolError'
        if (!again) {
          throw err
        }
        this.#log('direct upgrade to %p, try %d of %d failed - %e', relayed.remotePeer, attempt, this.#attempts, err)
      }
    }
  }

  async #dialDirect (peer: PeerId): Promise<Connection> {
    const target = multiaddr(`/webrtc/p2p/${peer.toString()}`)
    if (this.#components.transportManager.dialTransportForMultiaddr(target) == null) {
      throw new DirectUpgradeUnavailableError()
    }
    const timeout = AbortSignal.timeout(this.#timeout)
    const signal = AbortSignal.any([timeout, this.#shutdown.signal])
    try {
      // the transport manager, not the connection manager: a dial through
      // the connection manager would join the dial queue's job for this peer
      // (which may be the wsstar dial itself) and return the existing connection
      return await this.#components.transportManager.dial(target, { signal })
    } catch (err: any) {
      if (timeout.aborted) {
        throw new DirectUpgradeTimeoutError(`no direct connection within ${this.#timeout} ms`, { cause: err })
      }
      throw err
    }
  }

  /** An inbound WebRTC connection from a peer this node has a relayed connection to. */
  #isAnsweredUpgrade (connection: Connection): boolean {
    return connection.direction === 'inbound' && relayedConnectionOf(connection) == null &&
      connection.remoteAddr.toString().includes('/webrtc') &&
      this.#components.connectionManager.getConnections(connection.remotePeer)
        .some(c => c.status === 'open' && relayedConnectionOf(c) != null)
  }

  /**
   * Opens a PROBE_PROTOCOL stream on `connection`; closes the connection
   * when no answer comes within the timeout (or the stream fails otherwise),
   * so the relayed connection takes this node's streams again.
   */
  #probe (connection: Connection): void {
    const signal = AbortSignal.any([AbortSignal.timeout(this.#timeout), this.#shutdown.signal])
    connection.newStream(PROBE_PROTOCOL, { signal })
      .then(stream => { stream.abort(new Error('probe done')) }, (err: any) => {
        if (err?.name === 'UnsupportedProtocolError' || connection.status !== 'open' || this.#shutdown.signal.aborted) {
          return
        }
        this.#log('inbound WebRTC connection from %p carries nothing, closing it - %e', connection.remotePeer, err)
        connection.abort(new DirectUpgradeTimeoutError(`the inbound WebRTC connection did not answer within ${this.#timeout} ms`, { cause: err }))
      })
      .catch(err => { this.#log.error('probing the inbound WebRTC connection from %p - %e', connection.remotePeer, err) })
  }

  #directConnection (peer: PeerId): Connection | undefined {
    return this.#components.connectionManager.getConnections(peer)
      .find(c => c.status === 'open' && c.limits == null && relayedConnectionOf(c) == null)
  }

  #settle (connection: Connection): void {
    const relayed = relayedConnectionOf(connection)
    if (relayed != null && !this.#settled.has(connection)) {
      this.#settled.set(connection, { relayed, bytesAtOutcome: byteCount(relayed) })
    }
  }

  /**
   * Closes `relayed` once the grace period is over and no stream is open on
   * it, unless the direct connection went away first: then the relayed one is
   * the fallback and stays.
   */
  #retireAfterGrace (relayed: Connection, direct: Connection): void {
    const check = (): void => {
      if (!this.#started || relayed.status !== 'open') {
        return
      }
      if (direct.status !== 'open') {
        this.#log('direct connection to %p closed before the relayed one was retired; keeping the relayed connection', relayed.remotePeer)
        return
      }
      if (relayed.streams.length > 0) {
        this.#later(check, IDLE_CHECK_INTERVAL)
        return
      }
      const settled = this.#settled.get(relayed)
      const bytesAfterUpgrade = settled == null ? 0 : byteCount(settled.relayed) - settled.bytesAtOutcome
      this.#log('retiring the relayed connection to %p', relayed.remotePeer)
      relayed.close({ signal: AbortSignal.timeout(Math.max(this.#grace, 1000)) })
        .catch(err => { relayed.abort(err) })
      this.safeDispatchEvent('retired', { detail: { peer: relayed.remotePeer, relayed, bytesAfterUpgrade } })
    }
    this.#later(check, this.#grace)
  }

  #later (fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      fn()
    }, ms)
    this.#timers.add(timer)
  }
}

function byteCount (relayed: RelayedConnection): number {
  return relayed.bytesSent + relayed.bytesReceived
}

/**
 * The direct-upgrade service, for `services: { directUpgrade: directUpgrade() }`.
 * The node also needs `webRTC()` (`@libp2p/webrtc`) in its transports, and
 * that transport's own service dependencies: `identify()` and
 * `circuitRelayTransport()` (`@libp2p/circuit-relay-v2`).
 */
export function directUpgrade (init: DirectUpgradeInit = {}): (components: DirectUpgradeComponents) => DirectUpgrade {
  return (components) => new DirectUpgrade(components, init)
}
