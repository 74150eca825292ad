import type { IncomingMessage, ServerResponse } from 'node:http'
import { getHeapSpaceStatistics } from 'node:v8'
import { memoryReducingCollection } from '../internals/v8-internals.js'

/**
 * `GET /debug/internals`: the server's internal counts, the process's active
 * handles by type and its memory, as JSON. Off by default
 * (`--expose-internals` / `exposeInternals`): leak tests read it from a
 * server running in another process. When that process runs with
 * `--expose-gc`, `?gc=1` collects garbage first so `memory.heapUsed` is the
 * live heap.
 */
export interface DebugInternals {
  /** the server's own counts (sessions, dials, registrations, timers, ...) */
  server: Record<string, number>
  /** `process.getActiveResourcesInfo()` counted by type: Timeout, TCPSocketWrap, ... */
  resources: Record<string, number>
  memory: NodeJS.MemoryUsage
  /** V8's heap spaces: bytes committed (`size`) and live (`used`) in each, by name */
  heapSpaces: Record<string, { size: number, used: number }>
  /** true when a GC ran before `memory` was read */
  gc: boolean
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** Wraps the HTTP handler: answers `/debug/internals` from `collect`, passes everything else on. */
export function withDebugInternals (next: Handler, collect: () => Record<string, number>): Handler {
  return (req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?', 2)
    if (path !== '/debug/internals' || req.method !== 'GET') {
      next(req, res)
      return
    }
    const gc = (globalThis as { gc?: () => void }).gc
    const gcParam = new URLSearchParams(query).get('gc')
    const collectGarbage = gc != null && gcParam != null
    if (collectGarbage) {
      if (gcParam === 'last-resort') memoryReducingCollection()
      else { gc(); gc() }
    }
    const resources: Record<string, number> = {}
    for (const type of process.getActiveResourcesInfo()) {
      resources[type] = (resources[type] ?? 0) + 1
    }
    const heapSpaces: DebugInternals['heapSpaces'] = {}
    for (const space of getHeapSpaceStatistics()) {
      heapSpaces[space.space_name] = { size: space.space_size, used: space.space_used_size }
    }
    const body: DebugInternals = { server: collect(), resources, memory: process.memoryUsage(), heapSpaces, gc: collectGarbage }
    const text = JSON.stringify(body)
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
    res.end(text)
  }
}
