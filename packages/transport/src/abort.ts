import { AbortError } from '@libp2p/interface'

/**
 * Resolves or rejects like `promise`, but rejects with an `AbortError` as
 * soon as `signal` aborts. The listener on the signal is removed on every
 * path, so repeated calls leak nothing.
 */
export async function raceAbort<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) {
    return promise
  }
  if (signal.aborted) {
    // the raced promise may still settle; never let it go unhandled
    promise.catch(() => {})
    throw abortError(signal)
  }
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((resolve, reject) => {
    onAbort = () => { reject(abortError(signal)) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort != null) {
      signal.removeEventListener('abort', onAbort)
    }
    promise.catch(() => {})
  }
}

export function abortError (signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason
  const detail = reason instanceof Error ? `: ${reason.message}` : ''
  return new AbortError(`the operation was aborted${detail}`)
}

/**
 * Like `raceAbort`, and rejects with `makeError()` when `ms` pass first.
 * The timer is cleared on every path.
 */
export async function raceDeadline<T> (promise: Promise<T>, ms: number, makeError: () => Error, signal?: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((resolve, reject) => {
    timer = setTimeout(() => { reject(makeError()) }, ms)
  })
  try {
    return await raceAbort(Promise.race([promise, deadline]), signal)
  } finally {
    clearTimeout(timer)
    deadline.catch(() => {})
    promise.catch(() => {})
  }
}
