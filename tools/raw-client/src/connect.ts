/**
 * Opening raw sockets: socket.io-client over a websocket only, no
 * reconnection, each connect bounded in time. Every socket opened here is
 * remembered until it disconnects, so a suite's `after` can close what its
 * tests left open (`closeClients`).
 */
import { PROTOCOL_VERSION } from '@wsstar/protocol'
import { io } from 'socket.io-client'
import type { Socket } from 'socket.io-client'

/** how long a connect may take before it fails */
export const CONNECT_TIMEOUT_MS = 10_000

/** where a socket goes: a port on 127.0.0.1, something with a `port` (a running server), or a URL */
export type Target = number | string | { readonly port: number | undefined }

export interface ConnectOptions {
  /** the socket.io handshake's `auth`; `null` sends none (default: the v2 handshake `{ protocol: 'wsstar/2' }`) */
  auth?: Record<string, unknown> | null
  /** headers on the upgrade request, e.g. `Host` or `X-Forwarded-For` */
  headers?: Record<string, string>
  /** the local address to connect from (e.g. another 127.0.0.x) */
  localAddress?: string
  /** default CONNECT_TIMEOUT_MS */
  timeoutMs?: number
}

/** A connect the server refused: `data` is what its connect_error carried (e.g. `{ code }`). */
export class ConnectRefused extends Error {
  static override name = 'ConnectRefused'
  readonly data: { code?: string } | undefined

  constructor (message: string, data: { code?: string } | undefined) {
    super(message)
    this.name = 'ConnectRefused'
    this.data = data
  }
}

const open = new Set<Socket>()

export function urlOf (target: Target): string {
  if (typeof target === 'string') return target
  const port = typeof target === 'number' ? target : target.port
  if (port == null) throw new Error('the target has no port (is the server started?)')
  return `ws://127.0.0.1:${port}`
}

/**
 * A socket to `target`, not yet connected: for the tests that watch the
 * connect itself. `connect` waits for it.
 */
export function openSocket (target: Target, options: ConnectOptions = {}): Socket {
  const { auth = { protocol: PROTOCOL_VERSION }, headers, localAddress, timeoutMs = CONNECT_TIMEOUT_MS } = options
  const socket = io(urlOf(target), {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: timeoutMs,
    ...(auth == null ? {} : { auth }),
    ...(headers == null ? {} : { extraHeaders: headers }),
    // passed through to the websocket (ws) of engine.io-client
    ...(localAddress == null ? {} : { localAddress })
  } as Parameters<typeof io>[1])
  open.add(socket)
  socket.on('disconnect', () => { open.delete(socket) })
  return socket
}

/** A connected socket; rejects with ConnectRefused on connect_error, or when nothing happens within the timeout. */
export async function connect (target: Target, options: ConnectOptions = {}): Promise<Socket> {
  const socket = openSocket(target, options)
  await whenConnected(socket, options.timeoutMs)
  return socket
}

/**
 * Resolves once `socket` (from openSocket) is connected; rejects with
 * ConnectRefused on connect_error, when the connection closes before the
 * socket.io handshake completed (the server's handshake timeout, say: that
 * is a disconnect, not a connect_error), or after `timeoutMs`.
 */
export async function whenConnected (socket: Socket, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  if (socket.connected) return
  const url = (socket.io as unknown as { uri: string }).uri
  try {
    await new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer)
        socket.off('connect', onConnect)
        socket.off('connect_error', onError)
        socket.off('disconnect', onClose)
      }
      const onConnect = (): void => { settle(); resolve() }
      const onError = (err: Error & { data?: { code?: string } }): void => {
        settle()
        reject(new ConnectRefused(`connect to ${url} refused: ${err.message}`, err.data))
      }
      const onClose = (reason: string): void => {
        settle()
        reject(new ConnectRefused(`connection to ${url} closed before the socket.io handshake completed: ${reason}`, undefined))
      }
      const timer = setTimeout(() => { settle(); reject(new Error(`no connect to ${url} within ${timeoutMs} ms`)) }, timeoutMs)
      socket.once('connect', onConnect)
      socket.once('connect_error', onError)
      socket.once('disconnect', onClose)
    })
  } catch (err) {
    socket.disconnect()
    open.delete(socket)
    throw err
  }
}

/** Disconnects every socket opened here that is still open. */
export function closeClients (): void {
  for (const socket of open) socket.disconnect()
  open.clear()
}
