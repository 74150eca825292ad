import { joinPayload } from '@wsstar/protocol'
import { ed25519Verify } from './ed25519-verify.js'
import type { PublicKey } from '@libp2p/interface'

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** An Ed25519 verifier, on this thread or not (`SignaturePool.verify`). */
export type Ed25519Verifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean | Promise<boolean>

/** A verifier for the other key types (RSA, secp256k1), on this thread or not (`SignaturePool.verifyKey`). */
export type KeyVerifier = (publicKey: PublicKey, message: Uint8Array, signature: Uint8Array) => boolean | Promise<boolean>

const verifyOnThisThread: KeyVerifier = async (publicKey, message, signature) => await publicKey.verify(message, signature)

/**
 * Verifies a join signature. Ed25519 (what libp2p peers use) goes straight
 * to libsodium or node:crypto (`ed25519-verify.ts`): @libp2p/crypto would
 * import the key from a JWK first and decode base64 in JS, which costs about
 * as much again as the verification itself. Other key types go through
 * @libp2p/crypto (`verifyKey`).
 */
export async function verifyJoinSignature (publicKey: PublicKey, address: string, nonce: string, signatureBase64: string, verify: Ed25519Verifier = ed25519Verify, verifyKey: KeyVerifier = verifyOnThisThread): Promise<boolean> {
  if (!BASE64.test(signatureBase64)) {
    return false
  }
  const signature = Buffer.from(signatureBase64, 'base64')
  const ed25519 = publicKey.type === 'Ed25519' && publicKey.raw.byteLength === 32
  if (ed25519 ? signature.byteLength !== 64 : signature.byteLength === 0) {
    return false
  }
  try {
    return ed25519
      ? await verify(signature, joinPayload(address, nonce), publicKey.raw)
      : await verifyKey(publicKey, joinPayload(address, nonce), signature)
  } catch {
    return false
  }
}
