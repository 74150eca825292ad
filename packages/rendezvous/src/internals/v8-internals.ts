import { constants } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import type { PerformanceEntry } from 'node:perf_hooks'
import { runInNewContext } from 'node:vm'

/**
 * The one module that reaches into V8 past Node's documented API: a
 * memory-reducing full collection (`?gc=last-resort` of debug-internals.ts)
 * without starting node with `--expose-gc`, and V8's memory-saving mode
 * switched at run time (memory-reclaim.ts). It relies on V8 flags set at run
 * time taking effect for the next context made (`--expose-gc`) and for the
 * heap's next decisions (`--optimize-for-size`), on the options V8's `gc()`
 * extension takes, and on V8's memory reducer starting a memory-reducing
 * incremental mark-compact while the memory-saving mode is on, which Node
 * reports as a major collection flagged ALL_EXTERNAL_MEMORY. The V8 is
 * Node's (the tests run on the root package's `node` devDependency, fixed by
 * the lockfile); test/contracts/v8.test.ts checks these assumptions on it.
 * Imports node: modules only.
 */

type GcFunction = (options?: { type?: 'major' | 'minor', execution?: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }) => void

let gcFunction: GcFunction | undefined

/**
 * V8's `gc()` without `--expose-gc`: the flag is set just long enough to
 * create one context that has it (the main context never gets it), then
 * unset.
 */
function exposedGc (): GcFunction {
  if (gcFunction == null) {
    setFlagsFromString('--expose-gc')
    try {
      gcFunction = runInNewContext('gc') as GcFunction
    } finally {
      setFlagsFromString('--no-expose-gc')
    }
  }
  return gcFunction
}

/** One synchronous full collection, as V8's own but all at once: marks, sweeps, compacts what it picks. */
export function fullCollection (): void {
  exposedGc()({ type: 'major', execution: 'sync', flavor: 'regular' })
}

/** One synchronous `CollectAllAvailableGarbage`: compacts, shrinks new space, releases pooled pages. */
export function memoryReducingCollection (): void {
  exposedGc()({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}

/**
 * V8's memory-saving mode (`--optimize-for-size`), on or off. While on, V8's
 * memory reducer (a timer V8 keeps after a mark-compact that grew the heap)
 * starts a memory-reducing mark-compact whatever the allocation rate:
 * marked incrementally and on V8's helper threads, then compacting in one
 * pause much shorter than a synchronous collection's, and up to three in a
 * row. Its heap also grows in smaller steps, so it is for quiet times only.
 */
export function favourMemory (on: boolean): void {
  setFlagsFromString(on ? '--optimize-for-size' : '--no-optimize-for-size')
}

/** Whether a `gc` performance entry is a memory-reducing mark-compact of V8's memory reducer (its pause is the entry's duration). */
export function isMemoryReducerCollection (entry: PerformanceEntry): boolean {
  const detail = (entry as { detail?: { kind?: number, flags?: number } }).detail
  return detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR && ((detail.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_ALL_EXTERNAL_MEMORY) !== 0
}
