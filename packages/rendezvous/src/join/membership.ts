import { ErrorCode, Event, MAX_FRAME_BYTES, WsStarError } from '@wsstar/protocol'
import { LIMIT_NAMES } from '../limits.js'
import { DEFAULT_NAMESPACE, sameNamespaces } from '../discovery/peer-registry.js'
import type { Discovery } from '../discovery/discovery.js'
import type { NamespaceMembers } from '../discovery/namespace-members.js'
import type { HandshakeTimeout } from './handshake-timeout.js'
import type { RendezvousMetrics } from '../metrics/metrics.js'
import type { RendezvousLimits } from '../options.js'
import type { PeerRecord, PeerRegistry } from '../discovery/peer-registry.js'
import type { Relay } from '../relay/relay.js'
import type { Session } from '../session/session.js'
import type { JoinResult, WebSocketStarAddress, WireError } from '@wsstar/protocol'
import type { Logger } from 'pino'

/** socket.io room of all sockets with at least one registration: discovery deltas go here. */
export const REGISTERED_ROOM = 'wsstar:registered'

export interface MembershipInit {
  registry: PeerRegistry
  sessions: ReadonlyMap<string, Session>
  discovery: Discovery
  /** the local sockets of each named namespace */
  namespaces: NamespaceMembers
  relay: Relay
  limits: RendezvousLimits
  metrics: RendezvousMetrics
  logger: Logger
  /** the timer that disconnects a socket without registrations */
  handshakeTimeout: HandshakeTimeout
  /** cluster mode: per-peer rooms and evictions on other nodes */
  cluster?: MembershipCluster
  /** the server addresses a join answer names in `cluster` (this server's, and every replica's in a cluster) */
  servers(): string[]
}

/** What membership tells the cluster link (cluster mode only). */
export interface MembershipCluster {
  registered(session: Session, peerId: string): void
  unregistered(session: Session, peerId: string): void
  /** after the relay's: the dials of `peerId` on `session` that this node forwards for another replica end too */
  dropPeer(session: Session, peerId: string, toOthers: WireError, toSelf: WireError | null): void
  /** `previous` is held by another node: that node must evict it */
  evictRemote(previous: PeerRecord): void
}

const PEER_GONE = { code: ErrorCode.PEER_GONE, message: 'the other end left' }

/** the default namespace as a list, for the registrations that named none */
const DEFAULT_ONLY: readonly string[] = [DEFAULT_NAMESPACE]

function has (namespaces: readonly string[] | undefined, name: string): boolean {
  return namespaces == null ? name === DEFAULT_NAMESPACE : namespaces.includes(name)
}

/**
 * Who is registered where: adds and removes registrations in the registry
 * and on the sessions, keeps the discovery room, discovery deltas and the
 * handshake timer in step, and resets the dials of registrations that end.
 */
export class Membership {
  readonly #init: MembershipInit
  /** registrations held by sockets of this server */
  localPeers = 0
  #joinsInProgress = 0

  constructor (init: MembershipInit) {
    this.#init = init
  }

  /**
   * Registers a verified address for `session` in `namespaces` (undefined:
   * the default namespace); answers with the join result. A registration of
   * the same peer id, here or on another socket, is replaced, namespaces
   * included.
   */
  async register (session: Session, parsed: WebSocketStarAddress, namespaces?: readonly string[]): Promise<JoinResult> {
    const { registry, limits, discovery } = this.#init
    const peerId = parsed.peerId.toString()
    const address = parsed.address
    const current = session.addresses.get(peerId)
    const currentNamespaces = session.namespacesOf(peerId)
    const record: PeerRecord = { peerId, address, socketId: session.id }
    if (namespaces != null) {
      record.namespaces = namespaces
    }
    let previous
    if (current == null) {
      // reserve the slots synchronously, so concurrent joins cannot overshoot
      if (session.addresses.size + session.joinsInProgress >= limits.maxAddressesPerSocket) {
        throw this.#limit('maxAddressesPerSocket', `at most ${limits.maxAddressesPerSocket} addresses per socket`)
      }
      session.joinsInProgress++
      this.#joinsInProgress++
      try {
        if (this.localPeers + this.#joinsInProgress > limits.maxPeers || await registry.size() >= limits.maxPeers) {
          if (await registry.get(peerId) == null) {
            throw this.#limit('maxPeers', 'this server has reached its peer limit')
          }
        }
        previous = await registry.add(record)
      } finally {
        session.joinsInProgress--
        this.#joinsInProgress--
      }
    } else {
      previous = await registry.add(record)
    }
    if (!session.connected || session.addresses.get(peerId) !== current) {
      // the socket went away (its cleanup ran without this registration), or
      // a concurrent join/leave of the same peer on this socket won the race
      if (session.connected) {
        return await this.register(session, parsed, namespaces)
      }
      const holder = previous == null ? undefined : this.#init.sessions.get(previous.socketId)
      if (previous != null && holder !== session && holder?.connected === true && holder.addresses.has(peerId)) {
        // give the registration back to the socket that still holds it
        await registry.add(previous)
      } else {
        await registry.remove(peerId, session.id)
      }
      throw new WsStarError(ErrorCode.PEER_GONE, 'the socket disconnected during the join')
    }
    if (previous?.nodeId != null) {
      this.#init.cluster?.evictRemote(previous)
    } else if (previous != null && previous.socketId !== session.id) {
      this.evict(previous.socketId, peerId, address)
    }
    if (current == null) {
      this.localPeers++
    }
    if (current !== address || currentNamespaces !== namespaces) {
      session.addAddress(peerId, address, namespaces)
      if (currentNamespaces != null) {
        this.#init.namespaces.remove(session, currentNamespaces)
      }
      if (namespaces != null) {
        this.#init.namespaces.add(session, namespaces)
      }
      if (currentNamespaces == null && namespaces == null) {
        // the default namespace only, as before namespaces existed
        if (current != null) {
          discovery.left(current)
        }
        if (previous != null && previous.address !== address && previous.address !== current && previous.namespaces == null) {
          discovery.left(previous.address)
        }
        discovery.joined(address)
      } else {
        this.#announceMove(current, currentNamespaces, address, namespaces)
      }
      if (previous != null && previous.address !== current && (previous.namespaces != null || namespaces != null || currentNamespaces != null)) {
        this.#announceLeft(previous.address, previous.namespaces, address, namespaces)
      }
    }
    this.#init.handshakeTimeout.stop(session)
    void session.socket.join(REGISTERED_ROOM)
    this.#init.cluster?.registered(session, peerId)
    discovery.startResample(session)
    const peers = await discovery.sampleFor(session)
    return { peers, window: this.#init.relay.window, maxFrame: MAX_FRAME_BYTES, cluster: this.#init.servers() }
  }

  /**
   * Ends the registration of `peerId` on `session`: resets its dials (the
   * other ends get ERR_PEER_GONE, the session itself `toSelf`), announces it
   * as left. Resolves false when the session did not hold it.
   */
  async unregister (session: Session, peerId: string, toSelf: { code: ErrorCode, message: string } | null = PEER_GONE): Promise<boolean> {
    const namespaces = session.namespacesOf(peerId)
    const address = session.removeAddress(peerId)
    if (address == null) {
      return false
    }
    if (namespaces != null) {
      this.#init.namespaces.remove(session, namespaces)
    }
    this.localPeers--
    this.#init.cluster?.unregistered(session, peerId)
    this.#init.relay.dropPeer(session, peerId, PEER_GONE, toSelf)
    this.#init.cluster?.dropPeer(session, peerId, PEER_GONE, toSelf)
    for (const name of namespaces ?? DEFAULT_ONLY) {
      this.#init.discovery.left(address, name)
    }
    if (!session.registered && session.connected) {
      void session.socket.leave(REGISTERED_ROOM)
      this.#init.discovery.stopResample(session)
      this.#init.handshakeTimeout.start(session)
    }
    await this.#init.registry.remove(peerId, session.id)
    return true
  }

  /** A socket is gone: all its registrations end. */
  async unregisterAll (session: Session): Promise<void> {
    const ids = [...session.addresses.keys()]
    await Promise.all(ids.map(async peerId => this.unregister(session, peerId, null)))
  }

  /** The peer re-joined from another socket (of this node or, in a cluster, of another): the old socket loses it. */
  evict (socketId: string, peerId: string, newAddress?: string): void {
    const old = this.#init.sessions.get(socketId)
    if (old == null) {
      return
    }
    const namespaces = old.namespacesOf(peerId)
    const address = old.removeAddress(peerId)
    if (address == null) {
      return
    }
    if (namespaces != null) {
      this.#init.namespaces.remove(old, namespaces)
    }
    this.localPeers--
    this.#init.cluster?.unregistered(old, peerId)
    const replaced = { code: ErrorCode.REPLACED, message: 'this peer id joined from another connection' }
    this.#init.relay.dropPeer(old, peerId, PEER_GONE, replaced)
    this.#init.cluster?.dropPeer(old, peerId, PEER_GONE, replaced)
    if (old.connected) {
      old.socket.emit(Event.EVICTED, { address, ...replaced })
      if (!old.registered) {
        void old.socket.leave(REGISTERED_ROOM)
        this.#init.discovery.stopResample(old)
        this.#init.handshakeTimeout.start(old)
      }
    }
    this.#init.logger.debug({ peer: peerId, old: socketId, address: newAddress }, 'registration replaced')
  }

  /**
   * A registration of this socket changed address or namespaces (or is
   * new: `before` undefined): announced as left where it was and no longer
   * is, as joined where it is now and was not (both everywhere when the
   * address changed).
   */
  #announceMove (before: string | undefined, beforeNamespaces: readonly string[] | undefined, address: string, namespaces: readonly string[] | undefined): void {
    if (before != null) {
      this.#announceLeft(before, beforeNamespaces, address, namespaces)
    }
    for (const name of namespaces ?? DEFAULT_ONLY) {
      if (before !== address || !has(beforeNamespaces, name)) {
        this.#init.discovery.joined(address, name)
      }
    }
  }

  /** `old` (in `oldNamespaces`) is gone where the registration `address` (in `namespaces`) does not replace it. */
  #announceLeft (old: string, oldNamespaces: readonly string[] | undefined, address: string, namespaces: readonly string[] | undefined): void {
    if (old === address && sameNamespaces(oldNamespaces, namespaces)) {
      return
    }
    for (const name of oldNamespaces ?? DEFAULT_ONLY) {
      if (old !== address || !has(namespaces, name)) {
        this.#init.discovery.left(old, name)
      }
    }
  }

  #limit (key: keyof RendezvousLimits, message: string): WsStarError {
    this.#init.metrics.limitHit(LIMIT_NAMES[key])
    return new WsStarError(ErrorCode.LIMIT_EXCEEDED, message)
  }
}
