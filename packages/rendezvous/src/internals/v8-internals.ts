import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * The one module that reaches into V8 past Node's documented API: a
 * memory-reducing full collection (memory-reclaim.ts, and `?gc=last-resort`
 * of debug-internals.ts) without starting node with `--expose-gc`. It relies
 * on V8 flags set at run time taking effect for the next context made, and
 * on the options V8's `gc()` extension takes. The V8 is Node's (the tests
 * run on the root package's `node` devDependency, fixed by the lockfile);
 * test/contracts/v8.test.ts checks both assumptions on it. Imports node:
 * modules only.
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

/** One synchronous `CollectAllAvailableGarbage`: compacts, shrinks new space, releases pooled pages. */
export function memoryReducingCollection (): void {
  exposedGc()({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}
