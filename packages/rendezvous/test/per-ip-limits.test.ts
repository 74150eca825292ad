import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clientIpKey, compileTrustedProxies, ipKey } from '../src/socket/client-ip.js'
import { PerIpLimits } from '../src/socket/per-ip-limits.js'
import type { IncomingMessage } from 'node:http'

function request (remoteAddress: string, forwardedFor?: string): IncomingMessage {
  return { socket: { remoteAddress }, connection: { remoteAddress }, headers: forwardedFor == null ? {} : { 'x-forwarded-for': forwardedFor } } as unknown as IncomingMessage
}

describe('client address (per-IP limits)', () => {
  it('counts IPv4-mapped IPv6 as IPv4 and IPv6 by its /64', () => {
    assert.equal(ipKey('203.0.113.7'), '203.0.113.7')
    assert.equal(ipKey('::ffff:203.0.113.7'), '203.0.113.7')
    assert.equal(ipKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
    assert.equal(ipKey('2001:db8:1:2::9'), ipKey('2001:0db8:0001:0002:ffff::1'))
  })

  it('X-Forwarded-For counts only from a trusted proxy, and only its nearest untrusted entry', () => {
    const none = compileTrustedProxies([])
    const lb = compileTrustedProxies(['10.0.0.0/8'])
    assert.equal(clientIpKey(request('198.51.100.1', '203.0.113.7'), none), '198.51.100.1', 'no trusted proxies: the header is ignored')
    assert.equal(clientIpKey(request('198.51.100.1', '203.0.113.7'), lb), '198.51.100.1', 'not from the proxy: ignored')
    assert.equal(clientIpKey(request('10.1.2.3', '203.0.113.7'), lb), '203.0.113.7')
    assert.equal(clientIpKey(request('10.1.2.3', '192.0.2.66, 203.0.113.7'), lb), '203.0.113.7', 'what the client wrote before the proxy appended is not believed')
    assert.equal(clientIpKey(request('10.1.2.3', '203.0.113.7, 10.9.9.9'), lb), '203.0.113.7', 'a chain of trusted proxies')
    assert.equal(clientIpKey(request('::ffff:10.1.2.3', '2001:db8:1:2::7'), lb), '2001:db8:1:2::/64')
    assert.throws(() => compileTrustedProxies(['10.0.0.0/33']), { name: 'TrustedProxiesError' })
  })
})

describe('PerIpLimits', () => {
  it('admits up to maxSockets connections per address; a closed one frees a slot', () => {
    const limits = new PerIpLimits({ maxSockets: 2, joinRate: 1, joinBurst: 1 })
    assert.deepEqual([limits.opened('a'), limits.opened('a'), limits.opened('a'), limits.opened('b')], [true, true, false, true])
    limits.closed('a')
    limits.closed('a')
    assert.equal(limits.opened('a'), true)
    assert.equal(limits.sockets('a'), 2)
  })

  it('joins per address from a token bucket, which reconnecting does not refill; an idle address is forgotten once refilled', () => {
    let now = 0
    const limits = new PerIpLimits({ maxSockets: 10, joinRate: 1, joinBurst: 2, now: () => now })
    limits.opened('a')
    assert.deepEqual([limits.takeJoin('a'), limits.takeJoin('a'), limits.takeJoin('a')], [true, true, false])
    limits.closed('a')
    assert.equal(limits.size, 1, 'kept while its bucket refills')
    limits.opened('a')
    assert.equal(limits.takeJoin('a'), false, 'a new connection gets no new burst')
    limits.closed('a')
    now += 60_000
    limits.opened('b')
    assert.equal(limits.size, 1, 'a is forgotten by the sweep, b is tracked')
    assert.equal(limits.takeJoin('a'), true)
  })
})
