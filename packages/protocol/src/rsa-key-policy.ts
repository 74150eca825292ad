import { fromString } from 'uint8arrays'
import { ErrorCode, WsStarError } from './errors.js'
import type { PublicKey } from '@libp2p/interface'

/** The only RSA public exponent accepted (what every RSA library generates). */
export const RSA_PUBLIC_EXPONENT = 65537
/** Shortest RSA modulus accepted: shorter ones are within reach of factoring. */
export const MIN_RSA_MODULUS_BITS = 2048
/** Longest RSA modulus accepted: a verification's cost grows with it. */
export const MAX_RSA_MODULUS_BITS = 4096

function bitLength (bytes: Uint8Array): number {
  let i = 0
  while (i < bytes.length && bytes[i] === 0) i++
  if (i === bytes.length) return 0
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]))
}

/**
 * Refuses RSA keys that make a join signature cheap to forge or expensive to
 * check: a public exponent other than 65537 (a key with a huge one fits the
 * size limits and costs milliseconds per verification) or a modulus outside
 * 2048..4096 bits. Other key types pass.
 */
export function checkRsaKeyPolicy (key: PublicKey): void {
  if (key.type !== 'RSA') {
    return
  }
  const { n, e } = (key as PublicKey & { jwk?: { n?: string, e?: string } }).jwk ?? {}
  let modulusBits = 0
  let exponent: Uint8Array = new Uint8Array(0)
  try {
    modulusBits = bitLength(fromString(n ?? '', 'base64url'))
    exponent = fromString(e ?? '', 'base64url')
  } catch {
    // not base64url: the empty exponent (and 0-bit modulus) fail the checks below
  }
  if (bitLength(exponent) !== 17 || exponent.reduce((value, byte) => value * 256 + byte, 0) !== RSA_PUBLIC_EXPONENT) {
    throw new WsStarError(ErrorCode.INVALID_KEY, `RSA keys must have the public exponent ${RSA_PUBLIC_EXPONENT}`)
  }
  if (modulusBits < MIN_RSA_MODULUS_BITS || modulusBits > MAX_RSA_MODULUS_BITS) {
    throw new WsStarError(ErrorCode.INVALID_KEY, `RSA keys must have a ${MIN_RSA_MODULUS_BITS}..${MAX_RSA_MODULUS_BITS}-bit modulus, this one has ${modulusBits} bits`)
  }
}
