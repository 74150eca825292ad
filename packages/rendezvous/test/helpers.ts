/**
 * Test helpers: real servers on loopback and raw socket.io clients speaking
 * wire protocol v2 by hand (no transport package involved).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodePublicKey, signJoin } from '@wsstar/protocol'
import { pino } from 'pino'
import { io } from 'socket.io-client'
import { createRendezvousServer } from '../src/index.js'
import type { RendezvousServer, RendezvousServerOptions } from '../src/index.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Socket } from 'socket.io-client'

export type KeyType = 'Ed25519' | 'secp256k1' | 'RSA'

export interface TestPeer {
  key: PrivateKey
  peerId: PeerId
  type: KeyType
}

export async function makePeer (type: KeyType = 'Ed25519'): Promise<TestPeer> {
  const key = type === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(type)
  return { key, peerId: peerIdFromPrivateKey(key), type }
}

export const silentLogger = pino({ level: 'silent' })

/** every test client connects from 127.0.0.1: the per-IP limits are tested on their own (per-ip-limits.test.ts, test/hostile/per-ip.test.ts) */
export const RAISED_PER_IP_LIMITS = { maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6 }

export async function startServer (options: RendezvousServerOptions = {}): Promise<RendezvousServer> {
  const server = createRendezvousServer({ port: 0, host: '127.0.0.1', logger: silentLogger, ...options, limits: { shutdownGraceMs: 200, ...RAISED_PER_IP_LIMITS, ...options.limits } })
  await server.start()
  return server
}

export function serverUrl (server: RendezvousServer): string {
  return `http://127.0.0.1:${server.port}`
}

/** The operator listener (`adminPort`) of a server started with one. */
export function adminUrl (server: RendezvousServer): string {
  if (server.adminPort == null) {
    throw new Error('this server has no admin listener (start it with adminPort)')
  }
  return `http://127.0.0.1:${server.adminPort}`
}

/** which listener a request goes to: the client port or the operator (admin) port */
export type Listener = 'client' | 'admin'

function listenerUrl (server: RendezvousServer, listener: Listener): string {
  return listener === 'admin' ? adminUrl(server) : serverUrl(server)
}

export function addressOf (server: RendezvousServer, peer: TestPeer | PeerId | string): string {
  const id = typeof peer === 'string' ? peer : 'peerId' in peer ? peer.peerId.toString() : peer.toString()
  return `/ip4/127.0.0.1/tcp/${server.port}/ws/p2p-websocket-star/p2p/${id}`
}

const clients = new Set<Socket>()

/** A connected raw client. `auth` defaults to the v2 handshake; `headers` go on its upgrade request (e.g. `Host`). */
export async function connect (server: RendezvousServer, auth: Record<string, unknown> | undefined = { protocol: 'wsstar/2' }, headers?: Record<string, string>): Promise<Socket> {
  const socket = io(serverUrl(server), { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000, ...(headers == null ? {} : { extraHeaders: headers }) })
  clients.add(socket)
  socket.on('disconnect', () => { clients.delete(socket) })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => { resolve() })
    socket.once('connect_error', (err) => { reject(err) })
    socket.once('disconnect', (reason) => { reject(new Error(`disconnected while connecting: ${reason}`)) })
  })
  return socket
}

/** Disconnects every client the helpers created. */
export function closeClients (): void {
  for (const socket of clients) {
    socket.disconnect()
  }
  clients.clear()
}

export interface WireErr { code: string, message: string }

/** Emits with an ack; resolves [error, result] as the server answered. */
export async function request (socket: Socket, event: string, ...args: unknown[]): Promise<[WireErr | null, any]> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no answer to ${event} within 5 s`)) }, 5000)
    socket.emit(event, ...args, (err: WireErr | null, result: unknown) => {
      clearTimeout(timer)
      resolve([err, result])
    })
  })
}

/** Asserts a request failed and returns its error code. */
export async function errorCode (socket: Socket, event: string, ...args: unknown[]): Promise<string | undefined> {
  const [err] = await request(socket, event, ...args)
  return err?.code
}

/** The full challenge join. Resolves with the join result; throws with the error code on failure. */
export async function join (socket: Socket, peer: TestPeer, address: string, opts: { sendKey?: boolean } = {}): Promise<{ peers: string[], window: number, maxFrame: number }> {
  const hello = (opts.sendKey ?? peer.type === 'RSA') ? { publicKey: encodePublicKey(peer.key.publicKey) } : {}
  const [err1, first] = await request(socket, 'ss-join', address, hello)
  if (err1 != null) {
    throw Object.assign(new Error(err1.message), { code: err1.code })
  }
  if (first.nonce == null) {
    return first
  }
  const signature = await signJoin(peer.key, address, first.nonce)
  const [err2, second] = await request(socket, 'ss-join', address, { signature })
  if (err2 != null) {
    throw Object.assign(new Error(err2.message), { code: err2.code })
  }
  return second
}

/** Connects and joins a fresh Ed25519 peer. */
export async function joinedClient (server: RendezvousServer, type: KeyType = 'Ed25519'): Promise<{ socket: Socket, peer: TestPeer, address: string, result: { peers: string[], window: number, maxFrame: number } }> {
  const peer = await makePeer(type)
  const socket = await connect(server)
  const address = addressOf(server, peer)
  const result = await join(socket, peer, address)
  return { socket, peer, address, result }
}

/** Resolves with the args of the next `event` on `socket` that satisfies `match`. */
export async function nextEvent (socket: Socket, event: string, match: (...args: any[]) => boolean = () => true, timeoutMs = 5000): Promise<any[]> {
  return await new Promise((resolve, reject) => {
    const listener = (...args: any[]): void => {
      if (match(...args)) {
        clearTimeout(timer)
        socket.off(event, listener)
        resolve(args)
      }
    }
    const timer = setTimeout(() => {
      socket.off(event, listener)
      reject(new Error(`no ${event} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on(event, listener)
  })
}

/** Opens a dial from `caller` to `callee`, with the callee accepting. Resolves with the dial id. */
export async function openDial (caller: { socket: Socket, address: string }, callee: { socket: Socket, address: string }): Promise<string> {
  const incoming = new Promise<string>((resolve) => {
    callee.socket.once('ss-incomming', (dialId: string, _from: string, ack: (err: null) => void) => {
      ack(null)
      resolve(dialId)
    })
  })
  const [err, result] = await request(caller.socket, 'ss-dial', caller.address, callee.address)
  if (err != null) {
    throw Object.assign(new Error(err.message), { code: err.code })
  }
  const calleeId = await incoming
  if (calleeId !== result.dialId) {
    throw new Error('caller and callee got different dial ids')
  }
  return result.dialId
}

export async function waitUntil (predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

export async function getJson (server: RendezvousServer, path: string, listener: Listener = 'client'): Promise<{ status: number, body: any }> {
  const res = await fetch(`${listenerUrl(server, listener)}${path}`)
  return { status: res.status, body: await res.json() }
}

export async function getText (server: RendezvousServer, path: string, listener: Listener = 'client'): Promise<{ status: number, body: string, type: string | null }> {
  const res = await fetch(`${listenerUrl(server, listener)}${path}`)
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}

/** The value of one sample line of the Prometheus text format, e.g. `wsstar_rejected_total{code="ERR_BAD_REQUEST"}`. */
export async function metricValue (server: RendezvousServer, sample: string): Promise<number> {
  const text = await server.metrics.metrics()
  const line = text.split('\n').find(l => l.startsWith(`${sample} `))
  return line == null ? 0 : Number(line.slice(sample.length + 1))
}

/**
 * One end of a dial, written as a well-behaved client: sends within its
 * credit and waits for more, grants credit in quarter-window batches as it
 * "consumes" (unless `autoCredit` is off, then `grant()` by hand).
 */
export class DialEnd {
  readonly socket: Socket
  readonly dialId: string
  readonly window: number
  readonly chunks: Uint8Array[] = []
  receivedBytes = 0
  credit: number
  creditedBytes = 0
  autoCredit: boolean
  remoteClosed = false
  resetError: WireErr | null | undefined = undefined
  #waiters: Array<() => void> = []
  readonly #batch: number
  readonly #keep: boolean
  readonly #onData = (id: string, bytes: Uint8Array): void => {
    if (id !== this.dialId) return
    this.receivedBytes += bytes.byteLength
    if (this.#keep) this.chunks.push(bytes)
    if (this.autoCredit) this.#maybeGrant()
    this.#wake()
  }

  readonly #onCredit = (id: string, n: number): void => {
    if (id !== this.dialId) return
    this.credit += n
    this.#wake()
  }

  readonly #onEnd = (id: string, kind: string, error?: WireErr): void => {
    if (id !== this.dialId) return
    if (kind === 'reset') { if (this.resetError === undefined) this.resetError = error ?? null }
    else this.remoteClosed = true
    this.#wake()
  }

  constructor (socket: Socket, dialId: string, window: number, opts: { autoCredit?: boolean, keepChunks?: boolean } = {}) {
    this.socket = socket
    this.dialId = dialId
    this.window = window
    this.credit = window
    this.autoCredit = opts.autoCredit ?? true
    this.#keep = opts.keepChunks ?? true
    this.#batch = Math.floor(window / 4)
    socket.on('d', this.#onData)
    socket.on('c', this.#onCredit)
    socket.on('e', this.#onEnd)
  }

  detach (): void {
    this.socket.off('d', this.#onData)
    this.socket.off('c', this.#onCredit)
    this.socket.off('e', this.#onEnd)
  }

  /** Sends `data` in frames of at most 64 KiB, never beyond the credit. */
  async send (data: Uint8Array, frame = 64 * 1024): Promise<void> {
    let offset = 0
    while (offset < data.byteLength) {
      if (this.resetError !== undefined) throw new Error(`dial reset: ${JSON.stringify(this.resetError)}`)
      if (this.credit === 0) {
        await this.changed()
        continue
      }
      const n = Math.min(frame, this.credit, data.byteLength - offset)
      this.socket.emit('d', this.dialId, data.subarray(offset, offset + n))
      this.credit -= n
      offset += n
    }
  }

  /** Grants credit for everything received and not yet credited. */
  grant (): void {
    const due = this.receivedBytes - this.creditedBytes
    if (due > 0) {
      this.creditedBytes += due
      this.socket.emit('c', this.dialId, due)
    }
  }

  closeWrite (): void {
    this.socket.emit('e', this.dialId, 'close-write')
  }

  received (): Buffer {
    return Buffer.concat(this.chunks)
  }

  async changed (timeoutMs = 5000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('dial end: nothing happened')) }, timeoutMs)
      this.#waiters.push(() => { clearTimeout(timer); resolve() })
    })
  }

  async until (predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('dial end: condition not met in time')
      await this.changed(left).catch(() => {})
    }
  }

  #maybeGrant (): void {
    if (this.receivedBytes - this.creditedBytes >= this.#batch) this.grant()
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }
}
