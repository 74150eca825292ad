/**
 * Hand-written protocol v2 clients for the hostile suite, on top of
 * `test/helpers/raw-peer.ts`: answers as `[error, result]` instead of
 * throwing, a join that can be stopped half way, and a credit-respecting
 * byte pump for throughput measurements.
 */
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PROTOCOL_VERSION, signJoin } from '@wsstar/protocol'
import { io } from 'socket.io-client'
import { rawPeer } from '../../helpers/raw-peer.js'
import type { RawPeer, RawPeerOptions } from '../../helpers/raw-peer.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Socket } from 'socket.io-client'

export interface WireErr { code: string, message: string }

export interface Identity { key: PrivateKey, peerId: PeerId }

export async function identity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key) }
}

export function peerAddr (port: number, peerId: PeerId | string, host = '127.0.0.1'): string {
  return `/ip4/${host}/tcp/${port}/ws/p2p-websocket-star/p2p/${peerId.toString()}`
}

const open = new Set<Socket>()

/** A connected socket.io client (websocket only, no reconnection). */
export async function connect (port: number, auth: Record<string, unknown> = { protocol: PROTOCOL_VERSION }): Promise<Socket> {
  const socket = io(`ws://127.0.0.1:${port}`, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 10_000 })
  open.add(socket)
  socket.on('disconnect', () => { open.delete(socket) })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => { resolve() })
    socket.once('connect_error', (err) => { reject(err) })
  })
  return socket
}

/** Disconnects every socket made by `connect` and `peer`. */
export function closeAll (): void {
  for (const socket of open) socket.disconnect()
  open.clear()
}

/** A joined raw peer (accepts dials after `answer` ms, see raw-peer.ts); closed by closeAll. */
export async function peer (port: number, options: RawPeerOptions = {}): Promise<RawPeer> {
  const p = await rawPeer(port, options)
  open.add(p.socket)
  p.socket.on('disconnect', () => { open.delete(p.socket) })
  return p
}

/** Emits with an ack; resolves `[error, result]`. */
export async function ask (socket: Socket, event: string, ...args: unknown[]): Promise<[WireErr | null, any]> {
  return await new Promise((resolve, reject) => {
    const onDisconnect = (reason: string): void => {
      clearTimeout(timer)
      reject(new Error(`disconnected (${reason}) while waiting for the answer to ${event}`))
    }
    const timer = setTimeout(() => {
      socket.off('disconnect', onDisconnect)
      reject(new Error(`no answer to ${event} within 10 s`))
    }, 10_000)
    socket.once('disconnect', onDisconnect)
    socket.emit(event, ...args, (err: WireErr | null, result: unknown) => {
      clearTimeout(timer)
      socket.off('disconnect', onDisconnect)
      resolve([err, result])
    })
  })
}

/** The error code of a request that must fail. */
export async function codeOf (socket: Socket, event: string, ...args: unknown[]): Promise<string | undefined> {
  const [err] = await ask(socket, event, ...args)
  return err?.code
}

/** Full challenge join of `address` with `key`; resolves `[error, result]` of the last step. */
export async function join (socket: Socket, key: PrivateKey, address: string): Promise<[WireErr | null, any]> {
  const [err, hello] = await ask(socket, 'ss-join', address, {})
  if (err != null || hello?.nonce == null) return [err, hello]
  return await ask(socket, 'ss-join', address, { signature: await signJoin(key, address, hello.nonce) })
}

/** Dials `to` from `from` (the callee must accept); resolves the dial id or throws with the code. */
export async function dial (caller: { socket: Socket, address: string }, to: string): Promise<string> {
  const [err, result] = await ask(caller.socket, 'ss-dial', caller.address, to)
  if (err != null) throw Object.assign(new Error(err.message), { code: err.code })
  return result.dialId
}

/**
 * Stops reading the socket's TCP connection (the server's writes pile up in
 * the kernel, then on the server); it can still send. `resumeReading` undoes it.
 */
export function stopReading (socket: Socket): void {
  tcpOf(socket).pause()
}

export function resumeReading (socket: Socket): void {
  tcpOf(socket).resume()
}

function tcpOf (socket: Socket): { pause(): void, resume(): void } {
  return (socket.io as any).engine.transport.ws._socket
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

export async function until (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

export interface PumpResult {
  bytes: number
  ms: number
  /** MiB/s */
  rate: number
  /** sha256 of what arrived equals sha256 of what was sent */
  intact: boolean
}

/**
 * Sends `total` random bytes over an open dial from `sender` to `receiver`,
 * within the credit window (the receiver grants in quarter-window batches,
 * like the reference client), and measures the rate.
 */
export async function pump (sender: Socket, receiver: Socket, dialId: string, total: number, window: number, frame = 64 * 1024): Promise<PumpResult> {
  const sent = createHash('sha256')
  const got = createHash('sha256')
  const chunk = Buffer.alloc(frame)
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i)
  let credit = window
  let received = 0
  let ungranted = 0
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const batch = Math.floor(window / 4)
  const onData = (id: string, bytes: Uint8Array): void => {
    if (id !== dialId) return
    got.update(bytes)
    received += bytes.byteLength
    ungranted += bytes.byteLength
    if (ungranted >= batch || received === total) {
      receiver.emit('c', dialId, ungranted)
      ungranted = 0
    }
  }
  const onCredit = (id: string, n: number): void => {
    if (id !== dialId) return
    credit += n
    wake?.()
  }
  const onEnd = (id: string, kind: string, error?: WireErr): void => {
    if (id !== dialId || kind !== 'reset') return
    failure = new Error(`dial reset during the transfer: ${JSON.stringify(error)}`)
    wake?.()
  }
  receiver.on('d', onData)
  sender.on('c', onCredit)
  sender.on('e', onEnd)
  receiver.on('e', onEnd)
  const started = performance.now()
  try {
    let offset = 0
    // done once everything arrived and every byte's credit came back (the dial is reusable at a full window)
    while (offset < total || received < total || credit < window) {
      if (failure != null) throw failure
      if (offset < total && credit > 0) {
        const n = Math.min(frame, credit, total - offset)
        const bytes = n === frame ? chunk : chunk.subarray(0, n)
        sent.update(bytes)
        sender.emit('d', dialId, bytes)
        credit -= n
        offset += n
        continue
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`transfer stalled at ${received}/${total} bytes`)) }, 15_000)
        wake = () => { clearTimeout(timer); wake = undefined; resolve() }
      })
    }
  } finally {
    receiver.off('d', onData)
    sender.off('c', onCredit)
    sender.off('e', onEnd)
    receiver.off('e', onEnd)
  }
  const ms = performance.now() - started
  return { bytes: total, ms, rate: total / (1024 * 1024) / (ms / 1000), intact: sent.digest('hex') === got.digest('hex') }
}
