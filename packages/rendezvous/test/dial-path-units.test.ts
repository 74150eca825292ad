import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ErrorCode, WsStarError, parseDialId, parsePeerAddress } from '@wsstar/protocol'
import { AddressPeerIds } from '../src/dial/address-peer-ids.js'
import { DialIdPool } from '../src/dial/dial-ids.js'

describe('DialIdPool', () => {
  it('makes well-formed, distinct ids across refills', () => {
    const pool = new DialIdPool()
    const ids = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const id = pool.next()
      assert.equal(parseDialId(id), id)
      ids.add(id)
    }
    assert.equal(ids.size, 10_000)
  })
})

describe('AddressPeerIds', () => {
  it('answers what parsePeerAddress answers, from the cache on repeats', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const cache = new AddressPeerIds()
    for (const address of [
      `/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/${peerId}`,
      `/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/ipfs/${peerId}`,
      `/dns4/example.com/tcp/443/wss/p2p-websocket-star/p2p/${peerId}`
    ]) {
      assert.equal(cache.of(address), parsePeerAddress(address).peerId.toString())
      assert.equal(cache.of(address), peerId)
    }
  })

  it('throws the parser\'s error for invalid input, every time', () => {
    const cache = new AddressPeerIds()
    for (const input of [42, null, '', '/ip4/127.0.0.1/tcp/1/ws', '/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/nope', 'x'.repeat(2000)]) {
      for (let i = 0; i < 2; i++) {
        assert.throws(() => cache.of(input), (err: unknown) => err instanceof WsStarError && err.code === ErrorCode.INVALID_ADDRESS)
      }
    }
  })
})
