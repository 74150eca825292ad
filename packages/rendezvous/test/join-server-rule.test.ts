/**
 * Which server a join may name (`join-server-rule.ts`): the Host header of
 * the socket's upgrade request without `--announce`, the announced addresses
 * with it; and the one-request join, once per socket and peer id.
 */
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { signJoin } from '@wsstar/protocol'
import { JoinServerRule, namesHost, parseHostHeader } from '../src/join/join-server-rule.js'
import { closeClients, connect, identity, request } from '@wsstar/raw-client'
import { startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { Identity } from '@wsstar/raw-client'

const names = (server: string, host: string): boolean => {
  const header = parseHostHeader(host)
  assert.ok(header != null, `${host} parses`)
  return namesHost(multiaddr(server), header)
}

describe('join server rule: Host header matching', () => {
  it('parses host names, IPv4 and bracketed IPv6, with and without a port; refuses what is no Host header', () => {
    assert.deepEqual(parseHostHeader('localhost:1234'), { host: 'localhost', port: 1234 })
    assert.deepEqual(parseHostHeader('Star.Example.COM.'), { host: 'star.example.com' })
    assert.deepEqual(parseHostHeader('127.0.0.1:80'), { host: '127.0.0.1', port: 80 })
    assert.deepEqual(parseHostHeader('[0:0:0:0:0:0:0:1]:9'), { host: '::1', port: 9 })
    for (const bad of ['', 'a b', 'user@host', 'host:', 'host:99999', '[::1', '[not:ip6]:1', 'host/path', ':80', 'h:1:2']) {
      assert.equal(parseHostHeader(bad), undefined, bad)
    }
  })

  it('same IP or name and port: /ip4 with an IPv4 Host, /dns* with a name (localhost is not 127.0.0.1), /ip6 with a bracketed one', () => {
    assert.equal(names('/ip4/127.0.0.1/tcp/1234/ws', '127.0.0.1:1234'), true)
    assert.equal(names('/dns4/localhost/tcp/1234/ws', 'localhost:1234'), true)
    assert.equal(names('/dns/LocalHost./tcp/1234/ws', 'localhost:1234'), true)
    assert.equal(names('/dns6/localhost/tcp/1234/ws', 'LOCALHOST:1234'), true)
    assert.equal(names('/ip6/::1/tcp/1234/ws', '[::1]:1234'), true)
    assert.equal(names('/ip6/0:0::1/tcp/1234/ws', '[0::0:1]:1234'), true)
    assert.equal(names('/dns4/localhost/tcp/1234/ws', '127.0.0.1:1234'), false)
    assert.equal(names('/ip4/127.0.0.1/tcp/1234/ws', 'localhost:1234'), false)
    assert.equal(names('/ip4/127.0.0.1/tcp/1235/ws', '127.0.0.1:1234'), false)
    assert.equal(names('/ip4/10.0.0.1/tcp/1234/ws', '127.0.0.1:1234'), false)
    assert.equal(names('/dns4/evil.example/tcp/443/wss', 'star.example.com'), false)
  })

  it('a Host without a port is the default port of the address\'s scheme (TLS ended by a proxy in front: 443 for /wss and /tls/ws, 80 for /ws)', () => {
    assert.equal(names('/dns4/star.example.com/tcp/443/wss', 'star.example.com'), true)
    assert.equal(names('/dns4/star.example.com/tcp/443/tls/sni/star.example.com/ws', 'star.example.com'), true)
    assert.equal(names('/dns4/star.example.com/tcp/80/ws', 'star.example.com'), true)
    assert.equal(names('/dns4/star.example.com/tcp/443/ws', 'star.example.com'), false)
    assert.equal(names('/dns4/star.example.com/tcp/80/wss', 'star.example.com'), false)
    assert.equal(names('/dns4/star.example.com/tcp/8443/wss', 'star.example.com'), false)
    // ws or wss is not checked: a proxy may have ended TLS
    assert.equal(names('/dns4/star.example.com/tcp/443/wss', 'star.example.com:443'), true)
    assert.equal(names('/dns4/star.example.com/tcp/13579/ws', 'star.example.com:13579'), true)
  })

  it('/dnsaddr names no port and matches nothing; with --announce the announced addresses decide, not the Host', () => {
    const header = parseHostHeader('star.example.com')
    assert.ok(header != null)
    assert.equal(namesHost(multiaddr('/dnsaddr/star.example.com'), header), false)
    const announced = new JoinServerRule([multiaddr('/dns4/star.example.com/tcp/443/wss')])
    assert.equal(announced.refusal(multiaddr('/dns4/star.example.com/tcp/443/tls/ws'), '10.0.0.5:13579'), undefined)
    assert.match(announced.refusal(multiaddr('/ip4/10.0.0.5/tcp/13579/ws'), '10.0.0.5:13579') ?? '', /another server/)
    const byHost = new JoinServerRule([])
    assert.equal(byHost.refusal(multiaddr('/ip4/10.0.0.5/tcp/13579/ws'), '10.0.0.5:13579'), undefined)
    assert.match(byHost.refusal(multiaddr('/ip4/10.0.0.5/tcp/13579/ws'), undefined) ?? '', /no valid Host header/)
    assert.match(byHost.refusal(multiaddr('/ip4/10.0.0.5/tcp/13579/ws'), 'evil.example:13579') ?? '', /evil\.example:13579/)
  })
})

describe('join server rule: on a server without --announce', () => {
  let server: RendezvousServer
  let peer: Identity

  before(async () => {
    server = await startServer()
    peer = await identity()
  })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  const address = (serverPart: string): string => `${serverPart}/p2p-websocket-star/p2p/${peer.peerId.toString()}`

  it('a join naming the host:port the socket connected to is accepted; another server, host or port -> ERR_INVALID_ADDRESS', async () => {
    const socket = await connect(server)
    for (const other of [`/ip4/10.0.0.1/tcp/${server.port}/ws`, `/dns4/localhost/tcp/${server.port}/ws`, `/ip4/127.0.0.1/tcp/${server.port + 1}/ws`, '/dns4/evil.example/tcp/443/wss']) {
      const [err] = await request(socket, 'ss-join', address(other), {})
      assert.equal(err?.code, 'ERR_INVALID_ADDRESS', other)
    }
    const [err, hello] = await request(socket, 'ss-join', address(`/ip4/127.0.0.1/tcp/${server.port}/ws`), {})
    assert.equal(err, null)
    assert.equal(typeof hello.nonce, 'string')
  })

  it('the Host header decides: localhost, and a TLS-terminating proxy\'s name without a port for /wss', async () => {
    const viaName = await connect(server, { headers: { Host: `localhost:${server.port}` } })
    const [err] = await request(viaName, 'ss-join', address(`/dns4/localhost/tcp/${server.port}/ws`), {})
    assert.equal(err, null)
    assert.equal((await request(viaName, 'ss-join', address(`/ip4/127.0.0.1/tcp/${server.port}/ws`), {}))[0]?.code, 'ERR_INVALID_ADDRESS')
    const viaProxy = await connect(server, { headers: { Host: 'star.example.com' } })
    const wss = address('/dns4/star.example.com/tcp/443/wss')
    const [hello, challenge] = await request(viaProxy, 'ss-join', wss, {})
    assert.equal(hello, null)
    const [proof, result] = await request(viaProxy, 'ss-join', wss, { signature: await signJoin(peer.key, wss, challenge.nonce) })
    assert.equal(proof, null)
    assert.equal(result.verified, true)
    assert.equal((await request(viaProxy, 'ss-join', address('/dns4/star.example.com/tcp/443/ws'), {}))[0]?.code, 'ERR_INVALID_ADDRESS')
  })

  it('a one-request join verifies once per socket and peer id: again (any spelling) -> ERR_CHALLENGE_EXPIRED; a failed one spends nothing', async () => {
    const socket = await connect(server)
    const sid = socket.id as string
    const p2p = address(`/ip4/127.0.0.1/tcp/${server.port}/ws`)
    const ipfs = p2p.replace('/p2p/', '/ipfs/')
    const other = await identity()
    assert.equal((await request(socket, 'ss-join', p2p, { sid, signature: await signJoin(other.key, p2p, sid) }))[0]?.code, 'ERR_INVALID_SIGNATURE')
    const [err, result] = await request(socket, 'ss-join', p2p, { sid, signature: await signJoin(peer.key, p2p, sid) })
    assert.equal(err, null)
    assert.equal(result.verified, true)
    assert.equal((await request(socket, 'ss-join', p2p, { sid, signature: await signJoin(peer.key, p2p, sid) }))[0]?.code, 'ERR_CHALLENGE_EXPIRED')
    assert.equal((await request(socket, 'ss-join', ipfs, { sid, signature: await signJoin(peer.key, ipfs, sid) }))[0]?.code, 'ERR_CHALLENGE_EXPIRED')
    // another peer id on the same socket has its own one-request join
    const second = `/ip4/127.0.0.1/tcp/${server.port}/ws/p2p-websocket-star/p2p/${other.peerId.toString()}`
    assert.equal((await request(socket, 'ss-join', second, { sid, signature: await signJoin(other.key, second, sid) }))[0], null)
  })
})
