import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { fromString, toString } from 'uint8arrays'
import { ErrorCode, WsStarError } from './errors.js'
import { PROTOCOL_VERSION } from './events.js'
import { checkRsaKeyPolicy } from './rsa-key-policy.js'
import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'

/** Random bytes in a join nonce. */
export const NONCE_BYTES = 32
/** A nonce is single use and expires after this long. */
export const CHALLENGE_TTL_MS = 30_000
/** Longest base64 public key accepted (fits RSA 8192). */
export const MAX_PUBLIC_KEY_LENGTH = 2048
/** Longest base64 signature accepted (fits RSA 8192). */
export const MAX_SIGNATURE_LENGTH = 1400

/** Decodes base64 with or without `=` padding (other clients pad). */
function decodeBase64 (value: string): Uint8Array {
  return fromString(value.replace(/=+$/, ''), 'base64')
}

/** 32 random bytes, base64url: the server's half of the join challenge. */
export function createNonce (): string {
  return toString(globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES)), 'base64url')
}

/**
 * The exact bytes a client signs to prove it holds the key of `address`.
 * The fixed prefix separates this signature's domain from any other use of
 * the key, so a server cannot get a client to sign arbitrary data; the
 * address names the server, so a signature is useless at any other server.
 */
export function joinPayload (address: string, nonce: string): Uint8Array {
  return fromString(`${PROTOCOL_VERSION} join\n${address}\n${nonce}`, 'utf8')
}

export async function signJoin (privateKey: PrivateKey, address: string, nonce: string): Promise<string> {
  const signature = await privateKey.sign(joinPayload(address, nonce))
  return toString(signature, 'base64')
}

export async function verifyJoin (publicKey: PublicKey, address: string, nonce: string, signatureBase64: string): Promise<boolean> {
  let signature: Uint8Array
  try {
    signature = decodeBase64(signatureBase64)
  } catch {
    return false
  }
  if (signature.byteLength === 0) {
    return false
  }
  try {
    return await publicKey.verify(joinPayload(address, nonce), signature)
  } catch {
    return false
  }
}

/** base64 of the protobuf-marshalled public key, as sent in the join hello. */
export function encodePublicKey (key: PublicKey): string {
  return toString(publicKeyToProtobuf(key), 'base64')
}

/**
 * The public key that must have signed a join for `peerId`. Ed25519 and
 * secp256k1 ids embed their key, so `keyBase64` may be omitted; RSA ids are a
 * hash and need it. A sent key must hash to `peerId`, and an RSA key must
 * meet `checkRsaKeyPolicy`.
 */
export function publicKeyForPeer (peerId: PeerId, keyBase64?: string): PublicKey {
  if (keyBase64 == null) {
    if (peerId.publicKey == null) {
      throw new WsStarError(ErrorCode.INVALID_KEY, `peer id ${peerId.type} does not embed its key; send the public key`)
    }
    return peerId.publicKey
  }
  let key: PublicKey
  try {
    key = publicKeyFromProtobuf(decodeBase64(keyBase64))
  } catch {
    throw new WsStarError(ErrorCode.INVALID_KEY, 'public key is not a base64 protobuf-encoded libp2p key')
  }
  if (!peerIdFromPublicKey(key).equals(peerId)) {
    throw new WsStarError(ErrorCode.PEER_ID_MISMATCH, 'public key does not match the peer id in the address')
  }
  checkRsaKeyPolicy(key)
  return key
}
