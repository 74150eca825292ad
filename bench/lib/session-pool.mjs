// Opens the sessions of a scenario's paths side by side, records why a path
// is missing (unavailable / failed to start / failed mid-run), and closes all.

import { openPath } from './paths.mjs'

export class SessionPool {
  constructor (ctx, paths, sessionOptions = {}) {
    this.ctx = ctx
    this.paths = paths
    this.sessionOptions = sessionOptions
    this.sessions = new Map()
    this.status = {}
  }

  /** Opens every available path in parallel (set-up time is not measured). */
  async open () {
    await Promise.all(this.paths.map(async (path) => {
      const probe = this.ctx.availability[path]
      if (probe?.ok !== true) {
        this.status[path] = { status: 'unavailable', reason: probe?.reason ?? 'not probed' }
        return
      }
      const t0 = performance.now()
      try {
        const session = await openPath(path, { verbose: this.ctx.verbose, relayExecArgv: this.ctx.relayExecArgv, pingAbort: this.ctx.options.pingAbort === true, ...this.sessionOptions })
        this.sessions.set(path, session)
        this.status[path] = { status: 'ok', setupMs: performance.now() - t0, connection: session.connection }
        this.ctx.log(`  ${path}: up in ${Math.round(performance.now() - t0)} ms (remote ${session.connection.remoteAddr}${session.connection.limits != null ? ', LIMITED ' + JSON.stringify(session.connection.limits) : ''})`)
      } catch (err) {
        this.status[path] = { status: 'error', reason: `failed to start: ${firstLines(err)}` }
        this.ctx.log(`  ${path}: FAILED to start: ${firstLines(err, 6)}`)
      }
    }))
    return this
  }

  /** Sessions still running, in path order. */
  live () {
    return this.paths.filter(p => this.sessions.has(p)).map(p => this.sessions.get(p))
  }

  /** Marks `path` failed (keeps the first error) and closes its session. */
  async fail (path, err) {
    this.status[path] = { ...this.status[path], status: 'error', reason: firstLines(err) }
    this.ctx.log(`  ${path}: FAILED: ${firstLines(err, 6)}`)
    const session = this.sessions.get(path)
    this.sessions.delete(path)
    await session?.close().catch(() => {})
  }

  async close () {
    await Promise.all([...this.sessions.values()].map(s => s.close().catch(() => {})))
    this.sessions.clear()
  }
}

export function firstLines (err, n = 2) {
  return String(err?.stack ?? err?.message ?? err).split('\n').slice(0, n).join(' | ')
}
