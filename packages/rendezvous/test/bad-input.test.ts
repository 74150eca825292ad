/**
 * Every malformed or hostile input gets its exact error code (or is dropped
 * and counted), and none of them hurts the server or other peers.
 */
import { describe, it, before, after, afterEach, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { encodePublicKey, signJoin } from '@wsstar/protocol'
import { DialEnd, closeClients, connect, errorCode, identity, join, nextEvent, openDial, peerAddress, request } from '@wsstar/raw-client'
import { pEvent } from 'p-event'
import { getJson, joinedClient, metricValue, sleep, startServer, waitUntil } from './helpers.js'
import type { Identity } from '@wsstar/raw-client'
import type { RendezvousServer } from '../src/index.js'
import type { Socket } from 'socket.io-client'

const rejected = (code: string): string => `wsstar_rejected_total{code="${code}"}`

describe('bad input', () => {
  let server: RendezvousServer
  let ed: Identity
  let other: Identity
  let rsa: Identity
  let rsa2: Identity

  before(async () => {
    server = await startServer({ limits: { challengeTtlMs: 50 } })
    ;[ed, other, rsa, rsa2] = await Promise.all([identity(), identity(), identity('RSA'), identity('RSA')])
  })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  describe('ss-join', () => {
    let socket: Socket
    beforeEach(async () => { socket = await connect(server) })

    for (const [name, value] of [
      ['number', 42],
      ['object', { address: '/ip4/1.2.3.4' }],
      ['array', ['/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star']],
      ['Buffer', Buffer.from('/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/x')],
      ['null', null],
      ['empty string', ''],
      ['boolean', true]
    ] as Array<[string, unknown]>) {
      it(`address of the wrong type (${name}) -> ERR_INVALID_ADDRESS`, async () => {
        assert.equal(await errorCode(socket, 'ss-join', value, {}), 'ERR_INVALID_ADDRESS')
      })
    }

    it('an address that is not a multiaddr -> ERR_INVALID_ADDRESS', async () => {
      assert.equal(await errorCode(socket, 'ss-join', 'hello world', {}), 'ERR_INVALID_ADDRESS')
    })

    it('a multiaddr that is not a websocket-star peer address -> ERR_INVALID_ADDRESS', async () => {
      assert.equal(await errorCode(socket, 'ss-join', `/ip4/127.0.0.1/tcp/${server.port}/ws/p2p/${ed.peerId.toString()}`, {}), 'ERR_INVALID_ADDRESS')
      assert.equal(await errorCode(socket, 'ss-join', `/ip4/127.0.0.1/tcp/${server.port}/ws/p2p-websocket-star`, {}), 'ERR_INVALID_ADDRESS')
    })

    it('an oversize address (> 1024 chars) -> ERR_INVALID_ADDRESS', async () => {
      assert.equal(await errorCode(socket, 'ss-join', `${peerAddress(server, ed)}${'/'.repeat(2000)}`, {}), 'ERR_INVALID_ADDRESS')
      assert.equal(await errorCode(socket, 'ss-join', 'x'.repeat(100_000), {}), 'ERR_INVALID_ADDRESS')
    })

    for (const [name, value] of [['string', 'hello'], ['number', 7], ['array', [1, 2]], ['Buffer', Buffer.from('x')]] as Array<[string, unknown]>) {
      it(`join data of the wrong type (${name}) -> ERR_BAD_REQUEST`, async () => {
        assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, ed), value), 'ERR_BAD_REQUEST')
      })
    }

    it('an oversize publicKey -> ERR_BAD_REQUEST', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, rsa), { publicKey: 'A'.repeat(3000) }), 'ERR_BAD_REQUEST')
    })

    it('a publicKey of the wrong type -> ERR_BAD_REQUEST', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, rsa), { publicKey: 12345 }), 'ERR_BAD_REQUEST')
    })

    it('an oversize signature -> ERR_BAD_REQUEST', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, ed), { signature: 'A'.repeat(2000) }), 'ERR_BAD_REQUEST')
    })

    it('publicKey and signature together -> ERR_BAD_REQUEST', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, ed), { publicKey: 'AAAA', signature: 'AAAA' }), 'ERR_BAD_REQUEST')
    })

    it('a publicKey that is not a protobuf key -> ERR_INVALID_KEY', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, rsa), { publicKey: 'bm90IGEga2V5' }), 'ERR_INVALID_KEY')
    })

    it('a foreign key (another peer\'s publicKey) -> ERR_PEER_ID_MISMATCH', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, ed), { publicKey: encodePublicKey(other.key.publicKey) }), 'ERR_PEER_ID_MISMATCH')
    })

    it('an RSA peer id with another RSA key (mismatched peer id) -> ERR_PEER_ID_MISMATCH', async () => {
      assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, rsa), { publicKey: encodePublicKey(rsa2.key.publicKey) }), 'ERR_PEER_ID_MISMATCH')
    })

    it('a signature by another key -> ERR_INVALID_SIGNATURE', async () => {
      const address = peerAddress(server, ed)
      const [, { nonce }] = await request(socket, 'ss-join', address, {})
      const signature = await signJoin(other.key, address, nonce)
      assert.equal(await errorCode(socket, 'ss-join', address, { signature }), 'ERR_INVALID_SIGNATURE')
    })

    it('a signature over the bare nonce (legacy style) -> ERR_INVALID_SIGNATURE', async () => {
      const address = peerAddress(server, ed)
      const [, { nonce }] = await request(socket, 'ss-join', address, {})
      const signature = Buffer.from(await ed.key.sign(Buffer.from(nonce))).toString('base64')
      assert.equal(await errorCode(socket, 'ss-join', address, { signature }), 'ERR_INVALID_SIGNATURE')
    })

    it('a signature that is not base64 -> ERR_INVALID_SIGNATURE', async () => {
      const address = peerAddress(server, ed)
      await request(socket, 'ss-join', address, {})
      assert.equal(await errorCode(socket, 'ss-join', address, { signature: '!!not base64!!' }), 'ERR_INVALID_SIGNATURE')
    })

    it('a replayed signature -> ERR_CHALLENGE_EXPIRED', async () => {
      const s = await connect(server)
      const address = peerAddress(server, other)
      const [, { nonce }] = await request(s, 'ss-join', address, {})
      const signature = await signJoin(other.key, address, nonce)
      const [err] = await request(s, 'ss-join', address, { signature })
      assert.equal(err, null)
      assert.equal(await errorCode(s, 'ss-join', address, { signature }), 'ERR_CHALLENGE_EXPIRED')
      s.disconnect()
    })

    it('an expired nonce -> ERR_CHALLENGE_EXPIRED', async () => {
      const address = peerAddress(server, ed)
      const [, { nonce }] = await request(socket, 'ss-join', address, {})
      const signature = await signJoin(ed.key, address, nonce)
      await sleep(80) // ttl 50 ms in this server
      assert.equal(await errorCode(socket, 'ss-join', address, { signature }), 'ERR_CHALLENGE_EXPIRED')
    })

    it('a proof without a hello -> ERR_CHALLENGE_EXPIRED', async () => {
      const address = peerAddress(server, ed)
      const signature = await signJoin(ed.key, address, 'A'.repeat(43))
      assert.equal(await errorCode(socket, 'ss-join', address, { signature }), 'ERR_CHALLENGE_EXPIRED')
    })

    it('a nonce used from another socket -> ERR_CHALLENGE_EXPIRED', async () => {
      const address = peerAddress(server, ed)
      const [, { nonce }] = await request(socket, 'ss-join', address, {})
      const signature = await signJoin(ed.key, address, nonce)
      const thief = await connect(server)
      assert.equal(await errorCode(thief, 'ss-join', address, { signature }), 'ERR_CHALLENGE_EXPIRED')
      thief.disconnect()
    })

    it('a proof for another address than the hello -> ERR_CHALLENGE_EXPIRED', async () => {
      const address = peerAddress(server, ed)
      const [, { nonce }] = await request(socket, 'ss-join', address, {})
      const otherAddress = peerAddress(server, other)
      const signature = await signJoin(other.key, otherAddress, nonce)
      assert.equal(await errorCode(socket, 'ss-join', otherAddress, { signature }), 'ERR_CHALLENGE_EXPIRED')
    })

    it('a join without an ack is dropped and counted', async () => {
      const before = await metricValue(server, rejected('ERR_BAD_REQUEST'))
      socket.emit('ss-join', peerAddress(server, ed), {})
      await sleep(50)
      assert.equal(await metricValue(server, rejected('ERR_BAD_REQUEST')), before + 1)
    })

    it('ss-leave of a malformed address -> ERR_INVALID_ADDRESS; of a foreign one -> ERR_NOT_REGISTERED', async () => {
      assert.equal(await errorCode(socket, 'ss-leave', { evil: true }), 'ERR_INVALID_ADDRESS')
      assert.equal(await errorCode(socket, 'ss-leave', peerAddress(server, other)), 'ERR_NOT_REGISTERED')
    })

    it('unknown events are ignored', async () => {
      socket.emit('ss-whatever', 1, 2, 3)
      socket.emit('ws-peers', { joined: ['x'] })
      const [err] = await request(socket, 'ss-leave', peerAddress(server, rsa))
      assert.equal(err?.code, 'ERR_NOT_REGISTERED', 'the socket still works')
    })
  })

  describe('ss-dial', () => {
    it('a dial from an address this socket has not joined -> ERR_NOT_REGISTERED', async () => {
      const a = await joinedClient(server)
      const b = await joinedClient(server)
      assert.equal(await errorCode(a.socket, 'ss-dial', b.address, a.address), 'ERR_NOT_REGISTERED')
    })

    it('a dial to an offline peer -> ERR_PEER_NOT_FOUND', async () => {
      const a = await joinedClient(server)
      assert.equal(await errorCode(a.socket, 'ss-dial', a.address, peerAddress(server, (await identity()))), 'ERR_PEER_NOT_FOUND')
    })

    it('a dial to itself -> ERR_BAD_REQUEST', async () => {
      const a = await joinedClient(server)
      assert.equal(await errorCode(a.socket, 'ss-dial', a.address, a.address), 'ERR_BAD_REQUEST')
    })

    it('a dial to another address of the same socket -> ERR_BAD_REQUEST', async () => {
      const a = await joinedClient(server)
      const second = await identity()
      await join(a.socket, second, peerAddress(server, second))
      assert.equal(await errorCode(a.socket, 'ss-dial', a.address, peerAddress(server, second)), 'ERR_BAD_REQUEST')
    })

    it('dial arguments of the wrong type -> ERR_INVALID_ADDRESS', async () => {
      const a = await joinedClient(server)
      assert.equal(await errorCode(a.socket, 'ss-dial', a.address, 12), 'ERR_INVALID_ADDRESS')
      assert.equal(await errorCode(a.socket, 'ss-dial', [a.address], a.address), 'ERR_INVALID_ADDRESS')
      assert.equal(await errorCode(a.socket, 'ss-dial', Buffer.from(a.address), a.address), 'ERR_INVALID_ADDRESS')
    })
  })

  describe('frames', () => {
    it('data on a dial id the socket does not own -> e reset ERR_DIAL_NOT_FOUND to the sender only; the owners are unaffected', async () => {
      const a = await joinedClient(server)
      const b = await joinedClient(server)
      const mallory = await joinedClient(server)
      const dialId = await openDial(a, b)
      const endA = new DialEnd(a.socket, dialId, a.result.window)
      const endB = new DialEnd(b.socket, dialId, b.result.window)

      const back = nextEvent(mallory.socket, 'e', (id: string) => id === dialId)
      mallory.socket.emit('d', dialId, Buffer.from('injected'))
      const [, kind, error] = await back
      assert.equal(kind, 'reset')
      assert.equal(error.code, 'ERR_DIAL_NOT_FOUND')
      // credit, close and reset frames of a stranger are dropped silently
      mallory.socket.emit('c', dialId, 1000)
      mallory.socket.emit('e', dialId, 'close-write')
      mallory.socket.emit('e', dialId, 'reset', { code: 'ERR_PEER_GONE', message: 'gotcha' })
      await sleep(50)

      await endA.send(Buffer.from('still fine'))
      await endB.until(() => endB.receivedBytes === 10)
      assert.equal(endB.received().toString(), 'still fine', 'the injected bytes never reached b')
      assert.equal(endA.resetError, undefined)
      assert.equal(endB.resetError, undefined)
      assert.equal(endB.remoteClosed, false)
      assert.equal(server.inspectDial(dialId)?.state, 'open')
      assert.equal(server.inspectDial(dialId)?.forward.inFlight, 10, 'a stranger\'s credit did not count')
    })

    it('data on an unknown dial id -> e reset ERR_DIAL_NOT_FOUND', async () => {
      const a = await joinedClient(server)
      const back = nextEvent(a.socket, 'e')
      a.socket.emit('d', 'A'.repeat(22), Buffer.from('x'))
      const [id, kind, error] = await back
      assert.equal(id, 'A'.repeat(22))
      assert.equal(kind, 'reset')
      assert.equal(error.code, 'ERR_DIAL_NOT_FOUND')
    })

    it('stray data frames get at most stray-reply-burst answers, refilled at stray-reply-rate; both limits show in wsstar_limit', async () => {
      const strict = await startServer({ limits: { strayReplyRate: 0.001, strayReplyBurst: 3 } })
      try {
        const a = await joinedClient(strict)
        let answers = 0
        a.socket.on('e', (_id: string, kind: string, error: { code?: string }) => {
          if (kind === 'reset' && error?.code === 'ERR_DIAL_NOT_FOUND') answers++
        })
        for (let i = 0; i < 10; i++) {
          a.socket.emit('d', 'A'.repeat(22), Buffer.from('x'))
        }
        // answered after the frames, on the same socket: their answers are in by then
        assert.equal(await errorCode(a.socket, 'ss-dial', 12, 12), 'ERR_INVALID_ADDRESS')
        assert.equal(answers, 3)
        assert.equal(await metricValue(strict, 'wsstar_limit{limit="stray-reply-burst"}'), 3)
        assert.equal(await metricValue(strict, 'wsstar_limit{limit="stray-reply-rate"}'), 0.001)
        assert.equal(await metricValue(server, 'wsstar_limit{limit="stray-reply-burst"}'), 20, 'the default burst')
        assert.equal(await metricValue(server, 'wsstar_limit{limit="stray-reply-rate"}'), 10, 'the default rate')
      } finally {
        await strict.stop()
      }
    })

    it('malformed frames are dropped and counted as ERR_BAD_REQUEST', async () => {
      const a = await joinedClient(server)
      const b = await joinedClient(server)
      const dialId = await openDial(a, b)
      const before = await metricValue(server, rejected('ERR_BAD_REQUEST'))
      a.socket.emit('d', 'short', Buffer.from('x')) // bad dial id
      a.socket.emit('d', dialId, 'not binary')
      a.socket.emit('d', dialId, Buffer.alloc(0))
      a.socket.emit('d', dialId, Buffer.alloc(64 * 1024 + 1)) // over maxFrame
      a.socket.emit('c', dialId, -5)
      a.socket.emit('c', dialId, 1.5)
      a.socket.emit('c', dialId, '100')
      a.socket.emit('e', dialId, 'explode')
      a.socket.emit('d')
      await sleep(100)
      assert.equal(await metricValue(server, rejected('ERR_BAD_REQUEST')), before + 9)
      assert.equal(server.inspectDial(dialId)?.state, 'open', 'dropped frames do not touch the dial')
    })

    it('data beyond the credit -> both ends get e reset ERR_FLOW_CONTROL', async () => {
      const a = await joinedClient(server)
      const b = await joinedClient(server)
      const dialId = await openDial(a, b)
      const resetA = nextEvent(a.socket, 'e', (id: string) => id === dialId)
      const resetB = nextEvent(b.socket, 'e', (id: string, kind: string) => id === dialId && kind === 'reset')
      const frame = Buffer.alloc(64 * 1024)
      for (let sent = 0; sent <= a.result.window; sent += frame.byteLength) {
        a.socket.emit('d', dialId, frame)
      }
      const [, kindA, errA] = await resetA
      const [, kindB, errB] = await resetB
      assert.equal(kindA, 'reset')
      assert.equal(errA.code, 'ERR_FLOW_CONTROL')
      assert.equal(kindB, 'reset')
      assert.equal(errB.code, 'ERR_FLOW_CONTROL')
      assert.equal(server.inspectDial(dialId), undefined)
      assert.ok(await metricValue(server, 'wsstar_limit_hits_total{limit="window"}') >= 1)
    })

    it('credit for bytes never received -> both ends get e reset ERR_FLOW_CONTROL', async () => {
      const a = await joinedClient(server)
      const b = await joinedClient(server)
      const dialId = await openDial(a, b)
      const resetA = nextEvent(a.socket, 'e', (id: string) => id === dialId)
      const resetB = nextEvent(b.socket, 'e', (id: string) => id === dialId)
      a.socket.emit('d', dialId, Buffer.alloc(100))
      await waitUntil(() => server.inspectDial(dialId)?.forward.inFlight === 100)
      b.socket.emit('c', dialId, 101)
      assert.equal((await resetA)[2].code, 'ERR_FLOW_CONTROL')
      assert.equal((await resetB)[2].code, 'ERR_FLOW_CONTROL')
    })

    it('a socket.io message over maxMessageBytes closes the socket', async () => {
      const a = await joinedClient(server)
      const closed = nextEvent(a.socket, 'disconnect')
      a.socket.emit('d', 'A'.repeat(22), Buffer.alloc(200 * 1024))
      const before = await metricValue(server, 'wsstar_limit_hits_total{limit="max-message-bytes"}')
      const [reason] = await closed
      assert.equal(reason, 'transport close')
      await waitUntil(() => server.stats().sockets === 0)
      assert.equal(await metricValue(server, 'wsstar_limit_hits_total{limit="max-message-bytes"}'), before + 1)
    })
  })

  describe('announce', () => {
    it('an address naming another server -> ERR_INVALID_ADDRESS', async () => {
      const announced = await startServer({ announce: ['/dns4/rendezvous.example.com/tcp/443/wss'] })
      try {
        const socket = await connect(announced)
        assert.equal(await errorCode(socket, 'ss-join', peerAddress(announced, ed), {}), 'ERR_INVALID_ADDRESS')
        assert.equal(await errorCode(socket, 'ss-join', `/dns4/evil.example.com/tcp/443/wss/p2p-websocket-star/p2p/${ed.peerId.toString()}`, {}), 'ERR_INVALID_ADDRESS')
        const good = `/dns4/rendezvous.example.com/tcp/443/wss/p2p-websocket-star/p2p/${ed.peerId.toString()}`
        await join(socket, ed, good)
        // /tls/ws is the same endpoint as /wss
        const tls = `/dns4/rendezvous.example.com/tcp/443/tls/ws/p2p-websocket-star/p2p/${other.peerId.toString()}`
        await join(socket, other, tls)
        assert.deepEqual(announced.addresses.map(a => a.toString()), ['/dns4/rendezvous.example.com/tcp/443/wss'])
      } finally {
        closeClients()
        await announced.stop()
      }
    })
  })

  describe('rate limits', () => {
    it('joins over the join rate -> ERR_RATE_LIMITED', async () => {
      const limited = await startServer({ limits: { joinRate: 0.001, joinBurst: 2 } })
      try {
        const socket = await connect(limited)
        const address = peerAddress(limited, ed)
        assert.equal(await errorCode(socket, 'ss-join', address, {}), undefined)
        assert.equal(await errorCode(socket, 'ss-join', address, {}), undefined)
        assert.equal(await errorCode(socket, 'ss-join', address, {}), 'ERR_RATE_LIMITED')
        assert.equal(await metricValue(limited, 'wsstar_limit_hits_total{limit="join-rate"}'), 1)
        assert.equal(await metricValue(limited, rejected('ERR_RATE_LIMITED')), 1)
      } finally {
        closeClients()
        await limited.stop()
      }
    })

    it('over the join rate, a hello is refused before its address is parsed (parsing a peer id can cost a curve point decompression)', async () => {
      const limited = await startServer({ limits: { joinRate: 0.001, joinBurst: 1 } })
      try {
        const socket = await connect(limited)
        assert.equal(await errorCode(socket, 'ss-join', peerAddress(limited, ed), {}), undefined)
        assert.equal(await errorCode(socket, 'ss-join', '/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/not-a-peer-id', {}), 'ERR_RATE_LIMITED')
        // a proof is not a join start: no token, and its address is checked as before
        assert.equal(await errorCode(socket, 'ss-join', '/not/an/address', { signature: 'AAAA' }), 'ERR_INVALID_ADDRESS')
      } finally {
        closeClients()
        await limited.stop()
      }
    })

    it('dials over the dial rate -> ERR_RATE_LIMITED', async () => {
      const limited = await startServer({ limits: { dialRate: 0.001, dialBurst: 1 } })
      try {
        const a = await joinedClient(limited)
        const b = await joinedClient(limited)
        await openDial(a, b)
        assert.equal(await errorCode(a.socket, 'ss-dial', a.address, b.address), 'ERR_RATE_LIMITED')
      } finally {
        closeClients()
        await limited.stop()
      }
    })
  })

  describe('count limits', () => {
    it('addresses per socket -> ERR_LIMIT_EXCEEDED', async () => {
      const limited = await startServer({ limits: { maxAddressesPerSocket: 1 } })
      try {
        const socket = await connect(limited)
        await join(socket, ed, peerAddress(limited, ed))
        await assert.rejects(join(socket, other, peerAddress(limited, other)), { code: 'ERR_LIMIT_EXCEEDED' })
        assert.equal(await metricValue(limited, 'wsstar_limit_hits_total{limit="max-addresses-per-socket"}'), 1)
      } finally {
        closeClients()
        await limited.stop()
      }
    })

    it('concurrent joins on one socket cannot overshoot the address limit', async () => {
      const limited = await startServer({ limits: { maxAddressesPerSocket: 2 } })
      try {
        const socket = await connect(limited)
        const peers = await Promise.all([identity(), identity(), identity(), identity(), identity()])
        const signed = await Promise.all(peers.map(async p => {
          const address = peerAddress(limited, p)
          const [, { nonce }] = await request(socket, 'ss-join', address, {})
          return { address, signature: await signJoin(p.key, address, nonce) }
        }))
        const answers = await Promise.all(signed.map(async ({ address, signature }) => request(socket, 'ss-join', address, { signature })))
        assert.equal(answers.filter(([err]) => err == null).length, 2)
        assert.deepEqual(answers.filter(([err]) => err != null).map(([err]) => err?.code), ['ERR_LIMIT_EXCEEDED', 'ERR_LIMIT_EXCEEDED', 'ERR_LIMIT_EXCEEDED'])
        assert.equal(limited.stats().peers, 2)
      } finally {
        closeClients()
        await limited.stop()
      }
    })

    it('peers per server -> ERR_LIMIT_EXCEEDED', async () => {
      const limited = await startServer({ limits: { maxPeers: 1 } })
      try {
        await joinedClient(limited)
        const socket = await connect(limited)
        await assert.rejects(join(socket, other, peerAddress(limited, other)), { code: 'ERR_LIMIT_EXCEEDED' })
      } finally {
        closeClients()
        await limited.stop()
      }
    })

    it('sockets per server -> connect_error with ERR_LIMIT_EXCEEDED', async () => {
      const limited = await startServer({ limits: { maxSockets: 1 } })
      try {
        await connect(limited)
        await assert.rejects(connect(limited), (err: any) => err.data?.code === 'ERR_LIMIT_EXCEEDED')
        assert.equal(limited.stats().sockets, 1)
      } finally {
        closeClients()
        await limited.stop()
      }
    })

    it('concurrent dials per socket -> ERR_LIMIT_EXCEEDED', async () => {
      const limited = await startServer({ limits: { maxDialsPerSocket: 1 } })
      try {
        const a = await joinedClient(limited)
        const b = await joinedClient(limited)
        const c = await joinedClient(limited)
        await openDial(a, b)
        assert.equal(await errorCode(a.socket, 'ss-dial', a.address, c.address), 'ERR_LIMIT_EXCEEDED', 'caller at its limit')
        assert.equal(await errorCode(c.socket, 'ss-dial', c.address, b.address), 'ERR_LIMIT_EXCEEDED', 'callee at its limit')
      } finally {
        closeClients()
        await limited.stop()
      }
    })
  })

  it('a raw websocket with garbage does not hurt the server', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`)
    await pEvent(ws, 'open', { timeout: 5000 })
    ws.send('42["ss-join"')
    ws.send('4garbage')
    ws.send(new Uint8Array([1, 2, 3]))
    ws.send('451-["d","AAAAAAAAAAAAAAAAAAAAAA",{"_placeholder":true,"num":7}]')
    await sleep(50)
    ws.close()
    const s = await connect(server, { auth: null })
    s.disconnect()
  })

  it('after all of the above the server still answers GET /health and serves joins', async () => {
    const health = await getJson(server, '/health')
    assert.equal(health.status, 200)
    assert.equal(health.body.status, 'ok')
    const fresh = await joinedClient(server)
    assert.ok(Array.isArray(fresh.result.peers))
  })
})
