import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, WsStarError, WebSocketStarListen, WebSocketStarPeer, parsePeerAddress, peerAddress, sameServer, serverOf, serverUrl } from '../src/index.js'

const ID = '12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB'
const LEGACY_ID = 'QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC'

function assertCode (fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof WsStarError && err.code === code)
}

describe('address rules', () => {
  const servers = [
    '/ip4/127.0.0.1/tcp/13579/ws',
    '/ip6/::1/tcp/13579/ws',
    '/dns4/rendezvous.example.com/tcp/443/wss',
    '/dns6/rendezvous.example.com/tcp/443/tls/ws',
    '/dns/rendezvous.example.com/tcp/443/tls/sni/rendezvous.example.com/ws',
    '/dnsaddr/rendezvous.example.com'
  ]

  for (const server of servers) {
    it(`accepts peer and listen addresses on ${server}`, () => {
      const peer = `${server}/p2p-websocket-star/p2p/${ID}`
      assert.equal(WebSocketStarPeer.exactMatch(multiaddr(peer)), true)
      assert.equal(WebSocketStarListen.exactMatch(multiaddr(`${server}/p2p-websocket-star`)), true)
      assert.equal(WebSocketStarListen.exactMatch(multiaddr(peer)), true)
      const parsed = parsePeerAddress(peer)
      assert.equal(parsed.peerId.toString(), ID)
      assert.equal(parsed.server.toString(), server)
    })
  }

  it('normalises the legacy /ipfs spelling to /p2p', () => {
    const parsed = parsePeerAddress(`/ip4/1.2.3.4/tcp/9090/ws/p2p-websocket-star/ipfs/${LEGACY_ID}`)
    assert.equal(parsed.address, `/ip4/1.2.3.4/tcp/9090/ws/p2p-websocket-star/p2p/${LEGACY_ID}`)
    assert.equal(parsed.peerId.toString(), LEGACY_ID)
  })

  it('rejects non-strings, empty, oversize and malformed input with ERR_INVALID_ADDRESS', () => {
    for (const bad of [undefined, null, 42, {}, [], new Uint8Array(4), '', 'x'.repeat(1025), 'not a multiaddr',
      `/ip4/127.0.0.1/tcp/1/ws/p2p/${ID}`, // no /p2p-websocket-star
      '/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star', // no peer id
      `/ip4/127.0.0.1/tcp/1/p2p-websocket-star/p2p/${ID}`, // no /ws
      `/ip4/127.0.0.1/udp/1/ws/p2p-websocket-star/p2p/${ID}`,
      `/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/${ID}/p2p-circuit`]) {
      assertCode(() => parsePeerAddress(bad), ErrorCode.INVALID_ADDRESS)
    }
  })

  it('derives socket.io URLs from server addresses', () => {
    assert.equal(serverUrl(multiaddr('/ip4/127.0.0.1/tcp/13579/ws')), 'ws://127.0.0.1:13579')
    assert.equal(serverUrl(multiaddr('/ip6/::1/tcp/1/ws')), 'ws://[::1]:1')
    assert.equal(serverUrl(multiaddr('/dns4/a.example/tcp/443/wss')), 'wss://a.example:443')
    assert.equal(serverUrl(multiaddr('/dns4/a.example/tcp/443/tls/sni/a.example/ws')), 'wss://a.example:443')
    assertCode(() => serverUrl(multiaddr('/dnsaddr/a.example')), ErrorCode.INVALID_ADDRESS)
  })

  it('builds a peer address from a listen address', () => {
    const listen = multiaddr('/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star')
    assert.equal(peerAddress(listen, ID).toString(), `/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/${ID}`)
    assert.equal(serverOf(listen).toString(), '/ip4/127.0.0.1/tcp/13579/ws')
  })

  it('compares servers ignoring /sni and the wss spelling', () => {
    assert.equal(sameServer(multiaddr('/dns4/a.example/tcp/443/wss'), multiaddr('/dns4/a.example/tcp/443/tls/sni/a.example/ws')), true)
    assert.equal(sameServer(multiaddr('/ip4/1.2.3.4/tcp/1/ws'), multiaddr('/ip4/1.2.3.4/tcp/2/ws')), false)
  })
})
