/**
 * Who a raw client is: a key pair with its peer id, and the
 * `/p2p-websocket-star` address it registers at a server on 127.0.0.1.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { urlOf } from './connect.js'
import type { Target } from './connect.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export type KeyType = 'Ed25519' | 'secp256k1' | 'RSA'

export interface Identity {
  key: PrivateKey
  peerId: PeerId
}

/** A fresh identity; RSA keys are 2048-bit. */
export async function identity (type: KeyType = 'Ed25519'): Promise<Identity> {
  const key = type === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(type)
  return { key, peerId: peerIdFromPrivateKey(key) }
}

/** The identity of an existing key. */
export function identityOf (key: PrivateKey): Identity {
  return { key, peerId: peerIdFromPrivateKey(key) }
}

/** `/ip4/<host>/tcp/<port>/ws/p2p-websocket-star/p2p/<peer id>`: `peer`'s address at the server `target` listens on. */
export function peerAddress (target: Target, peer: Identity | PeerId | string, host = '127.0.0.1'): string {
  const port = new URL(urlOf(target)).port
  const id = typeof peer === 'string' ? peer : 'peerId' in peer ? peer.peerId.toString() : peer.toString()
  return `/ip4/${host}/tcp/${port}/ws/p2p-websocket-star/p2p/${id}`
}
