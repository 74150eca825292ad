/**
 * Hostile: identity. Nobody without a peer's private key can register its
 * peer id, displace its registration, or act as it, against a real server
 * process (`--announce` set, 1 s nonce lifetime; then default options). Each
 * attempt is rejected with its code, every code is counted in /metrics, and
 * the legitimate owner keeps receiving dials throughout. A hostile server a
 * peer might dial (`helpers/relaying-server.ts`) gets nothing it can use at
 * the real one, and a caller cannot choose the address it is seen from.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { encodePublicKey, joinPayload, signJoin } from '@wsstar/protocol'
import { closeClients, connect, dial, errorCode, identity, nextEvent, peerAddress, pump, rawPeer, request, tryJoin } from '@wsstar/raw-client'
import { toString } from 'uint8arrays'
import { createNode, wsstarOf } from '../helpers/nodes.js'
import { listenAddr } from '../helpers/rendezvous.js'
import { relayingServer } from './helpers/relaying-server.js'
import { spawnServer } from './helpers/server-process.js'
import { sleep, waitFor } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { TestNode } from '../helpers/nodes.js'
import type { RawPeer } from '@wsstar/raw-client'
import type { Socket } from 'socket.io-client'

const b64 = (bytes: Uint8Array): string => toString(bytes, 'base64')

describe('hostile: identity', { timeout: 60_000 }, () => {
  let a: ServerProcess
  let b: ServerProcess
  let victim: RawPeer
  let victimEvicted = 0
  const expected: Record<string, number> = {}
  const expect = (code: string | undefined, want: string): void => {
    assert.equal(code, want)
    expected[want] = (expected[want] ?? 0) + 1
  }

  before(async () => {
    // A knows its public address; B is "another server" (e.g. a malicious one collecting signatures)
    const { freePort } = await import('./helpers/server-process.js')
    const portA = await freePort()
    ;[a, b] = await Promise.all([
      spawnServer(['--announce', `/ip4/127.0.0.1/tcp/${portA}/ws`, '--challenge-ttl', '1s', '--join-rate', '1000', '--join-burst', '1000'], { port: portA }),
      spawnServer([])
    ])
    victim = await rawPeer(a.port)
    victim.socket.on('ss-evicted', () => { victimEvicted++ })
  })

  after(async () => {
    closeClients()
    const exits = await Promise.all([a?.stop(), b?.stop()])
    assert.deepEqual(exits.map(e => e?.code), [0, 0], 'both servers exit 0 on SIGTERM')
  })

  it('spoofed address: a hello for a peer id whose key the spoofer lacks gets a nonce, but no signature it can make verifies', async () => {
    const mallory = await identity()
    const socket = await connect(a.port)
    const [err, hello] = await request(socket, 'ss-join', victim.address, {})
    assert.equal(err, null)
    assert.equal(typeof hello.nonce, 'string')
    // signs the right payload with its own key
    const [err2] = await request(socket, 'ss-join', victim.address, { signature: await signJoin(mallory.key, victim.address, hello.nonce) })
    expect(err2?.code, 'ERR_INVALID_SIGNATURE')
    // the same with the legacy /ipfs/ spelling: still the victim's peer id
    const legacy = victim.address.replace('/p2p/', '/ipfs/')
    const [, hello2] = await request(socket, 'ss-join', legacy, {})
    expect(await errorCode(socket, 'ss-join', legacy, { signature: await signJoin(mallory.key, legacy, hello2.nonce) }), 'ERR_INVALID_SIGNATURE')
  })

  it('foreign key: a hello with another peer\'s public key -> ERR_PEER_ID_MISMATCH; a key that is no key -> ERR_INVALID_KEY', async () => {
    const mallory = await identity()
    const rsa = await generateKeyPair('RSA', 1024)
    const socket = await connect(a.port)
    expect(await errorCode(socket, 'ss-join', victim.address, { publicKey: encodePublicKey(mallory.key.publicKey) }), 'ERR_PEER_ID_MISMATCH')
    expect(await errorCode(socket, 'ss-join', victim.address, { publicKey: encodePublicKey(rsa.publicKey) }), 'ERR_PEER_ID_MISMATCH')
    expect(await errorCode(socket, 'ss-join', victim.address, { publicKey: b64(new Uint8Array(40).fill(7)) }), 'ERR_INVALID_KEY')
    // a private key where the public key belongs
    expect(await errorCode(socket, 'ss-join', victim.address, { publicKey: b64(privateKeyToProtobuf(mallory.key)) }), 'ERR_INVALID_KEY')
  })

  it('bad signatures -> ERR_INVALID_SIGNATURE, and a failed proof spends the nonce (no guessing on one nonce)', async () => {
    const me = await identity()
    const address = peerAddress(a.port, me.peerId)
    const socket = await connect(a.port)
    const wrongPayloads = [
      async () => b64(crypto.getRandomValues(new Uint8Array(64))),
      async () => '!!!not base64!!!',
      async (nonce: string) => (await signJoin(me.key, address, nonce)).slice(0, 40), // truncated
      async (nonce: string) => b64(await me.key.sign(new TextEncoder().encode(nonce))), // the bare nonce, legacy style
      async (nonce: string) => b64(await me.key.sign(new TextEncoder().encode(`wsstar/1 join\n${address}\n${nonce}`))), // another prefix
      async (nonce: string) => b64(await me.key.sign(joinPayload(address, nonce.slice(1) + 'A'))) // another nonce
    ]
    for (const wrong of wrongPayloads) {
      const [, hello] = await request(socket, 'ss-join', address, {})
      expect(await errorCode(socket, 'ss-join', address, { signature: await wrong(hello.nonce) }), 'ERR_INVALID_SIGNATURE')
      // the right signature for the spent nonce comes too late
      expect(await errorCode(socket, 'ss-join', address, { signature: await signJoin(me.key, address, hello.nonce) }), 'ERR_CHALLENGE_EXPIRED')
    }
  })

  it('replayed signature: the owner\'s proof replayed on its socket and on another -> ERR_CHALLENGE_EXPIRED', async () => {
    const owner = await identity()
    const address = peerAddress(a.port, owner.peerId)
    const socket = await connect(a.port)
    const [, hello] = await request(socket, 'ss-join', address, {})
    const signature = await signJoin(owner.key, address, hello.nonce)
    const [err] = await request(socket, 'ss-join', address, { signature })
    assert.equal(err, null)
    expect(await errorCode(socket, 'ss-join', address, { signature }), 'ERR_CHALLENGE_EXPIRED')
    const eve = await connect(a.port)
    expect(await errorCode(eve, 'ss-join', address, { signature }), 'ERR_CHALLENGE_EXPIRED')
    // eve asks for her own nonce: the captured signature is over the owner's nonce
    await request(eve, 'ss-join', address, {})
    expect(await errorCode(eve, 'ss-join', address, { signature }), 'ERR_INVALID_SIGNATURE')
  })

  it('one-request join (signature over the socket id): verified on its own socket; another socket\'s id, key or address is refused', async () => {
    const owner = await identity()
    const mallory = await identity()
    const address = peerAddress(a.port, owner.peerId)
    const socket = await connect(a.port)
    const eve = await connect(a.port)
    assert.ok(socket.id != null && eve.id != null && socket.id !== eve.id)
    const sid = socket.id
    // mallory signs the owner's address over the socket's id with her own key
    expect(await errorCode(socket, 'ss-join', address, { sid, signature: await signJoin(mallory.key, address, sid) }), 'ERR_INVALID_SIGNATURE')
    // a signature over the id of another socket, or naming it
    expect(await errorCode(socket, 'ss-join', address, { sid: eve.id, signature: await signJoin(owner.key, address, eve.id as string) }), 'ERR_CHALLENGE_EXPIRED')
    expect(await errorCode(socket, 'ss-join', address, { sid, signature: await signJoin(owner.key, address, eve.id as string) }), 'ERR_INVALID_SIGNATURE')
    // the owner's right signature, but over the address's other spelling
    expect(await errorCode(socket, 'ss-join', address, { sid, signature: await signJoin(owner.key, address.replace('/p2p/', '/ipfs/'), sid) }), 'ERR_INVALID_SIGNATURE')
    const signature = await signJoin(owner.key, address, sid)
    const [err, result] = await request(socket, 'ss-join', address, { sid, signature })
    assert.equal(err, null)
    assert.equal(result.verified, true)
    assert.ok(Array.isArray(result.peers))
    // eve replays the captured join on her socket: its id is not hers
    expect(await errorCode(eve, 'ss-join', address, { sid, signature }), 'ERR_CHALLENGE_EXPIRED')
    expect(await errorCode(eve, 'ss-join', address, { sid: eve.id, signature }), 'ERR_INVALID_SIGNATURE')
  })

  it('expired nonce (1 s lifetime) -> ERR_CHALLENGE_EXPIRED', async () => {
    const me = await identity()
    const address = peerAddress(a.port, me.peerId)
    const socket = await connect(a.port)
    const [, hello] = await request(socket, 'ss-join', address, {})
    await sleep(1200)
    expect(await errorCode(socket, 'ss-join', address, { signature: await signJoin(me.key, address, hello.nonce) }), 'ERR_CHALLENGE_EXPIRED')
  })

  it('a signature made for another server is useless here: its address -> ERR_INVALID_ADDRESS, over our nonce -> ERR_INVALID_SIGNATURE', async () => {
    // the victim joins server B for real; B (or anyone on the path) keeps its proof
    const traveller = await identity()
    const atB = peerAddress(b.port, traveller.peerId)
    const bSocket = await connect(b.port)
    const [, helloB] = await request(bSocket, 'ss-join', atB, {})
    const proofForB = await signJoin(traveller.key, atB, helloB.nonce)
    assert.equal((await request(bSocket, 'ss-join', atB, { signature: proofForB }))[0], null)

    const eve = await connect(a.port)
    // A announces only itself: an address naming B is refused at either step
    expect(await errorCode(eve, 'ss-join', atB, {}), 'ERR_INVALID_ADDRESS')
    expect(await errorCode(eve, 'ss-join', atB, { signature: proofForB }), 'ERR_INVALID_ADDRESS')
    // eve gets a nonce from A and has the traveller (through B) sign it for B's address
    const atA = peerAddress(a.port, traveller.peerId)
    const [, helloA] = await request(eve, 'ss-join', atA, {})
    const relayedSignature = await signJoin(traveller.key, atB, helloA.nonce)
    expect(await errorCode(eve, 'ss-join', atA, { signature: relayedSignature }), 'ERR_INVALID_SIGNATURE')
    // an address on A's port but another host is another server too
    expect(await errorCode(eve, 'ss-join', peerAddress(a.port, traveller.peerId, '10.0.0.1'), {}), 'ERR_INVALID_ADDRESS')
  })

  it('a signature made for another address of the same peer does not verify', async () => {
    const me = await identity()
    const address = peerAddress(a.port, me.peerId)
    const legacy = address.replace('/p2p/', '/ipfs/')
    const socket = await connect(a.port)
    // nonce for the /ipfs/ spelling, signature over the /p2p/ spelling: the signed string is the one sent
    const [, hello] = await request(socket, 'ss-join', legacy, {})
    expect(await errorCode(socket, 'ss-join', legacy, { signature: await signJoin(me.key, address, hello.nonce) }), 'ERR_INVALID_SIGNATURE')
    // a proof sent for another address than the hello's: no nonce for that address
    const [, hello2] = await request(socket, 'ss-join', legacy, {})
    expect(await errorCode(socket, 'ss-join', address, { signature: await signJoin(me.key, address, hello2.nonce) }), 'ERR_CHALLENGE_EXPIRED')
  })

  it('nobody without the key displaces or acts as the registered owner; the owner keeps receiving dials', async () => {
    const mallory = await rawPeer(a.port)
    const victimAsIpfs = victim.address.replace('/p2p/', '/ipfs/')
    for (let round = 0; round < 20; round++) {
      const target = round % 2 === 0 ? victim.address : victimAsIpfs
      const [, hello] = await request(mallory.socket, 'ss-join', target, {})
      expect(await errorCode(mallory.socket, 'ss-join', target, { signature: await signJoin(mallory.key, target, hello.nonce) }), 'ERR_INVALID_SIGNATURE')
      expect(await errorCode(mallory.socket, 'ss-leave', target), 'ERR_NOT_REGISTERED')
      expect(await errorCode(mallory.socket, 'ss-dial', target, mallory.address), 'ERR_NOT_REGISTERED')
    }
    // unauthenticated sockets cannot leave or dial as the victim either
    const stranger = await connect(a.port)
    expect(await errorCode(stranger, 'ss-leave', victim.address), 'ERR_NOT_REGISTERED')
    expect(await errorCode(stranger, 'ss-dial', victim.address, mallory.address), 'ERR_NOT_REGISTERED')

    assert.equal(victimEvicted, 0, 'the victim was never evicted')
    // a third peer dials the victim by its peer id: the victim (and only it) gets the dial
    const caller = await rawPeer(a.port)
    const dialId = await dial(caller, victim.address)
    assert.ok(victim.incoming.includes(dialId), 'the victim received the dial')
    assert.deepEqual(mallory.incoming, [])
    const moved = await pump(caller.socket, victim.socket, dialId, 256 * 1024, 1024 * 1024)
    assert.ok(moved.intact)
  })

  it('with the key, the owner can move its registration to a new socket (the old one gets ERR_REPLACED)', async () => {
    const owner = await rawPeer(a.port)
    const evicted = nextEvent(owner.socket, 'ss-evicted')
    const again = await connect(a.port)
    const [err] = await tryJoin(again, owner, owner.address)
    assert.equal(err, null)
    assert.equal((await evicted)[0].code, 'ERR_REPLACED')
  })

  it('with --announce, even a relay that writes its own Host header gets ERR_INVALID_ADDRESS for a join signed for it', async () => {
    const relay = await relayingServer(a.port, { host: 'self' })
    try {
      const toRelay = await connect(relay.port)
      const sid = toRelay.id as string
      const address = `${relay.server}/p2p-websocket-star/p2p/${victim.peerId.toString()}`
      const [err] = await request(toRelay, 'ss-join', address, { sid, signature: await signJoin(victim.key, address, sid) })
      expect(err?.code, 'ERR_INVALID_ADDRESS')
      expect(await errorCode(toRelay, 'ss-join', address, {}), 'ERR_INVALID_ADDRESS')
      assert.equal(relay.joins.length, 2, 'both joins reached the real server')
      assert.equal(victimEvicted, 0, 'the victim was never evicted')
    } finally {
      await relay.close()
    }
  })

  it('every rejection is counted by code in /metrics, and the server never restarted', async () => {
    const rejected = await a.metricsOf('wsstar_rejected_total')
    for (const [code, n] of Object.entries(expected)) {
      assert.ok((rejected[`code="${code}"`] ?? 0) >= n, `${code}: ${rejected[`code="${code}"`]} counted, ${n} caused`)
    }
    const joins = await a.metricsOf('wsstar_joins_total')
    assert.ok((joins['result="ERR_INVALID_SIGNATURE"'] ?? 0) >= expected.ERR_INVALID_SIGNATURE)
    assert.ok(a.alive() && b.alive())
    const health = await a.health()
    assert.equal(health.body.status, 'ok')
    console.log(`# identity rejections caused: ${JSON.stringify(expected)}`)
  })
})

/** The error's name, or the name of the first error inside an AggregateError (libp2p's dial queue). */
function errorNames (err: any): string[] {
  return [err?.name, ...(Array.isArray(err?.errors) ? err.errors.map((e: any) => e?.name) : [])]
}

describe('hostile: identity with default options (no --announce)', { timeout: 90_000 }, () => {
  let r: ServerProcess
  let owner: RawPeer
  const evictions: unknown[] = []

  /** The owner is still the one registered: never evicted, and a dial to its address reaches it. */
  async function ownerHolds (): Promise<void> {
    await sleep(100)
    assert.deepEqual(evictions, [], 'the owner was evicted')
    const caller = await rawPeer(r.port)
    const dialId = await dial(caller, owner.address)
    assert.ok(owner.incoming.includes(dialId), 'the owner received the dial')
  }

  /** A client that lets the server choose its Host header: what an address-spoofing caller does. */
  async function connectAs (host: string): Promise<Socket> {
    return await connect(r.port, { headers: { Host: host } })
  }

  before(async () => {
    r = await spawnServer(['--join-rate', '1000', '--join-burst', '1000'])
    owner = await rawPeer(r.port)
    owner.socket.on('ss-evicted', (payload: unknown) => { evictions.push(payload) })
  })

  after(async () => {
    closeClients()
    const exit = await r?.stop()
    assert.equal(exit?.code, 0, 'the server exits 0 on SIGTERM')
  })

  it('a one-request join a hostile server relays (signed over the socket id it handed out) -> ERR_INVALID_ADDRESS; the owner stays', async () => {
    const relay = await relayingServer(r.port)
    try {
      // the owner's client connects to the hostile server (as a client that joins any server it dials through would)
      const toRelay = await connect(relay.port)
      const sid = toRelay.id as string
      assert.ok(relay.upstream.has(sid), 'the hostile server handed out its own socket id at the real server')
      const address = `${relay.server}/p2p-websocket-star/p2p/${owner.peerId.toString()}`
      const [err, result] = await request(toRelay, 'ss-join', address, { sid, signature: await signJoin(owner.key, address, sid) })
      assert.equal(relay.joins.length, 1, 'the join reached the real server')
      await sleep(100)
      assert.deepEqual(evictions, [], `hijacked: the real server answered ${JSON.stringify(err ?? result)} and evicted the owner`)
      assert.equal(err?.code, 'ERR_INVALID_ADDRESS')
      await ownerHolds()
    } finally {
      await relay.close()
    }
  })

  it('a two-step join a hostile server relays (its nonce forwarded) -> ERR_INVALID_ADDRESS at the hello; the owner stays', async () => {
    const relay = await relayingServer(r.port)
    try {
      const toRelay = await connect(relay.port)
      const address = `${relay.server}/p2p-websocket-star/p2p/${owner.peerId.toString()}`
      const [err, hello] = await request(toRelay, 'ss-join', address, {})
      if (err == null && typeof hello?.nonce === 'string') {
        // the owner's client signs the nonce the real server issued to the attacker
        await request(toRelay, 'ss-join', address, { signature: await signJoin(owner.key, address, hello.nonce) })
        await sleep(100)
      }
      assert.deepEqual(evictions, [], 'hijacked through the two-step join')
      assert.equal(err?.code, 'ERR_INVALID_ADDRESS')
      await ownerHolds()
    } finally {
      await relay.close()
    }
  })

  it('a one-request join is usable once per socket: the same join again on that socket -> ERR_CHALLENGE_EXPIRED, a two-step join still works', async () => {
    const me = await identity()
    const address = peerAddress(r.port, me.peerId)
    const socket = await connect(r.port)
    const sid = socket.id as string
    const signature = await signJoin(me.key, address, sid)
    const [err, result] = await request(socket, 'ss-join', address, { sid, signature })
    assert.equal(err, null)
    assert.equal(result.verified, true)
    assert.equal(await errorCode(socket, 'ss-leave', address), undefined)
    assert.equal(await errorCode(socket, 'ss-join', address, { sid, signature }), 'ERR_CHALLENGE_EXPIRED')
    assert.equal(await errorCode(socket, 'ss-join', address.replace('/p2p/', '/ipfs/'), { sid, signature: await signJoin(me.key, address.replace('/p2p/', '/ipfs/'), sid) }), 'ERR_CHALLENGE_EXPIRED')
    const [again] = await tryJoin(socket, me, address)
    assert.equal(again, null, 'the two-step join (what the transport falls back to) still registers')
  })

  it('a captured one-request join cannot be replayed after the owner moved back: ERR_CHALLENGE_EXPIRED, the owner stays', async () => {
    // a signature the owner made for this server over the attacker's socket id (a
    // relay reachable under this server's own name): its first use cannot be told
    // from the owner's own join
    const eve = await connect(r.port)
    const sid = eve.id as string
    const signature = await signJoin(owner.key, owner.address, sid)
    const [first] = await request(eve, 'ss-join', owner.address, { sid, signature })
    assert.equal(first, null)
    await waitFor(() => evictions.length === 1, 5000, 'the owner evicted by the first use')
    assert.equal((evictions[0] as { code?: string }).code, 'ERR_REPLACED')
    evictions.length = 0
    // the owner comes back from its own socket, eve is evicted
    const eveEvicted = nextEvent(eve, 'ss-evicted')
    const [back] = await tryJoin(owner.socket, owner, owner.address)
    assert.equal(back, null)
    await eveEvicted
    // and replays the captured join on the same socket
    const [replay] = await request(eve, 'ss-join', owner.address, { sid, signature })
    await sleep(100)
    assert.deepEqual(evictions, [], 'the replay evicted the owner again')
    assert.equal(replay?.code, 'ERR_CHALLENGE_EXPIRED')
    await ownerHolds()
  })

  describe('with libp2p nodes', () => {
    let node: TestNode
    let nodeEvicted = 0

    before(async () => {
      node = await createNode({ listen: [listenAddr(r.port)], wsstar: { dialTimeout: 3000 } })
      wsstarOf(node).addEventListener('status', (evt) => { if (evt.detail.status === 'evicted') nodeEvicted++ })
      await waitFor(() => node.getMultiaddrs().length > 0, 10_000, 'the node registered')
    })

    after(async () => { await node?.stop() })

    it('a node never joins a server it was not configured with: a dial naming a hostile server fails with UnknownServerError, nothing reaches that server', async () => {
      for (const host of [undefined, 'self'] as const) {
        const relay = await relayingServer(r.port, host == null ? {} : { host })
        try {
          const attacker = await identity()
          const target = multiaddr(`${relay.server}/p2p-websocket-star/p2p/${attacker.peerId.toString()}`)
          const failure = await node.dial(target, { signal: AbortSignal.timeout(5000) }).then(() => undefined, (err: unknown) => err)
          await sleep(100)
          assert.equal(relay.connections, 0, `the node connected to the hostile server; its joins there: ${JSON.stringify(relay.joins.map(j => j.err ?? j.result))}`)
          assert.equal(nodeEvicted, 0, 'the node was evicted at its own server')
          assert.ok(errorNames(failure).includes('UnknownServerError'), `dial failed with ${errorNames(failure).join(', ')}: ${String(failure)}`)
        } finally {
          await relay.close()
        }
      }
      // still registered and dialable where it listens
      const caller = await rawPeer(r.port)
      await dial(caller, `${listenAddr(r.port)}/p2p/${node.peerId.toString()}`)
    })

    it('an inbound connection\'s remoteAddr is the callee\'s server + the caller\'s peer id, not the address the caller joined with', async () => {
      const seen: string[] = []
      const callee = await createNode({
        listen: [listenAddr(r.port)],
        connectionGater: { denyInboundConnection: (maConn) => { seen.push(maConn.remoteAddr.toString()); return true } }
      })
      try {
        await waitFor(() => callee.getMultiaddrs().length > 0, 10_000, 'the callee registered')
        const mallory = await identity()
        // the caller claims to be reached at 6.6.6.6 (its Host header says so)
        const socket = await connectAs(`6.6.6.6:${r.port}`)
        const spoofed = peerAddress(r.port, mallory.peerId, '6.6.6.6')
        const [joinErr] = await tryJoin(socket, mallory, spoofed)
        assert.equal(joinErr, null)
        const [dialErr] = await request(socket, 'ss-dial', spoofed, `${listenAddr(r.port)}/p2p/${callee.peerId.toString()}`)
        assert.equal(dialErr, null)
        await waitFor(() => seen.length > 0, 5000, 'the inbound connection reached the gater')
        assert.deepEqual(seen, [`${listenAddr(r.port)}/p2p/${mallory.peerId.toString()}`])
        socket.disconnect()
      } finally {
        await callee.stop()
      }
    })

    it('discovery never points a node at another server: an address announced with another server part is re-homed on the announcing server', async () => {
      const mallory = await identity()
      const socket = await connectAs(`6.6.6.6:${r.port}`)
      const [joinErr] = await tryJoin(socket, mallory, peerAddress(r.port, mallory.peerId, '6.6.6.6'))
      assert.equal(joinErr, null)
      try {
        await waitFor(async () => await node.peerStore.has(mallory.peerId), 10_000, 'the node discovered the peer')
        const stored = (await node.peerStore.get(mallory.peerId)).addresses.map(a => a.multiaddr.toString())
        assert.deepEqual(stored, [listenAddr(r.port)], JSON.stringify(stored))
      } finally {
        socket.disconnect()
      }
    })
  })
})
