/**
 * RSA keys a join may use: e = 65537 and a 2048..4096-bit modulus. A huge
 * public exponent fits the size limits and makes every verification cost
 * milliseconds; a short modulus is forgeable. Both are refused at the key
 * (ERR_INVALID_KEY), before any signature is verified.
 */
import assert from 'node:assert/strict'
import { createPublicKey, generateKeyPairSync, generatePrimeSync, sign } from 'node:crypto'
import { after, afterEach, before, describe, it } from 'node:test'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { joinPayload } from '@wsstar/protocol'
import { closeClients, connect, peerAddress, request } from '@wsstar/raw-client'
import { joinedClient, startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'
import type { KeyObject } from 'node:crypto'

/** libp2p's PublicKey protobuf: field 1 (KeyType, RSA = 0), field 2 (Data: PKIX DER). */
function rsaProtobuf (spki: Uint8Array): Uint8Array {
  const length: number[] = []
  let n = spki.byteLength
  while (n >= 0x80) { length.push((n & 0x7f) | 0x80); n >>>= 7 }
  length.push(n)
  return Uint8Array.from([0x08, 0x00, 0x12, ...length, ...spki])
}

function toBase64Url (value: bigint): string {
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  return Buffer.from(hex, 'hex').toString('base64url')
}

interface RsaIdentity { keyBase64: string, peerId: string, sign?: (message: Uint8Array) => string }

function identityOf (spki: Uint8Array, privateKey?: KeyObject): RsaIdentity {
  const bytes = rsaProtobuf(spki)
  const peerId = peerIdFromPublicKey(publicKeyFromProtobuf(bytes)).toString()
  return {
    keyBase64: Buffer.from(bytes).toString('base64'),
    peerId,
    sign: privateKey == null ? undefined : (message) => sign('sha256', message, privateKey).toString('base64')
  }
}

/** A 1024-bit RSA key with e = 65537: a real key pair that signs. */
function shortRsa (): RsaIdentity {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  return identityOf(publicKey.export({ type: 'spki', format: 'der' }), privateKey)
}

/** A 2048-bit modulus with a ~3,000-bit public exponent (what makes a verification cost ms). */
function hugeExponentRsa (): RsaIdentity {
  const p = generatePrimeSync(1024, { bigint: true })
  const q = generatePrimeSync(1024, { bigint: true })
  const e = (1n << 3000n) + 1n + 2n * BigInt(Math.floor(Math.random() * 1e9))
  const key = createPublicKey({ key: { kty: 'RSA', n: toBase64Url(p * q), e: toBase64Url(e | 1n) }, format: 'jwk' })
  return identityOf(key.export({ type: 'spki', format: 'der' }))
}

describe('RSA key policy (e = 65537, 2048..4096-bit modulus)', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer() })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('a huge public exponent: the two-step hello and the one-request join both get ERR_INVALID_KEY', async () => {
    const id = hugeExponentRsa()
    const socket = await connect(server)
    const address = peerAddress(server, id.peerId)
    const [err] = await request(socket, 'ss-join', address, { publicKey: id.keyBase64 })
    assert.equal(err?.code, 'ERR_INVALID_KEY', `hello answered ${JSON.stringify(err)}`)
    const [err2] = await request(socket, 'ss-join', address, { sid: socket.id, signature: Buffer.alloc(256, 7).toString('base64'), publicKey: id.keyBase64 })
    assert.equal(err2?.code, 'ERR_INVALID_KEY', `one-request join answered ${JSON.stringify(err2)}`)
  })

  it('a 1024-bit modulus: ERR_INVALID_KEY, even with a valid signature', async () => {
    const id = shortRsa()
    const socket = await connect(server)
    const address = peerAddress(server, id.peerId)
    const signature = id.sign?.(joinPayload(address, socket.id ?? '')) ?? ''
    const [err, result] = await request(socket, 'ss-join', address, { sid: socket.id, signature, publicKey: id.keyBase64 })
    assert.equal(err?.code, 'ERR_INVALID_KEY', `answered ${JSON.stringify(err ?? result)}`)
  })

  it('a 2048-bit key with e = 65537 still joins (two-step), as do Ed25519 and secp256k1', async () => {
    for (const type of ['RSA', 'Ed25519', 'secp256k1'] as const) {
      const { result } = await joinedClient(server, type)
      assert.equal((result as { verified?: boolean }).verified, true, type)
    }
  })
})
