/**
 * A credit-respecting byte pump over an open dial, for throughput
 * measurements and for checking that bytes arrive intact.
 */
import { createHash } from 'node:crypto'
import type { WireErr } from './request.js'
import type { Socket } from 'socket.io-client'

export interface PumpResult {
  bytes: number
  ms: number
  /** MiB/s */
  rate: number
  /** sha256 of what arrived equals sha256 of what was sent */
  intact: boolean
}

/**
 * Sends `total` random bytes over an open dial from `sender` to `receiver`,
 * within the credit window (the receiver grants in quarter-window batches,
 * like the reference client), and measures the rate.
 */
export async function pump (sender: Socket, receiver: Socket, dialId: string, total: number, window: number, frame = 64 * 1024): Promise<PumpResult> {
  const sent = createHash('sha256')
  const got = createHash('sha256')
  const chunk = Buffer.alloc(frame)
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i)
  let credit = window
  let received = 0
  let ungranted = 0
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const batch = Math.floor(window / 4)
  const onData = (id: string, bytes: Uint8Array): void => {
    if (id !== dialId) return
    got.update(bytes)
    received += bytes.byteLength
    ungranted += bytes.byteLength
    if (ungranted >= batch || received === total) {
      receiver.emit('c', dialId, ungranted)
      ungranted = 0
    }
  }
  const onCredit = (id: string, n: number): void => {
    if (id !== dialId) return
    credit += n
    wake?.()
  }
  const onEnd = (id: string, kind: string, error?: WireErr): void => {
    if (id !== dialId || kind !== 'reset') return
    failure = new Error(`dial reset during the transfer: ${JSON.stringify(error)}`)
    wake?.()
  }
  receiver.on('d', onData)
  sender.on('c', onCredit)
  sender.on('e', onEnd)
  receiver.on('e', onEnd)
  const started = performance.now()
  try {
    let offset = 0
    // done once everything arrived and every byte's credit came back (the dial is reusable at a full window)
    while (offset < total || received < total || credit < window) {
      if (failure != null) throw failure
      if (offset < total && credit > 0) {
        const n = Math.min(frame, credit, total - offset)
        const bytes = n === frame ? chunk : chunk.subarray(0, n)
        sent.update(bytes)
        sender.emit('d', dialId, bytes)
        credit -= n
        offset += n
        continue
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`transfer stalled at ${received}/${total} bytes`)) }, 15_000)
        wake = () => { clearTimeout(timer); wake = undefined; resolve() }
      })
    }
  } finally {
    receiver.off('d', onData)
    sender.off('c', onCredit)
    sender.off('e', onEnd)
    receiver.off('e', onEnd)
  }
  const ms = performance.now() - started
  return { bytes: total, ms, rate: total / (1024 * 1024) / (ms / 1000), intact: sent.digest('hex') === got.digest('hex') }
}
