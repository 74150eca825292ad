// V8's `--trace-gc-nvp` lines (one per collection, on the process's stdout),
// parsed: when each collection ran, what kind it was, its pause and the heap
// bytes allocated since the previous one (`allocated`: the object size at
// this collection's start less that at the previous one's end). Summed
// between two collections, that is every byte the JavaScript heap handed
// out meanwhile, garbage included: the allocation rate of a process read
// from outside, with no code in it.

const FIELD = /(\w[\w.]*)=([^ ]+)/g

/**
 * One `--trace-gc-nvp` line → { v8Ms, kind, pauseMs, allocated, reduceMemory },
 * or null for any other line. `v8Ms`: ms since the isolate started; `kind`:
 * `s` scavenge, `ms` minor mark-sweep, `mc` mark-compact (V8's `gc=`).
 */
export function parseGcTraceLine (line) {
  const at = /^\[\d+:0x[0-9a-f]+(?::\d+)?\]\s+(\d+) ms: pause=/.exec(line)
  if (at == null) return null
  const fields = {}
  for (const [, key, value] of line.matchAll(FIELD)) fields[key] = value
  if (fields.gc == null || fields.allocated == null) return null
  return {
    v8Ms: Number(at[1]),
    kind: fields.gc,
    pauseMs: Number(fields.pause),
    // a size_t difference: a collection right behind another (the second of a
    // last-resort pair) can start below its predecessor's end and wraps round
    allocated: Number(fields.allocated) > 2 ** 60 ? 0 : Number(fields.allocated),
    reduceMemory: fields.reduce_memory === '1',
    // where a mark-compact's pause went (ms), and the heap around it (bytes)
    ...(fields.gc === 'mc'
      ? {
          phases: Object.fromEntries(['mark', 'mark.finish_incremental', 'mark.roots', 'mark.main', 'mark.weak_closure', 'clear', 'evacuate', 'evacuate.copy', 'evacuate.update_pointers', 'sweep', 'sweep.start_jobs', 'finish', 'heap.external.epilogue', 'heap.epilogue', 'incremental.steps_took', 'incremental.steps_count', 'time_to_safepoint']
            .filter(k => fields[k] != null).map(k => [k, Number(fields[k])])),
          // live objects and committed heap before and after it
          objectsBefore: Number(fields.start_object_size),
          objectsAfter: Number(fields.end_object_size),
          committedBefore: Number(fields.start_memory_size),
          committedAfter: Number(fields.end_memory_size)
        }
      : {})
  }
}

/**
 * Heap bytes allocated per second between the first and the last of `gcs`
 * (collections in order): the sum of what each collection after the first
 * counts as allocated since its predecessor, over the time between them.
 * Null with fewer than two collections.
 */
export function allocationRate (gcs) {
  if (gcs.length < 2) return null
  const seconds = (gcs[gcs.length - 1].v8Ms - gcs[0].v8Ms) / 1000
  if (seconds <= 0) return null
  const bytes = gcs.slice(1).reduce((a, g) => a + g.allocated, 0)
  return { bytesPerSecond: bytes / seconds, bytes, seconds, collections: gcs.length }
}
