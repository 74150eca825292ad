import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_FRAME_BYTES, DEFAULT_WINDOW_BYTES } from '@wsstar/protocol'
import { closeClients, connect, errorCode, identity, join, nextEvent, openDial, openSocket, peerAddress, request, whenConnected } from '@wsstar/raw-client'
import { joinedClient, startServer, waitUntil } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'

describe('join', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer() })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  for (const type of ['Ed25519', 'secp256k1', 'RSA'] as const) {
    it(`registers a ${type} peer through the challenge`, async () => {
      const peer = await identity(type)
      const socket = await connect(server)
      const address = peerAddress(server, peer)
      const [err, first] = await request(socket, 'ss-join', address, type === 'RSA' ? { publicKey: (await import('@wsstar/protocol')).encodePublicKey(peer.key.publicKey) } : {})
      assert.equal(err, null)
      assert.match(first.nonce, /^[A-Za-z0-9_-]{43}$/, 'a 32-byte base64url nonce')
      const result = await join(socket, peer, address)
      assert.deepEqual(result.peers, [])
      assert.equal(result.window, DEFAULT_WINDOW_BYTES)
      assert.equal(result.maxFrame, MAX_FRAME_BYTES)
      assert.equal(server.stats().peers, 1)
      socket.disconnect()
      await waitUntil(() => server.stats().peers === 0 && server.stats().sockets === 0, 2000, 'cleanup')
    })
  }

  it('an RSA peer without its public key gets ERR_INVALID_KEY', async () => {
    const peer = await identity('RSA')
    const socket = await connect(server)
    assert.equal(await errorCode(socket, 'ss-join', peerAddress(server, peer), {}), 'ERR_INVALID_KEY')
  })

  it('accepts the legacy /ipfs/ spelling and registers the canonical /p2p/ address', async () => {
    const peer = await identity()
    const socket = await connect(server)
    const legacy = peerAddress(server, peer).replace('/p2p/', '/ipfs/')
    await join(socket, peer, legacy)
    const other = await joinedClient(server)
    assert.ok(other.result.peers.includes(peerAddress(server, peer)), 'announced in canonical form')
  })

  it('joining the same address again on the same socket is idempotent', async () => {
    const a = await joinedClient(server)
    const again = await join(a.socket, a.peer, a.address)
    assert.deepEqual(again.peers.filter(p => p === a.address), [], 'own address never in its sample')
    assert.equal(server.stats().peers, 1)
  })

  it('a re-join from another socket replaces the old one: evicted, dials reset, new socket gets dials', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(b, a)
    const evicted = nextEvent(a.socket, 'ss-evicted')
    const oldReset = nextEvent(a.socket, 'e', (id: string) => id === dialId)
    const otherReset = nextEvent(b.socket, 'e', (id: string) => id === dialId)

    const a2 = await connect(server)
    await join(a2, a.peer, a.address)

    const [payload] = await evicted
    assert.equal(payload.address, a.address)
    assert.equal(payload.code, 'ERR_REPLACED')
    const [, kindOld, errOld] = await oldReset
    assert.equal(kindOld, 'reset')
    assert.equal(errOld.code, 'ERR_REPLACED')
    const [, kind, err] = await otherReset
    assert.equal(kind, 'reset')
    assert.equal(err.code, 'ERR_PEER_GONE')
    assert.equal(server.inspectDial(dialId), undefined)

    // dials now reach the new socket
    const id2 = await openDial(b, { socket: a2, address: a.address })
    assert.equal(server.inspectDial(id2)?.state, 'open')
    // and the old socket can no longer dial as that peer
    assert.equal(await errorCode(a.socket, 'ss-dial', a.address, b.address), 'ERR_NOT_REGISTERED')
    assert.equal(server.stats().peers, 2)
  })

  it('a socket that never joins is disconnected after the handshake timeout', async () => {
    // long enough for the socket.io connect to complete first on a loaded machine; the
    // disconnect is listened for before the connect, so a quick cut is not missed
    const quick = await startServer({ limits: { handshakeTimeoutMs: 300 } })
    try {
      const socket = openSocket(quick)
      const disconnected = nextEvent(socket, 'disconnect', () => true, 5000)
      await whenConnected(socket)
      const [reason] = await disconnected
      assert.equal(reason, 'io server disconnect')
      assert.equal(quick.stats().sockets, 0)
    } finally {
      await quick.stop()
    }
  })

  it('accepts a socket without the wsstar/2 handshake (legacy mode comes later)', async () => {
    const peer = await identity()
    const socket = await connect(server, { auth: null })
    await join(socket, peer, peerAddress(server, peer))
  })

  it('with the challenge off, step 1 registers directly', async () => {
    const open = await startServer({ challenge: false })
    try {
      const peer = await identity()
      const socket = await connect(open)
      const [err, result] = await request(socket, 'ss-join', peerAddress(open, peer), {})
      assert.equal(err, null)
      assert.equal(result.nonce, undefined)
      assert.deepEqual(result.peers, [])
      assert.equal(result.window, DEFAULT_WINDOW_BYTES)
      assert.equal(open.stats().peers, 1)
    } finally {
      await open.stop()
    }
  })

  it('ss-leave unregisters; a second leave gets ERR_NOT_REGISTERED', async () => {
    const a = await joinedClient(server)
    const before = server.stats().peers
    const [err] = await request(a.socket, 'ss-leave', a.address)
    assert.equal(err, null)
    assert.equal(server.stats().peers, before - 1)
    assert.equal(await errorCode(a.socket, 'ss-leave', a.address), 'ERR_NOT_REGISTERED')
  })
})
