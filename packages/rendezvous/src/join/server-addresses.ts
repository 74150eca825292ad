import { isIPv4, isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { multiaddr } from '@multiformats/multiaddr'
import { canonicalPeerAddress, canonicalServer, sameServer } from '@wsstar/protocol'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { WebSocketStarAddress } from '@wsstar/protocol'

/**
 * The websocket server addresses peers can use to reach this server: the
 * announced ones when configured, otherwise derived from the bound host
 * (every local interface for a wildcard host), `/wss` when the server
 * itself terminates TLS.
 */
export function serverAddresses (host: string, port: number, announce: Multiaddr[], secure = false): Multiaddr[] {
  if (announce.length > 0) {
    return [...announce]
  }
  const hosts: string[] = []
  if (host === '0.0.0.0' || host === '::') {
    const all = Object.values(networkInterfaces()).flatMap(list => list ?? [])
    for (const iface of all) {
      if (iface.family === 'IPv4' || (host === '::' && iface.family === 'IPv6' && iface.scopeid === 0)) {
        hosts.push(iface.address)
      }
    }
    if (hosts.length === 0) {
      hosts.push(host === '::' ? '::1' : '127.0.0.1')
    }
  } else {
    hosts.push(host)
  }
  return [...new Set(hosts)].map(h => multiaddr(`${hostPart(h)}/tcp/${port}/${secure ? 'wss' : 'ws'}`))
}

function hostPart (host: string): string {
  if (isIPv4(host)) {
    return `/ip4/${host}`
  }
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (isIPv6(bare)) {
    return `/ip6/${bare}`
  }
  return `/dns/${host}`
}

/**
 * What a join registers and broadcasts: the peer id on this server's own
 * address for the server the join names (the announced spelling, when
 * `ownServers` is known), else the join's server part without /sni. The
 * caller has checked that the join names this server.
 */
export function registeredAddress (joined: WebSocketStarAddress, ownServers: readonly Multiaddr[]): WebSocketStarAddress {
  const own = ownServers.find(server => sameServer(server, joined.server))
  return canonicalPeerAddress(own ?? canonicalServer(joined.server), joined.peerId)
}
