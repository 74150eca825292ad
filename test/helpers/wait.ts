/** Waiting in tests, always bounded: a condition that never comes fails the test with what was awaited. */

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * Polls `predicate` every `intervalMs` until it holds; throws after
 * `timeoutMs`. An async predicate that does not settle counts against the
 * same deadline (it cannot hang the wait).
 */
export async function waitFor (predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition', intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const failure = (): Error => new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
  while (true) {
    const left = deadline - Date.now()
    if (left <= 0) throw failure()
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>(resolve => { timer = setTimeout(() => { resolve('expired') }, left) })
    try {
      const held = await Promise.race([Promise.resolve(predicate()), expired])
      if (held === 'expired') throw failure()
      if (held) return
    } finally {
      clearTimeout(timer)
    }
    await sleep(intervalMs)
  }
}
