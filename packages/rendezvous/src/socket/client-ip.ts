import ipaddr from 'ipaddr.js'
import proxyAddr from 'proxy-addr'
import type { IncomingMessage } from 'node:http'

/** A bad `--trusted-proxies` entry. */
export class TrustedProxiesError extends TypeError {
  constructor (message: string) {
    super(message)
    this.name = 'TrustedProxiesError'
  }
}

/**
 * Compiles the trusted proxies (IPs, CIDRs, or proxy-addr's names
 * `loopback`, `linklocal`, `uniquelocal`); throws TrustedProxiesError on a
 * bad entry.
 */
export function compileTrustedProxies (list: readonly string[]): (address: string, hop: number) => boolean {
  if (list.length === 0) {
    return () => false
  }
  try {
    return proxyAddr.compile([...list])
  } catch (err) {
    throw new TrustedProxiesError(`trusted proxies: ${(err as Error).message}`)
  }
}

/**
 * The address a client connected from, as the per-IP limits count it: the
 * socket's remote address, or, when that is a trusted proxy, the nearest
 * `X-Forwarded-For` entry that is not (proxy-addr walks the header from the
 * right, so entries a client wrote before the proxies appended theirs count
 * for nothing). IPv4-mapped IPv6 is counted as IPv4; IPv6 by its /64, the
 * block one subscriber gets.
 */
export function clientIpKey (request: IncomingMessage, trust: (address: string, hop: number) => boolean): string {
  return ipKey(clientAddress(request, trust))
}

/**
 * The address a client connected from, whole (`clientIpKey` without the
 * /64): the socket's remote address, or the nearest untrusted
 * `X-Forwarded-For` entry behind trusted proxies. IPv4-mapped IPv6 as IPv4.
 */
export function clientAddress (request: IncomingMessage, trust: (address: string, hop: number) => boolean): string {
  let address: string
  try {
    address = proxyAddr(request, trust)
  } catch {
    address = request.socket?.remoteAddress ?? ''
  }
  return ipaddr.isValid(address) ? ipaddr.process(address).toString() : address
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`, `2001:db8:1:2:3:4:5:6` -> `2001:db8:1:2::/64`; anything else as is. */
export function ipKey (address: string): string {
  if (!ipaddr.isValid(address)) {
    return address
  }
  const ip = ipaddr.process(address)
  if (ip.kind() === 'ipv4') {
    return ip.toString()
  }
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4)
  return `${parts.map(p => p.toString(16)).join(':')}::/64`
}

/** Whether the request carries a forwarding header (to tell operators it was ignored). */
export function hasForwardedFor (request: IncomingMessage): boolean {
  return request.headers['x-forwarded-for'] != null
}
