import { EventEmitter } from 'node:events'
import { WebSocketServer } from 'ws'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ServerOptions, WebSocket } from 'ws'

/**
 * Where the server tells Engine.IO 3 connections (socket.io v2: the
 * `libp2p-websocket-star@0.10` clients) from Engine.IO 4 ones, before
 * engine.io upgrades them: the refusal when legacy mode is off, and the
 * legacy message size when it is on.
 */

/** The body of the HTTP 400 an Engine.IO 3 upgrade request gets when legacy mode is off. */
export const LEGACY_DISABLED_MESSAGE = 'legacy mode is off: libp2p-websocket-star 0.10 clients (Engine.IO 3) are not accepted here (the operator can allow them with --legacy)'

/** engine.io's own rule (`computeProtocolRevision`): a request that does not say `EIO=4` speaks Engine.IO 3. */
export function isEngineIo3Request (req: IncomingMessage): boolean {
  const url = req.url ?? ''
  const query = url.indexOf('?')
  return new URLSearchParams(query < 0 ? '' : url.slice(query + 1)).get('EIO') !== '4'
}

/**
 * engine.io `allowRequest` for a server without legacy mode. engine.io
 * checks the protocol version only after the websocket upgrade and then
 * writes its HTTP 400 into the upgraded stream; `allowRequest` runs before
 * the upgrade, so the client gets a plain HTTP 400 with this message.
 */
export function refuseEngineIo3 (onRefused: () => void): (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => void {
  return (req, callback) => {
    if (isEngineIo3Request(req)) {
      onRefused()
      callback(LEGACY_DISABLED_MESSAGE, false)
      return
    }
    callback(null, true)
  }
}

type UpgradeCallback = (client: WebSocket, request: IncomingMessage) => void

/**
 * An engine.io `wsEngine` with one websocket server per protocol: engine.io
 * gives its websocket server one `maxPayload` (its `maxHttpBufferSize`), but
 * legacy sockets may send messages up to `legacyMaxPayload` (what the old
 * server, engine.io 3, accepted) while v2 sockets keep `maxMessageBytes`.
 */
export function webSocketServersPerProtocol (legacyMaxPayload: number): new (options: ServerOptions) => EventEmitter {
  return class WebSocketServersPerProtocol extends EventEmitter {
    readonly #v2: WebSocketServer
    readonly #legacy: WebSocketServer

    constructor (options: ServerOptions) {
      super()
      this.#v2 = new WebSocketServer(options)
      this.#legacy = new WebSocketServer({ ...options, maxPayload: legacyMaxPayload })
      // engine.io adds its response headers on this event
      for (const server of [this.#v2, this.#legacy]) {
        server.on('headers', (headers: string[], req: IncomingMessage) => { this.emit('headers', headers, req) })
      }
    }

    handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer, callback: UpgradeCallback): void {
      (isEngineIo3Request(req) ? this.#legacy : this.#v2).handleUpgrade(req, socket, head, callback)
    }

    close (callback?: (err?: Error) => void): void {
      this.#legacy.close()
      this.#v2.close(callback)
    }
  }
}
