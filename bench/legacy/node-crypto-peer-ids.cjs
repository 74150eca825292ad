'use strict'
// Legacy (peer-id 0.12 / libp2p-crypto 0.16) RSA-2048 peer ids made with Node's own crypto.
//
// Why: libp2p-crypto 0.16 generates RSA keys with the native addon `ursa-optional` and,
// when that is not compiled (we install with ignore-scripts, and it cannot build on a
// Node whose headers must be downloaded), with the pure-JS `keypair` package: ~3 s per
// 2048-bit key on this machine. Node's crypto makes a key in ~0.2 s, which is still 3 min
// for 1,000 peers on 2 cores. So we ask Node (OpenSSL) for a pool of 1024-bit primes
// and pair them up: k primes give k(k-1)/2 distinct, valid 2048-bit RSA keys (n = p*q,
// e = 65537), ~50 primes for 1,000 peers, a few seconds. Keys that share a prime are of
// course worthless for security; for a benchmark or a test fixture they are exactly as
// expensive to sign/verify as any other RSA-2048 key, which is all that matters here.
//
// The key is handed to the legacy stack the way it would read one from disk:
// protobuf PrivateKey { Type = RSA (0), Data = PKCS#1 DER } -> PeerId.createFromPrivKey.

const nodeCrypto = require('node:crypto')
const PeerId = require('peer-id')

const E = 65537n

function modInv (a, m) {
  let [oldR, r] = [a % m, m]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s]
  }
  if (oldR !== 1n) throw new Error('not invertible')
  return ((oldS % m) + m) % m
}

function gcd (a, b) { while (b) [a, b] = [b, a % b]; return a }

function b64u (n) {
  let hex = n.toString(16)
  if (hex.length % 2) hex = '0' + hex
  return Buffer.from(hex, 'hex').toString('base64url')
}

function generatePrime (bits) {
  return new Promise((resolve, reject) => {
    nodeCrypto.generatePrime(bits, { bigint: true }, (err, p) => err ? reject(err) : resolve(p))
  })
}

/** k distinct 1024-bit primes p with gcd(p-1, 65537) = 1, generated in parallel. */
async function primePool (k) {
  const out = new Set()
  while (out.size < k) {
    const batch = await Promise.all(Array.from({ length: Math.min(8, k - out.size) }, () => generatePrime(1024)))
    for (const p of batch) if ((p - 1n) % E !== 0n) out.add(p)
  }
  return [...out]
}

/** PKCS#1 DER of the RSA private key with primes p, q (or null if they do not make a 2048-bit key). */
function rsaPkcs1FromPrimes (p, q) {
  if (p < q) [p, q] = [q, p]
  const n = p * q
  if (n.toString(2).length !== 2048) return null
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n)
  const d = modInv(E, lambda)
  const jwk = {
    kty: 'RSA',
    n: b64u(n),
    e: b64u(E),
    d: b64u(d),
    p: b64u(p),
    q: b64u(q),
    dp: b64u(d % (p - 1n)),
    dq: b64u(d % (q - 1n)),
    qi: b64u(modInv(q, p))
  }
  return nodeCrypto.createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs1', format: 'der' })
}

/** libp2p-crypto protobuf PrivateKey { Type: RSA = 0, Data: pkcs1 } */
function marshalRsaPrivateKey (pkcs1) {
  const len = []
  let l = pkcs1.length
  while (l > 0x7f) { len.push((l & 0x7f) | 0x80); l >>>= 7 }
  len.push(l)
  return Buffer.concat([Buffer.from([0x08, 0x00, 0x12, ...len]), pkcs1])
}

function peerIdFromMarshalled (buf) {
  return new Promise((resolve, reject) => {
    PeerId.createFromPrivKey(buf, (err, id) => err ? reject(err) : resolve(id))
  })
}

/**
 * count legacy PeerIds (peer-id 0.12, RSA-2048).
 * opts.real: one fresh Node-generated key pair per peer (nodeCrypto.generateKeyPair), slow.
 */
async function createPeerIds (count, opts = {}) {
  const marshalled = []
  if (opts.real) {
    await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
      nodeCrypto.generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 65537 }, (err, _pub, priv) => {
        if (err) return reject(err)
        marshalled.push(marshalRsaPrivateKey(priv.export({ type: 'pkcs1', format: 'der' })))
        resolve()
      })
    })))
  } else {
    let k = 2
    while (k * (k - 1) / 2 < count) k++
    const primes = await primePool(k + 2) // a little slack for pairs whose n is short
    outer:
    for (let i = 0; i < primes.length; i++) {
      for (let j = i + 1; j < primes.length; j++) {
        const der = rsaPkcs1FromPrimes(primes[i], primes[j])
        if (der) marshalled.push(marshalRsaPrivateKey(der))
        if (marshalled.length === count) break outer
      }
    }
    if (marshalled.length < count) throw new Error('prime pool too small')
  }
  const ids = []
  for (const m of marshalled) ids.push(await peerIdFromMarshalled(m))
  return ids
}

module.exports = { createPeerIds, marshalRsaPrivateKey, rsaPkcs1FromPrimes }

if (require.main === module) {
  const n = Number(process.argv[2] || 10)
  const t0 = Date.now()
  createPeerIds(n, { real: process.argv.includes('--real') }).then((ids) => {
    console.error(`${ids.length} peer ids in ${Date.now() - t0} ms; first ${ids[0].toB58String()}`)
    ids[0].privKey.sign(Buffer.from('nonce'), (err, sig) => {
      if (err) throw err
      ids[0].pubKey.verify(Buffer.from('nonce'), sig, (err, ok) => {
        if (err) throw err
        console.error('sign/verify ok:', ok, 'unique:', new Set(ids.map(i => i.toB58String())).size)
      })
    })
  })
}
