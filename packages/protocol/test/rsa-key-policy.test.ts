import assert from 'node:assert/strict'
import { createPublicKey, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair, publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { ErrorCode, WsStarError, checkRsaKeyPolicy } from '../src/index.js'
import type { PublicKey } from '@libp2p/interface'

/** An RSA public key with a `bits`-bit modulus (random, top bit set; never used to verify) and exponent `e`. */
function rsaKey (bits: number, e: bigint): PublicKey {
  const n = randomBytes(bits / 8)
  n[0] |= 0x80
  n[n.length - 1] |= 1
  let hex = e.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  const spki = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: Buffer.from(hex, 'hex').toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' })
  const length = spki.byteLength
  // libp2p PublicKey protobuf: KeyType RSA (0), Data = PKIX DER
  return publicKeyFromProtobuf(Uint8Array.from([0x08, 0x00, 0x12, (length & 0x7f) | 0x80, length >> 7, ...spki]))
}

function refused (key: PublicKey): boolean {
  try {
    checkRsaKeyPolicy(key)
    return false
  } catch (err) {
    assert.ok(err instanceof WsStarError && err.code === ErrorCode.INVALID_KEY)
    return true
  }
}

describe('RSA key policy', () => {
  it('accepts e = 65537 with a 2048, 3072 or 4096-bit modulus', () => {
    for (const bits of [2048, 3072, 4096]) assert.equal(refused(rsaKey(bits, 65537n)), false, `${bits} bits`)
  })

  it('refuses other exponents (3, 65539, a 3,000-bit one) and moduli of 1024, 2040 or 4104 bits', () => {
    for (const e of [3n, 65539n, (1n << 3000n) + 1n]) assert.equal(refused(rsaKey(2048, e)), true, `e = ${e.toString().slice(0, 12)}`)
    for (const bits of [1024, 2040, 4104]) assert.equal(refused(rsaKey(bits, 65537n)), true, `${bits} bits`)
  })

  it('lets other key types through', async () => {
    checkRsaKeyPolicy((await generateKeyPair('Ed25519')).publicKey)
    checkRsaKeyPolicy((await generateKeyPair('secp256k1')).publicKey)
  })
})
