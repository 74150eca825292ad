import { parentPort } from 'node:worker_threads'
import { verifyBatch } from './ed25519-batch.js'
import { ed25519Verify } from './ed25519-verify.js'

/** A verification thread: answers each batch with one result byte per signature. */
parentPort?.on('message', (batch: { id: number, buffer: ArrayBuffer, count: number }) => {
  const results = verifyBatch(batch.buffer, batch.count, ed25519Verify)
  parentPort?.postMessage({ id: batch.id, results }, [results.buffer as ArrayBuffer])
})
