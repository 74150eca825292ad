/**
 * A hostile rendezvous "server" for the identity tests: a socket.io server
 * on loopback that, for each client, opens a socket of its own to the real
 * server, hands the client that socket's id in its CONNECT packet (what a
 * one-request join signs), and forwards the client's `ss-join` requests
 * over it, answers included. Whatever a client signs for this server thus
 * reaches the real one as if the attacker had signed it. Every other
 * request is answered with an error.
 */
import { createServer } from 'node:http'
import { connect } from '@wsstar/raw-client'
import { Server } from 'socket.io'
import type { AddressInfo } from 'node:net'
import type { Socket as ClientSocket } from 'socket.io-client'

export interface RelayedJoin {
  address: unknown
  data: unknown
  /** the real server's answer */
  err: { code: string, message: string } | null
  result: unknown
}

export interface RelayingServerOptions {
  /**
   * the Host header of the attacker's sockets to the real server: the real
   * server's host:port by default (what any client sends), or `self`: this
   * server's, as a relay that writes its own header would
   */
  host?: 'self'
}

export interface RelayingServer {
  port: number
  /** this server's websocket address, e.g. /ip4/127.0.0.1/tcp/1234/ws */
  server: string
  /** client connections it accepted */
  connections: number
  /** joins forwarded, with the real server's answers */
  joins: RelayedJoin[]
  /** the attacker's sockets on the real server, by the id they got there */
  upstream: Map<string, ClientSocket>
  close(): Promise<void>
}

export async function relayingServer (realPort: number, options: RelayingServerOptions = {}): Promise<RelayingServer> {
  const http = createServer()
  const sio = new Server(http, { transports: ['websocket'] })
  const upstream = new Map<string, ClientSocket>()
  const relay: RelayingServer = { port: 0, server: '', connections: 0, joins: [], upstream, close: async () => {} }

  sio.use((socket, next) => {
    relay.connections++
    connect(realPort, { timeoutMs: 5000, ...(options.host === 'self' ? { headers: { Host: `127.0.0.1:${relay.port}` } } : {}) }).then((real) => {
      const id = real.id as string
      upstream.set(id, real)
      // the CONNECT packet this server sends carries socket.id: the real server's id for the attacker
      ;(socket as unknown as { id: string }).id = id
      next()
    }, (err: Error) => { next(err) })
  })
  sio.on('connection', (socket) => {
    const real = upstream.get(socket.id)
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = args[args.length - 1]
      if (typeof ack !== 'function') return
      if (event !== 'ss-join' || real == null) {
        ack({ code: 'ERR_PEER_NOT_FOUND', message: 'nothing here' })
        return
      }
      real.emit('ss-join', args[0], args[1], (err: RelayedJoin['err'], result: unknown) => {
        relay.joins.push({ address: args[0], data: args[1], err, result })
        ack(err, result)
      })
    })
    socket.on('disconnect', () => { real?.disconnect() })
  })
  await new Promise<void>(resolve => { http.listen(0, '127.0.0.1', resolve) })
  relay.port = (http.address() as AddressInfo).port
  relay.server = `/ip4/127.0.0.1/tcp/${relay.port}/ws`
  relay.close = async () => {
    for (const real of upstream.values()) real.disconnect()
    sio.disconnectSockets(true)
    await sio.close()
  }
  return relay
}
