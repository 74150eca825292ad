import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { toString } from 'uint8arrays'
import { ErrorCode, WsStarError, createNonce, encodePublicKey, joinPayload, publicKeyForPeer, signJoin, verifyJoin } from '../src/index.js'

const NONCE = 'A'.repeat(43)

describe('join challenge', () => {
  it('signs the domain-separated payload byte for byte', () => {
    const payload = joinPayload('/ip4/1.2.3.4/tcp/1/ws/p2p-websocket-star/p2p/X', 'n0nce')
    assert.equal(toString(payload, 'utf8'), 'wsstar/2 join\n/ip4/1.2.3.4/tcp/1/ws/p2p-websocket-star/p2p/X\nn0nce')
  })

  it('matches the known-answer vector for Ed25519 (seed 0..31)', async () => {
    // Ed25519 signatures are deterministic: a change to the signed payload breaks this vector.
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).map((_, i) => i))
    const id = peerIdFromPrivateKey(key)
    assert.equal(id.toString(), '12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB')
    const address = `/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/${id}`
    const signature = await signJoin(key, address, NONCE)
    assert.equal(signature, 'RkE1JczmbFJnmG2Z1BENBAZmKyZWpti0zQhEyEHPOfWcI4eSJD+Hn5nv3d/VcXPm3GieeSOmczMTVu8KU6yZCw')
    assert.equal(await verifyJoin(key.publicKey, address, NONCE, signature), true)
    assert.equal(await verifyJoin(key.publicKey, address, NONCE, `${signature}==`), true, 'padded base64 is accepted')
  })

  for (const type of ['Ed25519', 'secp256k1', 'RSA'] as const) {
    it(`round-trips and rejects tampering for ${type}`, async () => {
      const key = type === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(type)
      const id = peerIdFromPrivateKey(key)
      const address = `/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/${id}`
      const nonce = createNonce()
      const publicKey = publicKeyForPeer(id, type === 'RSA' ? encodePublicKey(key.publicKey) : undefined)
      const signature = await signJoin(key, address, nonce)
      assert.equal(await verifyJoin(publicKey, address, nonce, signature), true)
      assert.equal(await verifyJoin(publicKey, address, createNonce(), signature), false, 'other nonce')
      assert.equal(await verifyJoin(publicKey, address.replace('13579', '13580'), nonce, signature), false, 'other server')
      assert.equal(await verifyJoin(publicKey, address, nonce, 'not base64!'), false, 'garbage signature')
      assert.equal(await verifyJoin(publicKey, address, nonce, ''), false, 'empty signature')
    })
  }

  it('creates 32-byte single-use nonces', () => {
    const a = createNonce()
    assert.equal(a.length, 43)
    assert.notEqual(a, createNonce())
  })

  it('requires a public key for RSA peer ids and checks it matches', async () => {
    const rsa = await generateKeyPair('RSA', 2048)
    const other = await generateKeyPair('Ed25519')
    // as it arrives from the wire: an RSA id string does not carry the key
    const id = peerIdFromString(peerIdFromPrivateKey(rsa).toString())
    assert.throws(() => publicKeyForPeer(id), (e: unknown) => e instanceof WsStarError && e.code === ErrorCode.INVALID_KEY)
    assert.throws(() => publicKeyForPeer(id, encodePublicKey(other.publicKey)), (e: unknown) => e instanceof WsStarError && e.code === ErrorCode.PEER_ID_MISMATCH)
    assert.throws(() => publicKeyForPeer(id, 'AAAA'), (e: unknown) => e instanceof WsStarError && e.code === ErrorCode.INVALID_KEY)
    assert.equal(publicKeyForPeer(peerIdFromString('12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB')).type, 'Ed25519')
  })
})
