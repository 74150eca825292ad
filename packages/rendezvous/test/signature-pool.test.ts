import assert from 'node:assert/strict'
import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { packBatch, verifyBatch } from '../src/join/ed25519-batch.js'
import { SignaturePool } from '../src/join/signature-pool.js'
import { ed25519Verify } from '../src/join/ed25519-verify.js'

interface Case { signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, valid: boolean }

/** `n` signatures, every third one corrupted (signature, message or key). */
function cases (n: number): Case[] {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const other = generateKeyPairSync('ed25519').publicKey
  const raw = (key: typeof publicKey): Uint8Array => new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url'))
  const out: Case[] = []
  for (let i = 0; i < n; i++) {
    const message = new TextEncoder().encode(`wsstar/2 join\n/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/x${i}\nnonce-${'n'.repeat(i % 50)}`)
    const signature = new Uint8Array(sign(null, message, privateKey))
    const c: Case = { signature, message, publicKey: raw(publicKey), valid: true }
    if (i % 3 === 1) {
      const which = i % 9
      if (which < 3) c.signature = signature.map((b, j) => j === i % 64 ? b ^ 1 : b)
      else if (which < 6) c.message = message.map((b, j) => j === 3 ? b ^ 1 : b)
      else c.publicKey = raw(other)
      c.valid = false
    }
    out.push(c)
  }
  return out
}

describe('SignaturePool: Ed25519 join signatures on worker threads', () => {
  it('packs a batch that unpacks to the same items and verdicts', () => {
    const items = cases(30)
    const results = verifyBatch(packBatch(items), items.length, ed25519Verify)
    assert.deepEqual([...results], items.map(c => c.valid ? 1 : 0))
  })

  for (const threads of [0, 1, 2]) {
    it(`threads=${threads}: 300 concurrent signatures get the right verdicts${threads > 0 ? ', batched' : ''}`, async () => {
      const pool = new SignaturePool({ threads })
      pool.warm()
      try {
        const items = cases(300)
        const verdicts = await Promise.all(items.map(async c => await pool.verify(c.signature, c.message, c.publicKey)))
        assert.deepEqual(verdicts, items.map(c => c.valid))
        if (threads === 0) {
          assert.equal(pool.batches, 0)
        } else {
          assert.ok(pool.batches >= 1 && pool.batches < 300, `${pool.batches} batches for 300 signatures`)
        }
      } finally {
        await pool.close()
      }
    })
  }

  it('a worker that dies: its signatures are verified on the server thread, and the next batch gets a new worker', async () => {
    const pool = new SignaturePool({ threads: 1, workerUrl: new URL('./fixtures/crashing-worker.js', import.meta.url) })
    try {
      const items = cases(40)
      const verdicts = await Promise.all(items.map(async c => await pool.verify(c.signature, c.message, c.publicKey)))
      assert.deepEqual(verdicts, items.map(c => c.valid))
      assert.equal(pool.failures, 1)
      const again = await Promise.all(items.slice(0, 6).map(async c => await pool.verify(c.signature, c.message, c.publicKey)))
      assert.deepEqual(again, items.slice(0, 6).map(c => c.valid))
      assert.equal(pool.failures, 2, 'a new worker was started for the second batch (and died too)')
    } finally {
      await pool.close()
    }
  })

  it('after close, and for malformed sizes, it verifies on the calling thread', async () => {
    const pool = new SignaturePool({ threads: 1 })
    const [c] = cases(1)
    assert.equal(await pool.verify(c.signature.subarray(0, 63), c.message, c.publicKey), false)
    assert.equal(await pool.verify(c.signature, c.message, c.publicKey.subarray(0, 31)), false)
    assert.equal(pool.batches, 0)
    await pool.close()
    assert.equal(await pool.verify(c.signature, c.message, c.publicKey), true)
    assert.equal(pool.batches, 0)
  })
})

describe('SignaturePool: RSA and secp256k1 join signatures on worker threads', () => {
  /** `n` signatures by RSA and secp256k1 keys, every third one corrupted */
  async function keyCases (n: number): Promise<Array<{ publicKey: import('@libp2p/interface').PublicKey, message: Uint8Array, signature: Uint8Array, valid: boolean }>> {
    const keys = [await generateKeyPair('RSA', 2048), await generateKeyPair('secp256k1')]
    const out = []
    for (let i = 0; i < n; i++) {
      const key = keys[i % 2]
      const message = new TextEncoder().encode(`wsstar/2 join\n/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/x${i}\nnonce`)
      const signature = await key.sign(message)
      const valid = i % 3 !== 1
      out.push({ publicKey: key.publicKey, message, signature: valid ? signature : signature.map((b, j) => j === 8 ? b ^ 1 : b), valid })
    }
    return out
  }

  for (const threads of [0, 1, 2]) {
    it(`threads=${threads}: 24 concurrent signatures get the right verdicts, counted where they were verified`, async () => {
      const pool = new SignaturePool({ threads })
      try {
        const items = await keyCases(24)
        const verdicts = await Promise.all(items.map(async c => await pool.verifyKey(c.publicKey, c.message, c.signature)))
        assert.deepEqual(verdicts, items.map(c => c.valid))
        const where = threads === 0 ? 'server' : 'worker'
        assert.equal(pool.verified.RSA?.[where], 12)
        assert.equal(pool.verified.secp256k1?.[where], 12)
        if (threads === 0) assert.equal(pool.batches, 0)
        else assert.ok(pool.batches >= 1 && pool.batches < 24, `${pool.batches} batches`)
      } finally {
        await pool.close()
      }
    })
  }

  it('a worker that dies: its RSA and secp256k1 signatures are verified on the server thread', async () => {
    const pool = new SignaturePool({ threads: 1, workerUrl: new URL('./fixtures/crashing-worker.js', import.meta.url) })
    try {
      const items = await keyCases(6)
      const verdicts = await Promise.all(items.map(async c => await pool.verifyKey(c.publicKey, c.message, c.signature)))
      assert.deepEqual(verdicts, items.map(c => c.valid))
      assert.equal(pool.failures, 1)
      assert.equal((pool.verified.RSA?.server ?? 0) + (pool.verified.secp256k1?.server ?? 0), 6)
    } finally {
      await pool.close()
    }
  })
})
