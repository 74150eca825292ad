import { createHash, createPublicKey, verify } from 'node:crypto'
import { MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS, RSA_PUBLIC_EXPONENT } from '@wsstar/protocol'
import type { KeyObject } from 'node:crypto'

/**
 * Keys and addresses as legacy websocket-star 0.10 clients send them:
 * the public key is the HEX of the protobuf `PublicKey { Type, Data }`
 * (RSA only: Type 0, Data = SPKI DER; e = 65537 and a 2048..4096-bit
 * modulus, as for v2), the peer id is the base58btc
 * sha2-256 multihash of those protobuf bytes (a `Qm…` id), and the
 * signature is RSASSA-PKCS1-v1_5 / SHA-256 over the UTF-8 bytes of the nonce.
 */
export interface LegacyKey {
  peerId: string
  key: KeyObject
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const HEX = /^(?:[0-9a-fA-F]{2})+$/
/** an RSA-8192 key is ~1.1 KB of protobuf */
const MAX_KEY_HEX = 4096
const MAX_SIG_HEX = 2048

export function base58btc (bytes: Uint8Array): string {
  let zeros = 0
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++
  let n = 0n
  for (const b of bytes) n = n * 256n + BigInt(b)
  let out = ''
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out
    n /= 58n
  }
  return '1'.repeat(zeros) + out
}

function readVarint (buf: Buffer, offset: number): [number, number] | undefined {
  let value = 0
  let shift = 0
  for (let i = offset; i < buf.length && i < offset + 5; i++) {
    value += (buf[i] & 0x7f) * 2 ** shift
    shift += 7
    if ((buf[i] & 0x80) === 0) return [value, i + 1]
  }
  return undefined
}

/** Parses a legacy hex public key; undefined when it is not a well-formed RSA key. */
export function parseLegacyKey (hex: unknown): LegacyKey | undefined {
  if (typeof hex !== 'string' || hex.length > MAX_KEY_HEX || !HEX.test(hex)) return undefined
  const buf = Buffer.from(hex, 'hex')
  // field 1 (Type, varint) = 0 (RSA), field 2 (Data, bytes)
  if (buf.length < 4 || buf[0] !== 0x08 || buf[1] !== 0x00 || buf[2] !== 0x12) return undefined
  const len = readVarint(buf, 3)
  if (len == null || len[1] + len[0] !== buf.length) return undefined
  let key: KeyObject
  try {
    key = createPublicKey({ key: buf.subarray(len[1]), format: 'der', type: 'spki' })
  } catch {
    return undefined
  }
  if (key.asymmetricKeyType !== 'rsa') return undefined
  // the v2 key policy: a huge exponent or modulus makes each verification (on the event loop) cost milliseconds
  const { modulusLength, publicExponent } = key.asymmetricKeyDetails ?? {}
  if (publicExponent !== BigInt(RSA_PUBLIC_EXPONENT) || modulusLength == null || modulusLength < MIN_RSA_MODULUS_BITS || modulusLength > MAX_RSA_MODULUS_BITS) return undefined
  const digest = createHash('sha256').update(buf).digest()
  const peerId = base58btc(Buffer.concat([Buffer.from([0x12, 0x20]), digest]))
  return { peerId, key }
}

/** Checks a legacy hex signature over the UTF-8 bytes of `message`. Never throws. */
export function verifyLegacySignature (key: KeyObject, message: string, signatureHex: unknown): boolean {
  if (typeof signatureHex !== 'string' || signatureHex.length > MAX_SIG_HEX || !HEX.test(signatureHex)) return false
  try {
    return verify('sha256', Buffer.from(message, 'utf8'), key, Buffer.from(signatureHex, 'hex'))
  } catch {
    return false
  }
}

export interface LegacyAddress {
  peerId: string
  /** the server part, e.g. /ip4/1.2.3.4/tcp/9090/ws */
  server: string
  /** as announced to legacy clients: always the `/ipfs/` spelling */
  canonical: string
}

const ADDRESS = /^((?:\/[A-Za-z0-9._:~%-]+)+)\/p2p-websocket-star\/(?:ipfs|p2p)\/([1-9A-HJ-NP-Za-km-z]{40,60})$/

/** `/ip4/H/tcp/P/ws/p2p-websocket-star/ipfs/Qm…` (or `/p2p/`); undefined otherwise. */
export function parseLegacyAddress (address: unknown): LegacyAddress | undefined {
  if (typeof address !== 'string' || address.length > 512) return undefined
  const m = ADDRESS.exec(address)
  if (m == null) return undefined
  return { peerId: m[2], server: m[1], canonical: `${m[1]}/p2p-websocket-star/ipfs/${m[2]}` }
}
