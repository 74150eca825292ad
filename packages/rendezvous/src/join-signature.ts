import { joinPayload, verifyJoin } from '@wsstar/protocol'
import { ed25519Verify } from './ed25519-verify.js'
import type { PublicKey } from '@libp2p/interface'

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** An Ed25519 verifier, on this thread or not (`Ed25519Pool.verify`). */
export type Ed25519Verifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean | Promise<boolean>

/**
 * Verifies a join signature. Ed25519 (what libp2p peers use) goes straight
 * to libsodium or node:crypto (`ed25519-verify.ts`): @libp2p/crypto would
 * import the key from a JWK first and decode base64 in JS, which costs about
 * as much again as the verification itself. Other key types take the
 * generic path.
 */
export async function verifyJoinSignature (publicKey: PublicKey, address: string, nonce: string, signatureBase64: string, verify: Ed25519Verifier = ed25519Verify): Promise<boolean> {
  if (publicKey.type !== 'Ed25519' || publicKey.raw.byteLength !== 32) {
    return verifyJoin(publicKey, address, nonce, signatureBase64)
  }
  if (!BASE64.test(signatureBase64)) {
    return false
  }
  const signature = Buffer.from(signatureBase64, 'base64')
  if (signature.byteLength !== 64) {
    return false
  }
  try {
    return await verify(signature, joinPayload(address, nonce), publicKey.raw)
  } catch {
    return false
  }
}
