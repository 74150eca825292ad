import { parentPort } from 'node:worker_threads'
import { verifyBatch } from './ed25519-batch.js'
import { ed25519Verify } from './ed25519-verify.js'

/** A batch of signatures by RSA or secp256k1 keys: each key as its libp2p protobuf. */
export interface KeyBatch {
  id: number
  keys: Array<{ key: Uint8Array, message: Uint8Array, signature: Uint8Array }>
}

interface Ed25519Batch { id: number, buffer: ArrayBuffer, count: number }

type KeysModule = typeof import('@libp2p/crypto/keys')
/** loaded on the first key batch: a thread that only sees Ed25519 never pays for it */
let keysModule: Promise<KeysModule> | undefined

async function verifyKeys (batch: KeyBatch): Promise<Uint8Array> {
  keysModule ??= import('@libp2p/crypto/keys')
  const { publicKeyFromProtobuf } = await keysModule
  const results = new Uint8Array(batch.keys.length)
  for (let i = 0; i < batch.keys.length; i++) {
    const { key, message, signature } = batch.keys[i]
    try {
      results[i] = await publicKeyFromProtobuf(key).verify(message, signature) ? 1 : 0
    } catch {
      results[i] = 0
    }
  }
  return results
}

/** A verification thread: answers each batch with one result byte per signature. */
parentPort?.on('message', (batch: Ed25519Batch | KeyBatch) => {
  if ('keys' in batch) {
    void verifyKeys(batch).then(results => {
      parentPort?.postMessage({ id: batch.id, results }, [results.buffer as ArrayBuffer])
    })
    return
  }
  const results = verifyBatch(batch.buffer, batch.count, ed25519Verify)
  parentPort?.postMessage({ id: batch.id, results }, [results.buffer as ArrayBuffer])
})
