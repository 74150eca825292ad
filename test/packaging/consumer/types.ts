// Type-checked (tsc --noEmit) inside the fresh project: the installed
// packages' `exports` lead to their declarations.
import { ErrorCode, PROTOCOL_VERSION } from '@wsstar/protocol'
import { createRendezvousServer } from '@wsstar/rendezvous'
import { PeerNotFoundError, WsStarError, webSocketStar } from '@wsstar/transport'
import type { RendezvousServer, RendezvousServerOptions } from '@wsstar/rendezvous'
import type { WebSocketStar, WebSocketStarInit } from '@wsstar/transport'

const init: WebSocketStarInit = { challenge: true }
const wsstar: WebSocketStar = webSocketStar(init)
const options: RendezvousServerOptions = { port: 0, host: '127.0.0.1' }
const server: RendezvousServer = createRendezvousServer(options)
const err: WsStarError = new PeerNotFoundError()
const code: string = ErrorCode.PEER_NOT_FOUND
export const checked = [wsstar, server, err.code === code, PROTOCOL_VERSION]
