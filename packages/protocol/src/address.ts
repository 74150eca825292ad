import { multiaddr, CODE_DNS, CODE_DNS4, CODE_DNS6, CODE_DNSADDR, CODE_IP4, CODE_IP6, CODE_P2P, CODE_P2P_WEBSOCKET_STAR, CODE_SNI, CODE_TCP, CODE_TLS, CODE_WS, CODE_WSS } from '@multiformats/multiaddr'
import { fmt, and, or, code, value, optional } from '@multiformats/multiaddr-matcher/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { ErrorCode, WsStarError } from './errors.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'

/** Longest address string accepted from the wire; real ones are < 200 chars. */
export const MAX_ADDRESS_LENGTH = 1024

const HOST = or(value(CODE_IP4), value(CODE_IP6), value(CODE_DNS), value(CODE_DNS4), value(CODE_DNS6), value(CODE_DNSADDR))
const WEBSOCKET = or(code(CODE_WS), code(CODE_WSS), and(code(CODE_TLS), optional(value(CODE_SNI)), code(CODE_WS)))
// /dnsaddr resolves to full addresses, so it stands alone without /tcp/<port>/ws.
const SERVER = or(and(HOST, value(CODE_TCP), WEBSOCKET), value(CODE_DNSADDR))

/** A rendezvous server address, e.g. `/ip4/1.2.3.4/tcp/13579/ws`. */
export const WebSocketStarServer = fmt(SERVER)

/** A listen address: server + `/p2p-websocket-star`, optionally with the listener's own `/p2p/<id>`. */
export const WebSocketStarListen = fmt(SERVER, code(CODE_P2P_WEBSOCKET_STAR), optional(value(CODE_P2P)))

/** A dialable peer address: server + `/p2p-websocket-star/p2p/<id>`. */
export const WebSocketStarPeer = fmt(SERVER, code(CODE_P2P_WEBSOCKET_STAR), value(CODE_P2P))

export interface WebSocketStarAddress {
  /** canonical string form (`/p2p/` spelling) — what the server registers and announces */
  address: string
  multiaddr: Multiaddr
  /** the rendezvous server part, before `/p2p-websocket-star` */
  server: Multiaddr
  peerId: PeerId
}

function invalid (message: string): WsStarError {
  return new WsStarError(ErrorCode.INVALID_ADDRESS, message)
}

/**
 * Parses and checks a peer address from the wire. Accepts the legacy
 * `/ipfs/<id>` spelling (multiaddr normalises it to `/p2p/`), so two
 * spellings of one peer are the same peer.
 */
export function parsePeerAddress (input: unknown): WebSocketStarAddress {
  if (typeof input !== 'string') {
    throw invalid('address must be a string')
  }
  if (input.length === 0 || input.length > MAX_ADDRESS_LENGTH) {
    throw invalid(`address length must be 1..${MAX_ADDRESS_LENGTH}`)
  }
  let ma: Multiaddr
  try {
    ma = multiaddr(input)
  } catch {
    throw invalid('address is not a multiaddr')
  }
  if (!WebSocketStarPeer.exactMatch(ma)) {
    throw invalid('address is not <server>/p2p-websocket-star/p2p/<peer id>')
  }
  const components = ma.getComponents()
  const starIndex = components.findIndex(c => c.code === CODE_P2P_WEBSOCKET_STAR)
  const idString = components[components.length - 1].value ?? ''
  let peerId: PeerId
  try {
    peerId = peerIdFromString(idString)
  } catch {
    throw invalid('address carries an invalid peer id')
  }
  return {
    address: ma.toString(),
    multiaddr: ma,
    server: multiaddr(components.slice(0, starIndex)),
    peerId
  }
}

/**
 * A bare peer id (`12D3KooW…`, `Qm…`, or its CID spelling) in the string
 * form the server keys registrations by; ERR_BAD_REQUEST when it is none.
 */
export function parsePeerId (input: unknown): string {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_ADDRESS_LENGTH) {
    throw new WsStarError(ErrorCode.BAD_REQUEST, 'peer id must be a non-empty string')
  }
  try {
    return peerIdFromString(input).toString()
  } catch {
    throw new WsStarError(ErrorCode.BAD_REQUEST, 'not a peer id')
  }
}

/** The server part of a listen or peer address. */
export function serverOf (ma: Multiaddr): Multiaddr {
  const components = ma.getComponents()
  const starIndex = components.findIndex(c => c.code === CODE_P2P_WEBSOCKET_STAR)
  if (starIndex < 0) {
    throw invalid('not a p2p-websocket-star address')
  }
  return multiaddr(components.slice(0, starIndex))
}

/** The peer address a listener with `peerId` has on the server of `listenAddr`. */
export function peerAddress (listenAddr: Multiaddr, peerId: PeerId | string): Multiaddr {
  return multiaddr(`${serverOf(listenAddr).toString()}/p2p-websocket-star/p2p/${peerId.toString()}`)
}

/**
 * The socket.io URL for a server multiaddr: `/ip4/h/tcp/p/ws` -> `ws://h:p`,
 * `/dns4/h/tcp/443/wss` or `/tls/ws` -> `wss://h:443`. /dnsaddr needs a
 * resolver first and is rejected here.
 */
export function serverUrl (server: Multiaddr): string {
  let host: string | undefined
  let port: string | undefined
  let secure = false
  for (const c of server.getComponents()) {
    switch (c.code) {
      case CODE_IP4: case CODE_DNS: case CODE_DNS4: case CODE_DNS6:
        host = c.value
        break
      case CODE_IP6:
        host = `[${c.value ?? ''}]`
        break
      case CODE_TCP:
        port = c.value
        break
      case CODE_WSS: case CODE_TLS:
        secure = true
        break
      case CODE_DNSADDR:
        throw invalid('/dnsaddr server addresses must be resolved before use')
      default:
        break
    }
  }
  if (host == null || port == null) {
    throw invalid(`cannot derive a websocket URL from ${server.toString()}`)
  }
  return `${secure ? 'wss' : 'ws'}://${host}:${port}`
}

/** True when two server multiaddrs name the same endpoint (ignores /sni and /p2p). */
export function sameServer (a: Multiaddr, b: Multiaddr): boolean {
  const strip = (ma: Multiaddr): string => ma.getComponents()
    .filter(c => c.code !== CODE_SNI && c.code !== CODE_P2P)
    .map(c => c.code === CODE_WSS ? '/tls/ws' : `/${c.name}${c.value != null ? `/${c.value}` : ''}`)
    .join('')
  return strip(a) === strip(b)
}

/**
 * The server part as it is registered and announced: the /sni value is
 * dropped (a dialer takes the TLS server name from the host; left in, it is
 * free padding fanned out to every peer), the rest kept as written.
 */
export function canonicalServer (server: Multiaddr): Multiaddr {
  return multiaddr(server.getComponents().filter(c => c.code !== CODE_SNI && c.code !== CODE_P2P))
}

/**
 * The address a server registers and broadcasts for `peerId` on `server`
 * (one of its own server addresses): `<server>/p2p-websocket-star/p2p/<id>`,
 * nothing else from what the client sent.
 */
export function canonicalPeerAddress (server: Multiaddr, peerId: PeerId): WebSocketStarAddress {
  const ma = multiaddr(`${server.toString()}/p2p-websocket-star/p2p/${peerId.toString()}`)
  return { address: ma.toString(), multiaddr: ma, server, peerId }
}
