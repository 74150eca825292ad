import { Worker } from 'node:worker_threads'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { MAX_MESSAGE_BYTES, packBatch } from './ed25519-batch.js'
import { ed25519Verify } from './ed25519-verify.js'
import type { VerifyItem } from './ed25519-batch.js'
import type { KeyBatch } from './signature-worker.js'
import type { PublicKey } from '@libp2p/interface'
import type { Logger } from 'pino'

export interface SignaturePoolInit {
  /** verification threads; 0 verifies on the calling thread */
  threads: number
  logger?: Logger
  /** the worker script; default `signature-worker.js` (tests swap in a failing one) */
  workerUrl?: URL
}

/** Where a signature was verified: on a verification thread, or on the server's own. */
export type VerifiedOn = 'worker' | 'server'

/** Signatures verified so far, by key type and thread (`wsstar_signatures_verified_total`). */
export type VerifiedCounts = Record<string, Record<VerifiedOn, number>>

interface Waiting<T> {
  item: T
  resolve(valid: boolean): void
}

/** A signature by a key of another type than Ed25519 (RSA, secp256k1). */
interface KeyItem {
  publicKey: PublicKey
  message: Uint8Array
  signature: Uint8Array
}

type Batch = { thread: number } & ({ kind: 'ed25519', items: Array<Waiting<VerifyItem>> } | { kind: 'key', items: Array<Waiting<KeyItem>> })

const WORKER_URL = new URL('./signature-worker.js', import.meta.url)
/** V8's default grows a thread's young generation to tens of MiB under allocation churn */
const WORKER_YOUNG_GENERATION_MB = 2

/**
 * Join signature verification off the event loop. Signatures that arrive
 * in one turn of the event loop go to a worker thread as one batch per kind
 * (one message each way), round robin over `threads` workers, so joins scale
 * with the cores while the server thread only routes. Ed25519 (what libp2p
 * peers use) travels packed in one transferable buffer; other key types (RSA,
 * secp256k1: each verification costs ten times an Ed25519 one or more) go as
 * protobuf keys. A worker that fails is replaced; its outstanding signatures
 * are verified on the server thread, so no join is lost or answered wrongly
 * because of it.
 */
export class SignaturePool {
  readonly #threads: number
  readonly #logger?: Logger
  readonly #workerUrl: URL
  readonly #workers: Array<Worker | undefined>
  readonly #batches = new Map<number, Batch>()
  #ed25519Queue: Array<Waiting<VerifyItem>> = []
  #keyQueue: Array<Waiting<KeyItem>> = []
  #scheduled = false
  #next = 0
  #ids = 0
  #closed = false
  /** batches sent to workers so far */
  batches = 0
  /** workers that died and were replaced */
  failures = 0
  /** signatures verified, by key type and thread */
  readonly verified: VerifiedCounts = {}

  constructor (init: SignaturePoolInit) {
    this.#threads = Math.max(0, Math.floor(init.threads))
    this.#logger = init.logger
    this.#workerUrl = init.workerUrl ?? WORKER_URL
    this.#workers = new Array(this.#threads).fill(undefined)
  }

  get threads (): number {
    return this.#threads
  }

  /** Starts the workers now rather than on the first signature. */
  warm (): void {
    for (let i = 0; i < this.#threads; i++) {
      this.#worker(i)
    }
  }

  /** A 64-byte Ed25519 signature of `message` by the 32-byte raw `publicKey`. */
  async verify (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
    if (this.#threads === 0 || this.#closed || message.byteLength > MAX_MESSAGE_BYTES || signature.byteLength !== 64 || publicKey.byteLength !== 32) {
      this.#count('Ed25519', 'server')
      return ed25519Verify(signature, message, publicKey)
    }
    return await new Promise<boolean>(resolve => {
      this.#ed25519Queue.push({ item: { signature, message, publicKey }, resolve })
      this.#schedule()
    })
  }

  /** A signature by a key of any other type (RSA, secp256k1). */
  async verifyKey (publicKey: PublicKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (this.#threads === 0 || this.#closed) {
      this.#count(publicKey.type, 'server')
      return await verifyOnThisThread({ publicKey, message, signature })
    }
    return await new Promise<boolean>(resolve => {
      this.#keyQueue.push({ item: { publicKey, message, signature }, resolve })
      this.#schedule()
    })
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#flush()
    const workers = this.#workers.splice(0)
    for (const batch of this.#batches.values()) {
      this.#inline(batch)
    }
    this.#batches.clear()
    await Promise.all(workers.map(async w => await w?.terminate()))
  }

  #schedule (): void {
    if (!this.#scheduled) {
      this.#scheduled = true
      // after the I/O callbacks of this turn: everything read in it goes in one batch
      setImmediate(() => { this.#flush() })
    }
  }

  #flush (): void {
    this.#scheduled = false
    const ed25519 = this.#ed25519Queue
    const keys = this.#keyQueue
    if (ed25519.length > 0) {
      this.#ed25519Queue = []
      this.#send({ kind: 'ed25519', items: ed25519, thread: this.#pick() })
    }
    if (keys.length > 0) {
      this.#keyQueue = []
      this.#send({ kind: 'key', items: keys, thread: this.#pick() })
    }
  }

  #pick (): number {
    const thread = this.#next
    this.#next = (this.#next + 1) % Math.max(1, this.#threads)
    return thread
  }

  #send (batch: Batch): void {
    if (this.#closed) {
      this.#inline(batch)
      return
    }
    const id = ++this.#ids
    this.#batches.set(id, batch)
    this.batches++
    const worker = this.#worker(batch.thread)
    if (batch.kind === 'ed25519') {
      const buffer = packBatch(batch.items.map(w => w.item))
      worker.postMessage({ id, buffer, count: batch.items.length }, [buffer])
    } else {
      const message: KeyBatch = {
        id,
        keys: batch.items.map(w => ({ key: publicKeyToProtobuf(w.item.publicKey), message: w.item.message, signature: w.item.signature }))
      }
      worker.postMessage(message)
    }
  }

  #worker (thread: number): Worker {
    const existing = this.#workers[thread]
    if (existing != null) {
      return existing
    }
    // it keeps almost nothing: a small young generation keeps its RSS small too
    const worker = new Worker(this.#workerUrl, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } })
    worker.unref()
    worker.on('message', (answer: { id: number, results: Uint8Array }) => {
      const batch = this.#batches.get(answer.id)
      if (batch == null) {
        return
      }
      this.#batches.delete(answer.id)
      for (let i = 0; i < batch.items.length; i++) {
        this.#count(batch.kind === 'ed25519' ? 'Ed25519' : batch.items[i].item.publicKey.type, 'worker')
        batch.items[i].resolve(answer.results[i] === 1)
      }
    })
    const fail = (reason: unknown): void => {
      if (this.#workers[thread] !== worker) {
        return
      }
      this.#workers[thread] = undefined
      if (this.#closed) {
        return
      }
      this.failures++
      this.#logger?.warn({ err: reason, thread }, 'a signature verification thread died; replacing it')
      for (const [id, batch] of this.#batches) {
        if (batch.thread === thread) {
          this.#batches.delete(id)
          this.#inline(batch)
        }
      }
    }
    worker.on('error', fail)
    worker.on('exit', (code) => { fail(new Error(`exited with code ${code}`)) })
    this.#workers[thread] = worker
    return worker
  }

  #inline (batch: Batch): void {
    if (batch.kind === 'ed25519') {
      for (const { item, resolve } of batch.items) {
        this.#count('Ed25519', 'server')
        resolve(ed25519Verify(item.signature, item.message, item.publicKey))
      }
      return
    }
    for (const { item, resolve } of batch.items) {
      this.#count(item.publicKey.type, 'server')
      void verifyOnThisThread(item).then(resolve)
    }
  }

  #count (type: string, on: VerifiedOn): void {
    const counts = this.verified[type] ??= { worker: 0, server: 0 }
    counts[on]++
  }
}

/** @libp2p/crypto's verification; never throws (a malformed input is `false`). */
async function verifyOnThisThread ({ publicKey, message, signature }: KeyItem): Promise<boolean> {
  try {
    return await publicKey.verify(message, signature)
  } catch {
    return false
  }
}
