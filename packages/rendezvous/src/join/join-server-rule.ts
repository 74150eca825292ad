import { isIPv6 } from 'node:net'
import { CODE_DNS, CODE_DNS4, CODE_DNS6, CODE_IP4, CODE_IP6, CODE_TCP, CODE_TLS, CODE_WSS, multiaddr } from '@multiformats/multiaddr'
import { sameServer } from '@wsstar/protocol'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Which server a join may name. A join signature covers the address, and
 * the address names a server: this server accepts only addresses naming
 * itself, so a signature a client made for another server (one that relays
 * it here, copying this server's socket id or nonce) is refused with
 * ERR_INVALID_ADDRESS. With `--announce`, this server's names are the
 * announced addresses. Without, the name the client connected to: the Host
 * header of its websocket upgrade request, which a load balancer passes on.
 * A client can write any Host header, so without `--announce` a relay that
 * writes the name it was reached by gets through: public servers announce.
 * Owns the Host header's syntax; imports only the protocol package.
 */
export class JoinServerRule {
  readonly #announce: readonly Multiaddr[]

  constructor (announce: readonly Multiaddr[]) {
    this.#announce = announce
  }

  /**
   * Undefined when a join on a socket whose upgrade request carried `host`
   * may name `server`; otherwise why not (the ERR_INVALID_ADDRESS message).
   */
  refusal (server: Multiaddr, host: string | undefined): string | undefined {
    if (this.#announce.length > 0) {
      return this.#announce.some(own => sameServer(own, server))
        ? undefined
        : `the address names another server; this one is ${this.#announce.map(a => a.toString()).join(', ')}`
    }
    const header = host == null ? undefined : parseHostHeader(host)
    if (header == null) {
      return 'the address must name the server this socket connected to, and its upgrade request had no valid Host header'
    }
    return namesHost(server, header)
      ? undefined
      : `the address names another server than the one this socket connected to (${header.host.includes(':') ? `[${header.host}]` : header.host}${header.port == null ? '' : `:${header.port}`})`
  }
}

/** A Host header: the name or IP (IPv6 without brackets, canonical; names in lower case without a final dot), and its port if it has one. */
export interface HostHeader {
  host: string
  port?: number
}

// RFC 9110 `uri-host [ ":" port ]`: an IP literal in brackets, or a name / IPv4 address
const HOST_HEADER = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/

/** Parses a Host header; undefined when it is not one. */
export function parseHostHeader (value: string): HostHeader | undefined {
  const match = HOST_HEADER.exec(value)
  if (match == null) {
    return undefined
  }
  const [, ip6, name, portText] = match
  let host: string
  if (ip6 != null) {
    if (!isIPv6(ip6)) {
      return undefined
    }
    // the spelling a multiaddr gives it, so it compares with a server part's /ip6 value
    host = multiaddr(`/ip6/${ip6}`).getComponents()[0].value ?? ''
  } else {
    host = canonicalName(name)
  }
  if (portText == null) {
    return { host }
  }
  const port = Number(portText)
  return port <= 65535 ? { host, port } : undefined
}

/**
 * True when the server part `server` names the host and port of `header`:
 * the same IP (/ip4, /ip6) or name (/dns, /dns4, /dns6; `localhost` is not
 * 127.0.0.1), and the same port, where a Host without a port means the
 * scheme's default: 443 for /wss and /tls/ws, 80 for /ws. Whether the client
 * used TLS is not checked: a proxy in front may have ended it. /dnsaddr
 * names no port and matches nothing.
 */
export function namesHost (server: Multiaddr, header: HostHeader): boolean {
  let host: string | undefined
  let port: number | undefined
  let secure = false
  for (const component of server.getComponents()) {
    switch (component.code) {
      case CODE_IP4: case CODE_IP6:
        host = component.value
        break
      case CODE_DNS: case CODE_DNS4: case CODE_DNS6:
        host = canonicalName(component.value ?? '')
        break
      case CODE_TCP:
        port = Number(component.value)
        break
      case CODE_WSS: case CODE_TLS:
        secure = true
        break
      default:
        break
    }
  }
  if (host == null || port == null || host !== header.host) {
    return false
  }
  return port === (header.port ?? (secure ? 443 : 80))
}

function canonicalName (name: string): string {
  const lower = name.toLowerCase()
  return lower.endsWith('.') ? lower.slice(0, -1) : lower
}
