import { Worker } from 'node:worker_threads'
import { MAX_MESSAGE_BYTES, packBatch } from './ed25519-batch.js'
import { ed25519Verify } from './ed25519-verify.js'
import type { VerifyItem } from './ed25519-batch.js'
import type { Logger } from 'pino'

export interface Ed25519PoolInit {
  /** verification threads; 0 verifies on the calling thread */
  threads: number
  logger?: Logger
  /** the worker script; default `ed25519-worker.js` (tests swap in a failing one) */
  workerUrl?: URL
}

interface Waiting extends VerifyItem {
  resolve(valid: boolean): void
}

interface Batch {
  items: Waiting[]
  thread: number
}

const WORKER_URL = new URL('./ed25519-worker.js', import.meta.url)
/** V8's default grows a thread's young generation to tens of MiB under allocation churn */
const WORKER_YOUNG_GENERATION_MB = 2

/**
 * Ed25519 verification off the event loop. Signatures that arrive in one
 * turn of the event loop go to a worker thread as one batch (one message
 * each way), round robin over `threads` workers, so joins scale with the
 * cores while the server thread only routes. A worker that fails is
 * replaced; its outstanding signatures are verified on the server thread,
 * so no join is lost or answered wrongly because of it.
 */
export class Ed25519Pool {
  readonly #threads: number
  readonly #logger?: Logger
  readonly #workerUrl: URL
  readonly #workers: Array<Worker | undefined>
  readonly #batches = new Map<number, Batch>()
  #queue: Waiting[] = []
  #scheduled = false
  #next = 0
  #ids = 0
  #closed = false
  /** batches sent to workers so far */
  batches = 0
  /** workers that died and were replaced */
  failures = 0

  constructor (init: Ed25519PoolInit) {
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

  async verify (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
    if (this.#threads === 0 || this.#closed || message.byteLength > MAX_MESSAGE_BYTES || signature.byteLength !== 64 || publicKey.byteLength !== 32) {
      return ed25519Verify(signature, message, publicKey)
    }
    return await new Promise<boolean>(resolve => {
      this.#queue.push({ signature, message, publicKey, resolve })
      if (!this.#scheduled) {
        this.#scheduled = true
        // after the I/O callbacks of this turn: everything read in it goes in one batch
        setImmediate(() => { this.#flush() })
      }
    })
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#flush()
    const workers = this.#workers.splice(0)
    for (const batch of this.#batches.values()) {
      this.#inline(batch.items)
    }
    this.#batches.clear()
    await Promise.all(workers.map(async w => await w?.terminate()))
  }

  #flush (): void {
    this.#scheduled = false
    const items = this.#queue
    if (items.length === 0) {
      return
    }
    this.#queue = []
    if (this.#closed) {
      this.#inline(items)
      return
    }
    const thread = this.#next
    this.#next = (this.#next + 1) % this.#threads
    const id = ++this.#ids
    this.#batches.set(id, { items, thread })
    const buffer = packBatch(items)
    this.batches++
    this.#worker(thread).postMessage({ id, buffer, count: items.length }, [buffer])
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
          this.#inline(batch.items)
        }
      }
    }
    worker.on('error', fail)
    worker.on('exit', (code) => { fail(new Error(`exited with code ${code}`)) })
    this.#workers[thread] = worker
    return worker
  }

  #inline (items: Waiting[]): void {
    for (const item of items) {
      item.resolve(ed25519Verify(item.signature, item.message, item.publicKey))
    }
  }
}
