import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { signJoin } from '@wsstar/protocol'
import { ed25519Backend, nodeEd25519Verify, sodiumEd25519Verify } from '../src/join/ed25519-verify.js'
import { verifyJoinSignature } from '../src/join/join-signature.js'
import type { Ed25519Verify } from '../src/join/ed25519-verify.js'

const ADDRESS = '/ip4/127.0.0.1/tcp/13579/ws/p2p-websocket-star/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
const NONCE = 'x5NjXkXyR3bbqKq5Xk1j6v7d8p0zQwErTyUiOpAsDfG'

const backends: Array<[string, Ed25519Verify | undefined]> = [['node:crypto', nodeEd25519Verify], ['libsodium', sodiumEd25519Verify]]

describe('join signature (Ed25519 backends)', () => {
  it('uses libsodium where sodium-native is installed (it is an optional dependency of this package)', () => {
    assert.equal(ed25519Backend, sodiumEd25519Verify == null ? 'node:crypto' : 'libsodium')
    assert.ok(sodiumEd25519Verify != null, 'sodium-native is installed in this workspace, so libsodium must be picked')
  })

  for (const [name, backend] of backends) {
    it(`${name}: accepts the signer's signature and refuses every altered input`, async (t) => {
      if (backend == null) {
        t.skip('sodium-native not installed')
        return
      }
      const key = await generateKeyPair('Ed25519')
      const other = await generateKeyPair('Ed25519')
      const signature = await signJoin(key, ADDRESS, NONCE)
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS, NONCE, signature, backend), true)
      assert.equal(await verifyJoinSignature(other.publicKey, ADDRESS, NONCE, signature, backend), false, 'another key')
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS, NONCE.replace('x', 'y'), signature, backend), false, 'another nonce')
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS.replace('13579', '13578'), NONCE, signature, backend), false, 'another address')
      const bytes = Buffer.from(signature, 'base64')
      bytes[10] ^= 1
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS, NONCE, bytes.toString('base64'), backend), false, 'a flipped bit')
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS, NONCE, bytes.subarray(0, 63).toString('base64'), backend), false, 'short')
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS, NONCE, 'not base64!', backend), false, 'not base64')
      assert.equal(await verifyJoinSignature(key.publicKey, ADDRESS, NONCE, Buffer.alloc(64).toString('base64'), backend), false, 'zeros')
    })
  }

  it('both backends agree on 200 random valid and corrupted signatures', async (t) => {
    if (sodiumEd25519Verify == null) {
      t.skip('sodium-native not installed')
      return
    }
    const key = await generateKeyPair('Ed25519')
    for (let i = 0; i < 200; i++) {
      const nonce = `${NONCE}${i}`
      const bytes = Buffer.from(await signJoin(key, ADDRESS, nonce), 'base64')
      if (i % 2 === 1) {
        bytes[i % 64] ^= 1 << (i % 8)
      }
      const sig = bytes.toString('base64')
      const a = await verifyJoinSignature(key.publicKey, ADDRESS, nonce, sig, nodeEd25519Verify)
      const b = await verifyJoinSignature(key.publicKey, ADDRESS, nonce, sig, sodiumEd25519Verify)
      assert.equal(a, b, `signature ${i}`)
      assert.equal(a, i % 2 === 0, `signature ${i}`)
    }
  })
})
