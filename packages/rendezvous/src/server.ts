import { ErrorCode, Event } from '@wsstar/protocol'
import { pino } from 'pino'
import { Admission } from './socket/admission.js'
import { Authorizer } from './auth/authorizer.js'
import { ClusterMode } from './cluster/cluster-mode.js'
import { withDebugInternals } from './http/debug-internals.js'
import { DialLimit, DialRouter } from './dial/dial-router.js'
import { Discovery } from './discovery/discovery.js'
import { NamespaceMembers } from './discovery/namespace-members.js'
import { HandshakeTimeout } from './join/handshake-timeout.js'
import { createHttpHandler } from './http/http-endpoints.js'
import { JoinChallengeStore } from './join/join-challenge-store.js'
import { JoinHandler } from './join/join-handler.js'
import { JoinServerRule } from './join/join-server-rule.js'
import { MemoryReclaim } from './runtime/memory-reclaim.js'
import { PeersBroadcast } from './discovery/peers-broadcast.js'
import { sendPeers } from './discovery/peers-frame.js'
import { ed25519Backend } from './join/ed25519-verify.js'
import { LegacyGateway } from './legacy/legacy-gateway.js'
import { adminListener, clientListener, closeNow, hostPort, listen } from './http/listeners.js'
import { LIMIT_NAMES, limitsByName } from './limits.js'
import { Membership, REGISTERED_ROOM } from './join/membership.js'
import { RendezvousMetrics } from './metrics/metrics.js'
import { resolveOptions } from './options.js'
import { InMemoryPeerRegistry } from './discovery/peer-registry.js'
import { Rejections } from './metrics/rejections.js'
import { topRelayingPeers } from './metrics/top-relaying-peers.js'
import { SignaturePool } from './join/signature-pool.js'
import { Relay } from './relay/relay.js'
import { serverAddresses } from './join/server-addresses.js'
import { handshakeProtocol } from './session/session.js'
import { SHUTTING_DOWN, ShutdownGuard } from './shutdown-guard.js'
import { SocketHandlers } from './socket/socket-handlers.js'
import { socketIoServer } from './socket/socket-io-server.js'
import { readTlsCredentials } from './http/tls-credentials.js'
import { terminateAll } from './internals/engine-io-internals.js'
import { releaseUpgradeRequest } from './session/upgrade-request.js'
import type { EngineConnection } from './socket/admission.js'
import type { DialInfo } from './dial/dial.js'
import type { ClusterStats } from './cluster/cluster-metrics.js'
import type { ClusterStatus, Health } from './http/http-endpoints.js'
import type { LegacyStats } from './legacy/legacy-gateway.js'
import type { DialScope, RendezvousLimits, RendezvousServerOptions, ResolvedOptions } from './options.js'
import type { PeerRegistry } from './discovery/peer-registry.js'
import type { Session } from './session/session.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Server as SocketIoServer, Socket } from 'socket.io'

/** Plain numbers describing the server right now (tests, debugging). */
export interface RendezvousStats {
  /** connected sockets */
  sockets: number
  /** registrations held by this server's sockets */
  peers: number
  /** dials, pending and open */
  dials: number
  pendingDials: number
  openDials: number
  /** join nonces issued and not yet used */
  pendingChallenges: number
  /** bytes in flight over all dials */
  dialInFlightBytes: number
  /** the most bytes ever in flight in one direction of one dial; never above the window */
  maxDialInFlight: number
  /** payload bytes relayed in data frames */
  relayedBytes: number
  uptimeMs: number
}

export interface RendezvousServer {
  /** Binds and starts serving. Resolves once listening. */
  start(): Promise<void>
  /**
   * Graceful stop: refuses new sockets, joins and dials (ERR_SHUTTING_DOWN),
   * sends `ss-shutdown` to everyone, lets open dials drain for up to the
   * shutdown grace with the listener still open (`/health` answers 503),
   * then closes the listener, disconnects everyone and closes. Idempotent.
   */
  stop(): Promise<void>
  /** the bound port (the configured one before start) */
  readonly port: number
  /**
   * the admin listener's bound port (metrics, status page, debug); undefined
   * without `adminPort`
   */
  readonly adminPort: number | undefined
  /** this server's websocket addresses, e.g. /ip4/127.0.0.1/tcp/13579/ws (empty before start) */
  readonly addresses: Multiaddr[]
  /** this server's own prom-client registry */
  readonly metrics: Registry
  readonly limits: Readonly<RendezvousLimits>
  /** which dials the server relays (`RendezvousServerOptions.dialScope`) */
  readonly dialScope: DialScope
  stats(): RendezvousStats
  /** A snapshot of one dial (tests, debugging). */
  inspectDial(dialId: string): DialInfo | undefined
  /**
   * Sets the relay rate of the socket of this server that holds `peerId`:
   * the payload bytes per second it may send over all its dials (0: no
   * limit), in place of `relayRate` (see `Session.setRelayRate`). False when
   * no socket of this server holds `peerId`.
   */
  setRelayRate(peerId: string, bytesPerSecond: number, burstBytes?: number): boolean
  /** legacy mode (websocket-star 0.10 clients): its numbers; undefined when legacy mode is off */
  legacyStats(): LegacyStats | undefined
  /**
   * Reads `tlsCert` / `tlsKey` again and serves the new certificate to new
   * connections; open ones keep theirs. Rejects (TlsCredentialsError) and
   * keeps the current certificate when the files are unusable.
   */
  reloadTls(): Promise<void>
  /**
   * Private servers: reads the token file (`auth.mode` token) or the allow
   * list (allow-list) again. Rejects (AuthFileError) and keeps the current
   * tokens or peer ids when the file is unusable. Nothing to do when open
   * or in hook mode.
   */
  reloadAuth(): Promise<void>
}

export function createRendezvousServer (options: RendezvousServerOptions = {}): RendezvousServer {
  return new WsStarRendezvousServer(options)
}

/** after the grace, connections that do not close by themselves are cut after this long */
const FORCE_CLOSE_MS = 1000

class WsStarRendezvousServer implements RendezvousServer {
  readonly #options: ResolvedOptions
  readonly #logger: Logger
  readonly #registry: PeerRegistry
  readonly #ownRegistry: boolean
  readonly #sessions = new Map<string, Session>()
  readonly #metrics: RendezvousMetrics
  readonly #rejections: Rejections
  readonly #challenges: JoinChallengeStore
  readonly #relay: Relay
  readonly #discovery: Discovery
  /** the local sockets of each named namespace */
  readonly #namespaces = new NamespaceMembers()
  readonly #membership: Membership
  readonly #handshakeTimeout: HandshakeTimeout
  readonly #joins: JoinHandler
  readonly #verifier: SignaturePool
  readonly #reclaim: MemoryReclaim
  readonly #peersBroadcast: PeersBroadcast
  readonly #dials: DialRouter
  readonly #sockets: SocketHandlers
  readonly #admission: Admission
  readonly #authorizer: Authorizer
  #http?: HttpServer
  /** the operator endpoints' own listener (adminPort) */
  #admin?: HttpServer
  #io?: SocketIoServer
  #port: number
  #adminPort: number | undefined
  #addresses: Multiaddr[] = []
  /** `#addresses` as strings: what a join answer names in `cluster` (standalone) */
  #ownServers: string[] = []
  #startedAt = 0
  #starting?: Promise<void>
  #stopping?: Promise<void>
  readonly #shutdown = new ShutdownGuard()
  /** cluster mode (options.cluster): Redis registry, sharded adapter, node-to-node link */
  readonly #cluster?: ClusterMode
  /** legacy mode: websocket-star 0.10 clients, a separate population */
  readonly #legacy?: LegacyGateway

  /**
   * Makes the parts in the order they depend on each other, each handed
   * what it uses; no closure here reaches a part made after it. What flows
   * back up (cluster messages to membership and discovery) is handed over
   * at start, when the link subscribes.
   */
  constructor (options: RendezvousServerOptions) {
    this.#options = resolveOptions(options)
    const { limits } = this.#options
    this.#port = this.#options.port
    this.#adminPort = this.#options.adminPort
    const logger = this.#logger = options.logger ?? pino({ name: 'wsstar-rendezvous' })
    const cluster = this.#cluster = options.cluster == null ? undefined : new ClusterMode(options.cluster, logger)
    this.#registry = options.registry ?? cluster?.registry ?? new InMemoryPeerRegistry()
    this.#ownRegistry = options.registry == null
    const metrics = this.#metrics = new RendezvousMetrics(limitsByName(limits, cluster?.limits))
    const rejections = this.#rejections = new Rejections(metrics, logger)
    const shutdown = this.#shutdown
    const authorizer = this.#authorizer = new Authorizer({ auth: this.#options.auth, limits, metrics, logger })
    const admission = this.#admission = new Admission({ limits, trustedProxies: this.#options.trustedProxies, shutdown, metrics, rejections, logger, authorizer })
    this.#challenges = new JoinChallengeStore({
      ttlMs: limits.challengeTtlMs,
      maxPerSocket: limits.maxPendingChallengesPerSocket,
      onLimit: () => { metrics.limitHit(LIMIT_NAMES.maxPendingChallengesPerSocket) }
    })
    const relay = this.#relay = new Relay({
      windowBytes: limits.windowBytes,
      maxSocketBufferedBytes: limits.maxSocketBufferedBytes,
      maxDialBytes: limits.maxDialBytes,
      maxDialDurationMs: limits.maxDialDurationMs,
      rejections,
      logger,
      onLimit: (limit) => { metrics.limitHit(limit) }
    })
    const dialLimit = new DialLimit(limits, metrics)
    const link = cluster?.link({ sessions: this.#sessions, relay, rejections, limits, shutdown, dialLimit })
    const namespaces = this.#namespaces
    const peersBroadcast = this.#peersBroadcast = new PeersBroadcast({
      members: () => this.#io?.of('/').adapter.rooms.get(REGISTERED_ROOM) ?? [],
      recipient: (id) => this.#sessions.get(id)
    })
    this.#discovery = new Discovery({
      registry: this.#registry,
      sampleSize: limits.sampleSize,
      intervalMs: limits.peersIntervalMs,
      batchMax: limits.peersBatchMax,
      resampleIntervalMs: limits.resampleIntervalMs,
      // one packet, encoded once, to every registered socket of this server, a
      // chunk per turn; in a cluster the other servers get it on the link and
      // send it to theirs the same way
      broadcast: (delta) => {
        peersBroadcast.send(delta)
        link?.publishPeers(delta)
      },
      // a named namespace's delta: to its sockets only, here and on the other replicas
      broadcastNamespace: (namespace, delta) => {
        peersBroadcast.sendTo(delta, namespaces.sessionsOf(namespace))
        link?.publishNamespacePeers(namespace, delta)
      },
      send: (session, delta) => {
        if (!session.holdDelta(delta)) {
          sendPeers(session.socket, delta)
        }
      },
      logger,
      onCapped: () => { metrics.limitHit(LIMIT_NAMES.peersBatchMax) }
    })
    this.#handshakeTimeout = new HandshakeTimeout({ timeoutMs: limits.handshakeTimeoutMs, metrics, logger })
    const membership = this.#membership = new Membership({
      cluster: link,
      registry: this.#registry,
      sessions: this.#sessions,
      discovery: this.#discovery,
      namespaces,
      relay,
      limits,
      metrics,
      logger,
      handshakeTimeout: this.#handshakeTimeout,
      servers: () => this.#servers()
    })
    const verifier = this.#verifier = new SignaturePool({ threads: limits.verifyThreads, logger })
    this.#reclaim = new MemoryReclaim({ quietMs: limits.reclaimQuietMs, minGrowthBytes: limits.reclaimMinGrowthBytes, logger })
    const joinServers = new JoinServerRule(this.#options.announce)
    this.#joins = new JoinHandler({
      challenge: this.#options.challenge,
      challenges: this.#challenges,
      membership,
      announce: this.#options.announce,
      servers: joinServers,
      maxAddressLength: limits.maxAddressLength,
      metrics,
      shutdown,
      verify: async (signature, message, publicKey) => await verifier.verify(signature, message, publicKey),
      verifyKey: async (publicKey, message, signature) => await verifier.verifyKey(publicKey, message, signature),
      maxPendingVerifications: limits.maxPendingVerifications,
      takeIpJoin: (session) => admission.takeJoin(session.socket.conn),
      ...(authorizer.private
        ? { authorize: async (session: Session, peerId: string, namespaces: readonly string[] | undefined) => await authorizer.admitJoin(session, peerId, admission.clientAddress(session.socket.conn), namespaces) }
        : {}),
      namespaceBounds: {
        maxNamespaces: limits.maxNamespaces,
        maxNamespaceLength: limits.maxNamespaceLength,
        onLimit: (bound) => { metrics.limitHit(LIMIT_NAMES[bound]) }
      }
    })
    const registry = this.#registry
    const legacy = this.#legacy = !this.#options.legacy
      ? undefined
      : new LegacyGateway({
        limits,
        logger,
        metrics,
        shutdown,
        servers: joinServers,
        isV2Peer: async (peerId) => (await registry.get(peerId)) != null,
        v2Peers: () => membership.localPeers,
        takeIpJoin: (socket) => admission.takeJoin(socket.conn)
      })
    this.#dials = new DialRouter({
      isLegacyPeer: legacy == null ? undefined : (peerId) => legacy.hasPeer(peerId),
      registry,
      sessions: this.#sessions,
      relay,
      limits,
      metrics,
      shutdown,
      cluster: link,
      dialLimit,
      dialScope: this.#options.dialScope
    })
    this.#sockets = new SocketHandlers({
      sessions: this.#sessions,
      limits,
      joins: this.#joins,
      dials: this.#dials,
      relay,
      membership,
      challenges: this.#challenges,
      discovery: this.#discovery,
      handshakeTimeout: this.#handshakeTimeout,
      cluster: link,
      metrics,
      rejections,
      logger
    })
    const challenges = this.#challenges
    const joins = this.#joins
    const reclaim = this.#reclaim
    metrics.observe({
      sockets: () => this.#sessions.size,
      peers: () => membership.localPeers,
      dialsOpen: () => relay.openCount,
      dialsPending: () => relay.pendingCount,
      pendingChallenges: () => challenges.size,
      inFlightBytes: () => relay.inFlightBytes,
      maxDialInFlight: () => relay.maxDialInFlight,
      relayedBytes: () => relay.relayedBytes,
      frames: () => ({ d: relay.dataFrames, c: relay.creditFrames, e: relay.endFrames }),
      sharedFrames: () => relay.heldFrames,
      verifier: () => ({ backend: ed25519Backend, batches: verifier.batches, restarts: verifier.failures, verified: verifier.verified, pending: joins.verifying }),
      memoryReclaim: () => reclaim.stats,
      clientIps: () => admission.clientIps,
      frameSizes: () => relay.frameSizes,
      namespaces: () => ({ count: namespaces.size, top: namespaces.top(limits.namespaceMetricsTop) })
    })
    cluster?.registerMetrics(metrics.registry)
  }

  get port (): number {
    return this.#port
  }

  get adminPort (): number | undefined {
    return this.#adminPort
  }

  get addresses (): Multiaddr[] {
    return [...this.#addresses]
  }

  get metrics (): Registry {
    return this.#metrics.registry
  }

  get limits (): Readonly<RendezvousLimits> {
    return this.#options.limits
  }

  get dialScope (): DialScope {
    return this.#options.dialScope
  }

  stats (): RendezvousStats {
    return {
      sockets: this.#sessions.size,
      peers: this.#membership.localPeers,
      dials: this.#relay.dials.size,
      pendingDials: this.#relay.pendingCount,
      openDials: this.#relay.openCount,
      pendingChallenges: this.#challenges.size,
      dialInFlightBytes: this.#relay.inFlightBytes,
      maxDialInFlight: this.#relay.maxDialInFlight,
      relayedBytes: this.#relay.relayedBytes,
      uptimeMs: this.#startedAt === 0 ? 0 : Date.now() - this.#startedAt
    }
  }

  inspectDial (dialId: string): DialInfo | undefined {
    return this.#relay.dials.get(dialId)?.inspect()
  }

  setRelayRate (peerId: string, bytesPerSecond: number, burstBytes?: number): boolean {
    for (const session of this.#sessions.values()) {
      if (session.peerIds.has(peerId)) {
        session.setRelayRate(bytesPerSecond, burstBytes)
        return true
      }
    }
    return false
  }

  legacyStats (): LegacyStats | undefined {
    return this.#legacy?.stats()
  }

  async reloadTls (): Promise<void> {
    const tls = this.#options.tls
    if (tls == null) {
      throw new Error('this server does not terminate TLS (no tlsCert / tlsKey)')
    }
    const credentials = await readTlsCredentials(tls)
    // before start() the files are read when the listener is created
    ;(this.#http as HttpsServer | undefined)?.setSecureContext(credentials)
    this.#logger.info({ cert: tls.cert }, 'TLS certificate reloaded')
  }

  async reloadAuth (): Promise<void> {
    await this.#authorizer.reload()
  }

  async start (): Promise<void> {
    if (this.#stopping != null) {
      throw new Error('this server was stopped; create a new one')
    }
    this.#starting ??= this.#start()
    await this.#starting
  }

  async stop (): Promise<void> {
    this.#stopping ??= this.#stop()
    await this.#stopping
  }

  // --- lifecycle ----------------------------------------------------------

  async #start (): Promise<void> {
    const { limits, host } = this.#options
    // a private server with an unusable token file or allow list does not start
    await this.#authorizer.load()
    if (this.#options.legacy && this.#authorizer.private && !this.#options.auth.allowLegacy) {
      this.#logger.warn('legacy mode on a private server: legacy clients are refused with ERR_UNAUTHORIZED (auth.allowLegacy, --auth-allow-legacy, admits them without credentials)')
    }
    this.#verifier.warm()
    const handler = this.#httpHandler(this.#options.publicAdmin)
    if (this.#options.exposeInternals) {
      this.#logger.warn('GET /debug/internals is exposed: for tests and debugging only')
    }
    if (this.#options.publicAdmin) {
      this.#logger.warn('the operator endpoints (/metrics, /status.json, status page) are served on the client port (publicAdmin)')
    }
    const tls = this.#options.tls
    const http = await clientListener(limits.handshakeTimeoutMs, tls, handler)
    // attach socket.io after our handler: it serves /socket.io/ and passes the rest on
    const io = socketIoServer(http, {
      limits,
      legacy: this.#options.legacy,
      adapter: this.#cluster?.adapter(),
      onEngineIo3Refused: () => { this.#rejections.count(ErrorCode.BAD_REQUEST, 'connect', undefined, 'Engine.IO 3 client: legacy mode is off') }
    })
    io.use((socket, next) => {
      this.#admission.admit(socket, this.#sessions.size + (this.#legacy?.sockets ?? 0), io.engine.clientsCount, next)
    })
    io.engine.on('connection', (conn: EngineConnection) => {
      // the client address comes from the upgrade request, which is released right after
      this.#admission.connected(conn)
      releaseUpgradeRequest(conn)
    })
    io.on('connection', (socket) => { this.#onConnection(socket) })
    io.engine.on('connection_error', (err: { code?: number, message?: string }) => {
      this.#logger.debug({ code: err.code, message: err.message }, 'engine.io connection error')
    })
    this.#http = http
    this.#io = io
    const membership = this.#membership
    const peersBroadcast = this.#peersBroadcast
    await this.#cluster?.start({
      evict: (socketId, peerId) => { membership.evict(socketId, peerId) },
      peers: (delta) => { peersBroadcast.send(delta) },
      namespacePeers: (namespace, delta) => { peersBroadcast.sendTo(delta, this.#namespaces.sessionsOf(namespace)) }
    })
    await listen(http, this.#options.port, host)
    http.on('error', (err) => { this.#logger.error({ err }, 'http server error') })
    this.#port = (http.address() as AddressInfo).port
    if (this.#options.adminPort != null) {
      const admin = adminListener(this.#httpHandler(true))
      this.#admin = admin
      await listen(admin, this.#options.adminPort, this.#options.adminHost)
      admin.on('error', (err) => { this.#logger.error({ err }, 'admin http server error') })
      this.#adminPort = (admin.address() as AddressInfo).port
    }
    this.#addresses = serverAddresses(host, this.#port, this.#options.announce, tls != null)
    this.#ownServers = this.#addresses.map(a => a.toString())
    await this.#cluster?.describe(() => ({ addresses: this.#ownServers, peers: this.#membership.localPeers }), (cluster) => {
      // a replica came or went (rare): the registered sockets learn the new list
      this.#io?.local.to(REGISTERED_ROOM).emit(Event.CLUSTER, { cluster })
    })
    this.#startedAt = Date.now()
    this.#reclaim.start()
    if (!this.#options.challenge) {
      this.#logger.warn('the join challenge is OFF: anyone can register any peer id. Use this only in trusted test setups')
    }
    if (this.#options.announce.length === 0 && !isLoopback(host)) {
      this.#logger.warn('no --announce: joins are checked against the Host header the client sent, which a relaying server can write; announce the public address(es) of a public server')
    }
    this.#admission.readOpenFileLimit()
    const admin = this.#admin == null ? undefined : `http://${hostPort(this.#options.adminHost, this.#adminPort ?? 0)}/`
    // what a client puts in its listen addresses, ready to copy
    const clientAddresses = this.#addresses.map(a => `${a.toString()}/p2p-websocket-star`)
    this.#logger.info({ port: this.#port, host, tls: tls != null, addresses: clientAddresses, admin, ed25519: ed25519Backend, verifyThreads: this.#verifier.threads },
      `wsstar rendezvous listening on ${clientAddresses.join(', ')}`)
    this.#logger.info({ admin },
      admin == null
        ? 'operator endpoints (/metrics, status page) off: --admin-port serves them on 127.0.0.1'
        : `operator endpoints: ${admin}metrics, status page ${admin}`)
  }

  /** the HTTP handler of the client port (operator: with publicAdmin) or of the admin listener */
  #httpHandler (operator: boolean): (req: IncomingMessage, res: ServerResponse) => void {
    const handler = createHttpHandler({
      health: () => this.#health(),
      topRelaying: () => topRelayingPeers(this.#sessions.values()),
      topRelayingTokens: () => this.#authorizer.topRelayingTokens(),
      metrics: this.#metrics.registry,
      ...(this.#cluster == null ? {} : { cluster: () => clusterStatus((this.#cluster as ClusterMode).stats()) }),
      operator,
      onError: (err) => { this.#logger.warn({ err }, 'metrics collection failed') }
    })
    return operator && this.#options.exposeInternals ? withDebugInternals(handler, () => this.#internals()) : handler
  }

  async #stop (): Promise<void> {
    this.#shutdown.begin()
    this.#reclaim.stop()
    if (this.#starting != null) {
      await this.#starting.catch(() => {})
    }
    const http = this.#http
    const io = this.#io
    if (http == null || io == null) {
      await closeNow(this.#admin)
      this.#discovery.stop()
      await this.#verifier.close()
      await this.#cluster?.close()
      return
    }
    const graceMs = this.#options.limits.shutdownGraceMs
    this.#logger.info({ graceMs, dials: this.#relay.dials.size }, 'stopping')
    // local: in a cluster the adapter would reach the sockets of every node
    io.local.emit(Event.SHUTDOWN, { ...SHUTTING_DOWN, graceMs })
    // the listener stays open while dials drain: /health answers 503, so a load balancer
    // takes this node out of rotation on its own checks, and new sockets are refused
    // with ERR_SHUTTING_DOWN rather than by a closed port
    if (this.#relay.dials.size > 0 && graceMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        this.#relay.whenIdle(),
        new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })
      ])
      clearTimeout(timer)
    }
    // stop accepting connections now; resolves once every connection is gone
    const httpClosed = new Promise<void>(resolve => { http.close(() => { resolve() }) })
    http.closeIdleConnections()
    this.#discovery.stop()
    this.#peersBroadcast.stop()
    this.#legacy?.stop()
    io.local.disconnectSockets(true)
    void io.close().catch(() => {})
    const force = setTimeout(() => {
      terminateAll(io.engine)
      http.closeAllConnections()
    }, FORCE_CLOSE_MS)
    await httpClosed
    clearTimeout(force)
    // the admin listener outlives the client port, so metrics cover the drain
    await closeNow(this.#admin)
    await this.#sockets.settled()
    await this.#verifier.close()
    this.#challenges.clear()
    if (this.#ownRegistry) {
      await this.#registry.close?.()
    }
    await this.#cluster?.close()
    this.#logger.info('stopped')
  }

  /** The servers a join answer names: every replica's in a cluster (as each announces itself), else this one's. */
  #servers (): string[] {
    const cluster = this.#cluster?.addresses
    return cluster != null && cluster.length > 0 ? cluster : this.#ownServers
  }

  #health (): Health {
    return {
      // a replica without Redis cannot find or reach the rest of the cluster: a balancer stops sending it peers
      status: this.#shutdown.stopping ? 'stopping' : this.#cluster?.degraded === true ? 'degraded' : 'ok',
      peers: this.#membership.localPeers,
      sockets: this.#sessions.size,
      dials: this.#relay.dials.size,
      uptime: this.#startedAt === 0 ? 0 : (Date.now() - this.#startedAt) / 1000
    }
  }

  /** Internal counts for `GET /debug/internals` (leak tests): each returns to its idle value when clients leave. */
  #internals (): Record<string, number> {
    const io = this.#io
    const http = this.#http
    let handshakeTimers = 0
    let resampleTimers = 0
    let sessionDials = 0
    let sessionAddresses = 0
    for (const session of this.#sessions.values()) {
      if (session.handshakeTimer != null) handshakeTimers++
      if (session.resampleTimer != null) resampleTimers++
      sessionDials += session.dials.size
      sessionAddresses += session.addresses.size
    }
    const listeners = (emitter: { eventNames(): Array<string | symbol>, listenerCount(name: string | symbol): number } | undefined): number =>
      emitter == null ? 0 : emitter.eventNames().reduce((sum, name) => sum + emitter.listenerCount(name), 0)
    return {
      sessions: this.#sessions.size,
      sessionAddresses,
      sessionDials,
      handshakeTimers,
      resampleTimers,
      localPeers: this.#membership.localPeers,
      registryPeers: this.#registry instanceof InMemoryPeerRegistry ? this.#registry.count : -1,
      dials: this.#relay.dials.size,
      pendingDials: this.#relay.pendingCount,
      heldDials: this.#relay.heldCount,
      dialInFlightBytes: this.#relay.inFlightBytes,
      challenges: this.#challenges.size,
      clientIps: this.#admission.clientIps,
      discoveryPending: this.#discovery.pending,
      cleanups: this.#sockets.cleanups,
      engineClients: io?.engine.clientsCount ?? 0,
      ioSockets: io?.of('/').sockets.size ?? 0,
      rooms: io?.of('/').adapter.rooms.size ?? 0,
      registeredRoom: io?.of('/').adapter.rooms.get(REGISTERED_ROOM)?.size ?? 0,
      httpListeners: listeners(http),
      engineListeners: listeners(io?.engine),
      ioListeners: listeners(io?.of('/')),
      processListeners: listeners(process)
    }
  }

  // --- per socket -----------------------------------------------------------

  #onConnection (socket: Socket): void {
    if (this.#legacy != null && handshakeProtocol(socket) === 'legacy') {
      this.#legacy.attach(socket)
    } else {
      this.#sockets.attach(socket)
    }
  }
}

/** The cluster as `/status.json` shows it: this replica's view of every replica. */
function clusterStatus (stats: ClusterStats): ClusterStatus {
  return {
    nodeId: stats.nodeId,
    redis: stats.redisUp ? 'up' : 'down',
    replicas: stats.nodes.map(node => ({ ...node, self: node.nodeId === stats.nodeId }))
  }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}
