import { TypedEventEmitter } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  DEFAULT_WINDOW_BYTES, EndKind, ErrorCode, Event, MAX_FRAME_BYTES, PROTOCOL_VERSION, WsStarError,
  isAck, parseClusterUpdate, parseDialAck, parseDialId, parsePeerAddress, parsePeersDelta, peerAddress, sameServer
} from '@wsstar/protocol'
import { io } from 'socket.io-client'
import { raceAbort, raceDeadline } from './abort.js'
import { backoffDelay } from './backoff.js'
import { DialDispatcher } from './dial-dispatcher.js'
import {
  DialTimeoutError, NotRegisteredError, RendezvousProtocolError, RequestTimeoutError,
  ServerShuttingDownError, ServerUnavailableError, UnauthorizedError, errorFromWire
} from './errors.js'
import { joinServer } from './join-client.js'
import { RelayedConnection } from './relayed-connection.js'
import type { WebSocketStarMetrics } from './transport-metrics.js'
import type { ResolvedOptions } from './options.js'
import type { FrameChannel } from './relayed-connection.js'
import type { ComponentLogger, Logger, MessageStreamDirection, PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeersDelta, WebSocketStarAddress } from '@wsstar/protocol'
import type { Socket } from 'socket.io-client'

/**
 * Where a server connection is:
 * - `idle`: created, not started
 * - `connecting`: opening the socket
 * - `joining`: socket open, join hello sent
 * - `challenged`: the server sent its nonce, signing and proving
 * - `registered`: joined; dials and discovery work
 * - `reconnecting`: lost or failed, waiting for the next attempt (backoff)
 * - `evicted`: the same peer id joined from another socket; not retried
 *   until this socket drops
 * - `closed`: closed for good (also when a private server refused this
 *   node: `UnauthorizedError`, never retried)
 */
export type ServerStatus = 'idle' | 'connecting' | 'joining' | 'challenged' | 'registered' | 'reconnecting' | 'evicted' | 'closed'

export interface ServerStatusDetail {
  /** socket.io URL of the server */
  server: string
  /** our peer address on that server */
  address: string
  status: ServerStatus
  /** why we are reconnecting, evicted or closed */
  error?: Error
  /** `reconnecting`: ms until the next attempt */
  delay?: number
  /** `reconnecting`: how many attempts failed in a row */
  attempt?: number
}

export interface ServerConnectionEvents {
  status: CustomEvent<ServerStatusDetail>
}

/** A listener that takes inbound relayed connections from a server connection. */
export interface IncomingDialHandler {
  onIncomingDial(maConn: RelayedConnection): void
}

export interface ServerConnectionInit {
  /** the server multiaddr (part before `/p2p-websocket-star`) */
  server: Multiaddr
  url: string
  peerId: PeerId
  privateKey: PrivateKey
  logger: ComponentLogger
  /** what the transport reports through the node's metrics */
  metrics: WebSocketStarMetrics
  options: ResolvedOptions
  /** discovery input: addresses the server announced joined or left */
  onPeers(connection: ServerConnection, joined: string[], left: string[]): void
  /** the connection closed for good; the pool forgets it */
  onClosed(connection: ServerConnection): void
}

export interface OpenDialOptions {
  signal?: AbortSignal
  onDialSent?(): void
}

/** Leave is a courtesy (a disconnect is a leave too): do not hold `close()` up for it. */
const LEAVE_TIMEOUT = 500

/**
 * `ws-peers` deltas kept while the join is under way. The join answer and
 * the next delta can arrive in one read (and an older server may even send
 * the delta first); a join sees a handful at most, the bound only stops a
 * server from filling the client's memory with deltas it never lets us apply.
 */
const MAX_HELD_DELTAS = 16

/**
 * One socket.io connection to one rendezvous server, shared by the listener
 * on that server, the dials through it and discovery. It registers the
 * node's peer address (two-step join challenge), keeps it registered
 * (reconnects with exponential backoff + jitter, forever, while a listener
 * wants it; re-runs the challenge each time), routes data-plane frames
 * through one dispatcher, and hands inbound dials to the listener.
 *
 * Without a listener (a node dialing through a server it does not listen
 * on) the registration is transient: it exists while relayed connections
 * use it, plus `transientLinger`, is not retried when lost, and refuses
 * inbound dials.
 */
export class ServerConnection extends TypedEventEmitter<ServerConnectionEvents> implements FrameChannel {
  readonly url: string
  readonly server: Multiaddr
  /** our canonical peer address on this server, as registered */
  readonly address: string
  /** the listen address libp2p knows us by on this server (without our /p2p) */
  readonly listenAddr: Multiaddr
  status: ServerStatus = 'idle'
  /** per-direction credit window the server enforces */
  window = DEFAULT_WINDOW_BYTES
  maxFrame = MAX_FRAME_BYTES
  lastError?: Error
  /**
   * the servers this one relays dials to, as its last join answer named
   * them (`cluster`): itself and, in a cluster, every replica. A peer on
   * any of them is dialled through this socket.
   */
  cluster: Multiaddr[] = []

  readonly #init: ServerConnectionInit
  readonly #options: ResolvedOptions
  readonly #log: Logger
  readonly #dispatcher: DialDispatcher
  readonly #handlers = new Set<IncomingDialHandler>()
  readonly #pending = new Set<(err: Error) => void>()
  #socket?: Socket
  #refs = 0
  #attempt = 0
  #session = 0
  #shuttingDown = false
  #retryTimer?: ReturnType<typeof setTimeout>
  #lingerTimer?: ReturnType<typeof setTimeout>
  /** why we dropped the socket ourselves (a failed join), reported by the retry */
  #retryError?: Error
  /** `ws-peers` that arrived during the current join, applied right after its sample */
  #heldDeltas: PeersDelta[] = []

  constructor (init: ServerConnectionInit) {
    super()
    this.#init = init
    this.#options = init.options
    this.url = init.url
    this.server = init.server
    this.address = peerAddress(multiaddr(`${init.server.toString()}/p2p-websocket-star`), init.peerId).toString()
    this.listenAddr = multiaddr(`${init.server.toString()}/p2p-websocket-star`)
    this.#log = init.logger.forComponent('libp2p:websocket-star:server')
    this.#dispatcher = new DialDispatcher(this.#log, (dialId) => {
      this.sendFrame(Event.END, dialId, EndKind.RESET)
    }, (bytes) => { init.metrics.receivedBytes += bytes })
  }

  get registered (): boolean {
    return this.status === 'registered'
  }

  /** relayed connections currently routed over this socket */
  get dials (): number {
    return this.#dispatcher.size
  }

  /** true while a listener keeps this registration alive (and reconnecting) */
  get listening (): boolean {
    return this.#handlers.size > 0
  }

  /** True when this connection's server relays dials to peers on `server` (it is `server`, or its join answer named it). */
  relaysTo (server: Multiaddr): boolean {
    return sameServer(this.server, server) || this.cluster.some(s => sameServer(s, server))
  }

  /** The socket.io socket (for diagnostics and tests). */
  get socket (): Socket | undefined {
    return this.#socket
  }

  // --- users -------------------------------------------------------------

  addHandler (handler: IncomingDialHandler): void {
    this.#handlers.add(handler)
    this.#clearLinger()
    this.#start()
  }

  /** Returns true when nothing uses this connection any more. */
  removeHandler (handler: IncomingDialHandler): boolean {
    this.#handlers.delete(handler)
    return this.#unused()
  }

  #unused (): boolean {
    return this.#handlers.size === 0 && this.#refs === 0
  }

  #acquire (): void {
    this.#refs++
    this.#clearLinger()
  }

  #release (): void {
    this.#refs = Math.max(0, this.#refs - 1)
    if (this.#unused() && this.status !== 'closed' && this.#lingerTimer == null) {
      this.#lingerTimer = setTimeout(() => {
        this.#lingerTimer = undefined
        if (this.#unused()) {
          void this.close()
        }
      }, this.#options.transientLinger)
    }
  }

  #clearLinger (): void {
    if (this.#lingerTimer != null) {
      clearTimeout(this.#lingerTimer)
      this.#lingerTimer = undefined
    }
  }

  // --- lifecycle ---------------------------------------------------------

  #setStatus (status: ServerStatus, extra: Partial<ServerStatusDetail> = {}): void {
    this.status = status
    this.#init.metrics.event(`server_${status}`)
    if (extra.error != null) {
      this.lastError = extra.error
    }
    this.#log('%s %s%s', this.url, status, extra.error != null ? ` - ${extra.error.message}` : '')
    this.safeDispatchEvent('status', {
      detail: { server: this.url, address: this.address, status, ...extra }
    })
  }

  #start (): void {
    if (this.status === 'idle') {
      this.#connect()
    }
  }

  #connect (): void {
    if (this.status === 'closed') {
      return
    }
    this.#setStatus('connecting')
    const socket = this.#socket ?? this.#createSocket()
    const token = this.#options.token
    if (typeof token !== 'function') {
      socket.connect()
      return
    }
    // a token that rotates: asked for before each attempt
    void Promise.resolve().then(token).then(value => {
      if (this.status !== 'connecting') {
        return
      }
      socket.auth = { protocol: PROTOCOL_VERSION, token: value }
      socket.connect()
    }, (err: Error) => {
      if (this.status === 'connecting') {
        this.#retry(new Error(`the token function failed: ${err?.message ?? String(err)}`, { cause: err }))
      }
    })
  }

  #createSocket (): Socket {
    const token = this.#options.token
    const socket = io(this.url, {
      transports: ['websocket'],
      auth: typeof token === 'string' ? { protocol: PROTOCOL_VERSION, token } : { protocol: PROTOCOL_VERSION },
      // reconnection is ours: backoff + jitter, a fresh join each time, and
      // also after the server kicked us (socket.io does not retry that case)
      reconnection: false,
      autoConnect: false,
      forceNew: true,
      timeout: this.#options.connectTimeout
    })
    socket.on('connect', () => { this.#onConnect() })
    socket.on('connect_error', (err: Error & { data?: unknown }) => { this.#onConnectError(err) })
    socket.on('disconnect', (reason: string) => { this.#onDisconnect(reason) })
    socket.on(Event.PEERS, (payload: unknown) => { this.#onPeers(payload) })
    socket.on(Event.CLUSTER, (payload: unknown) => { this.#onCluster(payload) })
    socket.on(Event.INCOMING, (dialId: unknown, from: unknown, ack: unknown) => { this.#onIncoming(dialId, from, ack) })
    socket.on(Event.EVICTED, (payload: unknown) => { this.#onEvicted(payload) })
    socket.on(Event.SHUTDOWN, (payload: unknown) => { this.#onShutdown(payload) })
    this.#dispatcher.attach(socket)
    this.#socket = socket
    return socket
  }

  #onConnect (): void {
    const session = ++this.#session
    this.#shuttingDown = false
    this.#heldDeltas = []
    this.#setStatus('joining')
    joinServer({
      request: async (event, args) => raceDeadline(this.#request(event, args), this.#options.joinTimeout, () => new RequestTimeoutError(`no answer to ${event} within ${this.#options.joinTimeout} ms`)),
      address: this.address,
      peerId: this.#init.peerId,
      privateKey: this.#init.privateKey,
      challenge: this.#options.challenge,
      namespaces: this.#options.namespaces,
      socketId: this.#socket?.id,
      onChallenged: () => {
        if (session === this.#session) {
          this.#setStatus('challenged')
        }
      }
    })
      .then(result => {
        if (session !== this.#session || this.status === 'closed') {
          return
        }
        this.window = result.window
        this.maxFrame = result.maxFrame
        this.cluster = (result.cluster ?? []).map(server => multiaddr(server))
        this.#attempt = 0
        this.#setStatus('registered')
        const held = this.#heldDeltas
        this.#heldDeltas = []
        // in the order they came: the sample, then what changed since
        this.#peers(result.peers, [])
        for (const delta of held) {
          this.#peers(delta.joined, delta.left)
        }
      }, (err: Error) => {
        // a join of an earlier connection can fail late (its signature came
        // back after a reconnect): what is held belongs to the current one
        if (session !== this.#session || this.status === 'closed') {
          return
        }
        this.#heldDeltas = []
        if (err instanceof UnauthorizedError) {
          this.#refused(err)
          return
        }
        this.#log.error('join at %s failed - %e', this.url, err)
        this.lastError = err
        // drop the socket; onDisconnect schedules the retry with this error
        this.#retryError = err
        this.#socket?.disconnect()
      })
  }

  #onConnectError (err: Error & { data?: unknown }): void {
    if (this.status === 'closed') {
      return
    }
    // a server that refuses the socket says why in the connect error's data
    const refusal = err.data != null && typeof err.data === 'object' ? errorFromWire(err.data) : undefined
    if (refusal instanceof UnauthorizedError) {
      this.#refused(refusal)
      return
    }
    this.#retry(new ServerUnavailableError(`cannot connect to ${this.url}: ${err.message}`))
  }

  /** A private server does not admit this node: the same credentials get the same answer, so no retry. */
  #refused (err: UnauthorizedError): void {
    const error = new UnauthorizedError(`${this.url} does not admit this node: ${err.message}`)
    this.#log.error('%s refused this node (not retried) - %s', this.url, err.message)
    void this.close(error)
  }

  #onDisconnect (reason: string): void {
    this.#session++
    this.#heldDeltas = []
    const error = this.#retryError ?? new ServerUnavailableError(`connection to ${this.url} lost (${reason})`)
    this.#retryError = undefined
    for (const reject of this.#pending) {
      reject(error)
    }
    this.#pending.clear()
    if (this.#socket != null) {
      // never replay frames queued while disconnected into a new session
      this.#socket.sendBuffer = []
    }
    this.#loseDials(error, false)
    if (this.status === 'closed') {
      return
    }
    this.#retry(error)
  }

  #retry (error: Error): void {
    if (this.status === 'closed') {
      return
    }
    if (!this.listening) {
      // transient registrations are not kept alive
      void this.close(error)
      return
    }
    const attempt = this.#attempt++
    const delay = backoffDelay(attempt, this.#options.reconnect)
    this.#setStatus('reconnecting', { error, delay, attempt: attempt + 1 })
    if (this.#retryTimer != null) {
      clearTimeout(this.#retryTimer)
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#connect()
    }, delay)
  }

  /** Closes for good: resets our dials, leaves, disconnects. */
  async close (error?: Error): Promise<void> {
    if (this.status === 'closed') {
      return
    }
    const wasRegistered = this.status === 'registered'
    this.#clearLinger()
    if (this.#retryTimer != null) {
      clearTimeout(this.#retryTimer)
      this.#retryTimer = undefined
    }
    this.#session++
    this.#setStatus('closed', error != null ? { error } : {})
    const socket = this.#socket
    this.#loseDials(error ?? new ServerUnavailableError('the connection to the rendezvous server was closed'), true)
    if (socket?.connected === true && wasRegistered) {
      await raceDeadline(this.#request(Event.LEAVE, [this.address]), LEAVE_TIMEOUT, () => new RequestTimeoutError())
        .catch((err: Error) => { this.#log('leave at %s - %e', this.url, err) })
    }
    socket?.disconnect()
    socket?.removeAllListeners()
    this.#init.onClosed(this)
  }

  // --- requests ----------------------------------------------------------

  /** Emits `event` with an ack; rejects when the socket drops before the answer. */
  /** `onResult` runs inside the ack callback, before anything awaiting the answer can run. */
  async #request (event: string, args: unknown[], onResult?: (result: unknown) => void): Promise<unknown> {
    const socket = this.#socket
    if (socket?.connected !== true) {
      throw new ServerUnavailableError(`not connected to ${this.url}`)
    }
    return new Promise((resolve, reject) => {
      const pending = (err: Error): void => { reject(err) }
      this.#pending.add(pending)
      socket.emit(event, ...args, (err: unknown, result: unknown) => {
        this.#pending.delete(pending)
        if (err != null) {
          reject(errorFromWire(err))
        } else {
          onResult?.(result)
          resolve(result)
        }
      })
    })
  }

  sendFrame (event: string, ...args: unknown[]): void {
    const socket = this.#socket
    if (socket?.connected !== true) {
      throw new ServerUnavailableError(`not connected to ${this.url}`)
    }
    socket.emit(event, ...args)
    if (event === Event.DATA) {
      this.#init.metrics.sentBytes += (args[1] as Uint8Array).byteLength
    }
  }

  /** Every dial on this socket is gone: the socket dropped, we were evicted, or we are closing. */
  #loseDials (err: Error, local: boolean): void {
    for (const [dialId, dial] of this.#dispatcher.entries()) {
      try {
        dial.onTransportLost(err, local)
      } catch (e) {
        this.#log.error('error while ending dial %s - %e', dialId, e)
      }
      // normally done by the dial itself; never leave an entry or a reference behind
      this.endDial(dialId)
    }
  }

  endDial (dialId: string): void {
    if (this.#dispatcher.delete(dialId)) {
      this.#release()
    }
  }

  // --- registration ------------------------------------------------------

  /**
   * Resolves once registered. Starts a transient connection; waits while a
   * connection attempt or join is under way; fails fast when the server is
   * unreachable (the listener's reconnect loop is waiting out its backoff),
   * shutting down, or has evicted us.
   */
  async whenRegistered (signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.#shuttingDown) {
      throw new ServerShuttingDownError(`${this.url} is shutting down`)
    }
    this.#start()
    const immediate = this.#registrationError()
    if (immediate === null) {
      return
    }
    if (immediate != null) {
      throw immediate
    }
    let onStatus: ((evt: CustomEvent<ServerStatusDetail>) => void) | undefined
    const settled = new Promise<void>((resolve, reject) => {
      onStatus = () => {
        const err = this.#registrationError()
        if (err === null) {
          resolve()
        } else if (err != null) {
          reject(err)
        }
      }
      this.addEventListener('status', onStatus)
    })
    try {
      await raceAbort(settled, signal)
    } finally {
      if (onStatus != null) {
        this.removeEventListener('status', onStatus)
      }
    }
  }

  /** null: registered; undefined: still trying; Error: not going to be registered soon */
  #registrationError (): Error | null | undefined {
    switch (this.status) {
      case 'registered':
        return null
      case 'reconnecting':
        return new ServerUnavailableError(`${this.url} is not reachable (retrying): ${this.lastError?.message ?? 'unknown error'}`)
      case 'evicted':
        return new NotRegisteredError(`this peer id was registered at ${this.url} from another connection`)
      case 'closed':
        return this.lastError ?? new ServerUnavailableError(`the connection to ${this.url} is closed`)
      default:
        return undefined
    }
  }

  // --- dials -------------------------------------------------------------

  /**
   * Asks the server for a relayed connection to `target` and returns it once
   * the callee accepted. If the caller gives up (abort, timeout) after the
   * server may have created the dial, the dial is reset as soon as its id
   * arrives, so the server forgets it.
   */
  async openDial (target: WebSocketStarAddress, options: OpenDialOptions = {}): Promise<RelayedConnection> {
    const { signal } = options
    this.#acquire()
    try {
      await this.whenRegistered(signal)
      options.onDialSent?.()
      // the callee's first frames come right behind the ack, in the same tick: hold them for the dial
      const answer = this.#request(Event.DIAL, [this.address, target.address], (result) => {
        try {
          this.#dispatcher.expect(parseDialAck(result).dialId)
        } catch {
          // a malformed answer: reported where the answer is awaited, below
        }
      })
      let value: unknown
      try {
        value = await raceDeadline(answer, this.#options.dialTimeout, () => new DialTimeoutError(`no answer from ${this.url} within ${this.#options.dialTimeout} ms`), signal)
      } catch (err) {
        // a late dial id is reset as soon as it arrives
        answer.then(late => { this.#resetLateDial(late) }, () => {})
        throw err
      }
      let dialId: string
      try {
        dialId = parseDialAck(value).dialId
      } catch (err: any) {
        throw new RendezvousProtocolError(err?.code ?? ErrorCode.BAD_REQUEST, `malformed dial answer: ${err?.message ?? ''}`)
      }
      if (signal?.aborted === true) {
        this.#resetLateDial(value)
        signal.throwIfAborted()
      }
      return this.#createConnection(dialId, target.multiaddr, 'outbound')
    } finally {
      // the connection (if any) holds its own reference
      this.#release()
    }
  }

  #resetLateDial (value: unknown): void {
    try {
      const { dialId } = parseDialAck(value)
      this.#dispatcher.unexpect(dialId)
      this.#log('resetting dial %s that completed after the caller gave up', dialId)
      this.sendFrame(Event.END, dialId, EndKind.RESET)
    } catch {
      // no dial id in it, or not connected (the server drops the socket's dials): nothing to reset
    }
  }

  #createConnection (dialId: string, remoteAddr: Multiaddr, direction: MessageStreamDirection): RelayedConnection {
    const maConn = new RelayedConnection({
      dialId,
      remoteAddr,
      direction,
      channel: this,
      window: this.window,
      maxFrame: this.maxFrame,
      closeTimeout: this.#options.closeTimeout,
      log: this.#init.logger.forComponent(`libp2p:websocket-star:connection`)
    })
    this.#dispatcher.add(dialId, maConn)
    this.#acquire()
    return maConn
  }

  // --- server events -----------------------------------------------------

  #onIncoming (dialId: unknown, from: unknown, ack: unknown): void {
    if (!isAck(ack)) {
      return
    }
    let id: string
    let caller: WebSocketStarAddress
    try {
      id = parseDialId(dialId)
      caller = parsePeerAddress(from)
    } catch (err: any) {
      ack(err instanceof WsStarError ? err.toWire() : { code: ErrorCode.BAD_REQUEST, message: 'malformed ss-incomming' })
      return
    }
    const handler = this.#handlers.values().next().value
    if (handler == null || this.status !== 'registered') {
      ack({ code: ErrorCode.DIAL_REFUSED, message: 'this peer is not listening here' })
      return
    }
    if (this.#dispatcher.has(id)) {
      ack({ code: ErrorCode.BAD_REQUEST, message: 'duplicate dial id' })
      return
    }
    this.#log('incoming dial %s from %s', id, caller.address)
    // this server + the caller's peer id: the rest of `from` is whatever the
    // caller (or the server) wrote, and libp2p's allow/deny lists and
    // per-host limits read the IP of remoteAddr
    const maConn = this.#createConnection(id, peerAddress(this.listenAddr, caller.peerId), 'inbound')
    ack(null)
    this.#init.metrics.event('incoming')
    handler.onIncomingDial(maConn)
  }

  #onPeers (payload: unknown): void {
    const joining = this.status === 'joining' || this.status === 'challenged'
    if (this.status !== 'registered' && !joining) {
      return
    }
    let delta: PeersDelta
    try {
      delta = parsePeersDelta(payload)
    } catch (err) {
      this.#log('dropping malformed ws-peers - %e', err)
      return
    }
    if (joining) {
      // the join answer is on its way (or already read, its promise steps not run yet)
      if (this.#heldDeltas.length >= MAX_HELD_DELTAS) {
        this.#log('%s sent more than %d ws-peers during the join; dropping the oldest', this.url, MAX_HELD_DELTAS)
        this.#heldDeltas.shift()
      }
      this.#heldDeltas.push(delta)
      return
    }
    this.#peers(delta.joined, delta.left)
  }

  #onCluster (payload: unknown): void {
    try {
      this.cluster = parseClusterUpdate(payload).map(server => multiaddr(server))
    } catch (err) {
      this.#log('dropping malformed ws-cluster - %e', err)
    }
  }

  #peers (joined: string[], left: string[]): void {
    if (joined.length === 0 && left.length === 0) {
      return
    }
    try {
      this.#init.onPeers(this, joined, left)
    } catch (err) {
      this.#log.error('discovery handler failed - %e', err)
    }
  }

  #onEvicted (payload: unknown): void {
    const record = payload != null && typeof payload === 'object' ? payload as Record<string, unknown> : {}
    if (typeof record.address === 'string') {
      try {
        if (!parsePeerAddress(record.address).peerId.equals(this.#init.peerId)) {
          return
        }
      } catch {
        return
      }
    }
    const error = errorFromWire(record)
    this.#log.error('evicted from %s - %s', this.url, error.message)
    // the server reset our dials for that registration
    this.#loseDials(error, false)
    if (this.status !== 'closed') {
      this.#setStatus('evicted', { error })
    }
  }

  #onShutdown (payload: unknown): void {
    const record = payload != null && typeof payload === 'object' ? payload as Record<string, unknown> : {}
    this.#log('%s is shutting down (grace %s ms)', this.url, record.graceMs)
    this.#shuttingDown = true
    // come back quickly once it is gone: the first retry uses the initial delay
    this.#attempt = 0
  }
}
