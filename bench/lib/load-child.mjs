// A load-generator process for the raw-client scenarios (joins, discovery,
// dials): thousands of WireSockets (bench/lib/wire-client.mjs) against one
// rendezvous server, driven by the bench process over IPC. Keys are
// generated up front (`prepare`); a join signs the server's nonce here, in
// the load process, with a cached node:crypto KeyObject.

import { serveRpc } from './child.mjs'
import { percentile } from './stats.mjs'
import { WireSocket, counters, createIdentity } from './wire-client.mjs'

let port = 0
let sockets = []
let churn = null

function summary (xs) {
  return { n: xs.length, p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: xs.length === 0 ? NaN : Math.max(...xs) }
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
async function pool (n, concurrency, fn) {
  let next = 0
  const errors = []
  const worker = async () => {
    while (next < n) {
      const i = next++
      try { await fn(i) } catch (err) { errors.push(String(err?.message ?? err)) }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
  return errors
}

serveRpc({
  /**
   * Generates `count` more identities (not connected yet); `token`: a private server's, presented at connect;
   * connecting from `localAddress` when given; with `namespaces` each joins one of that many (`ns-<k>`, at random).
   */
  async prepare (args) {
    port = args.port
    const t0 = performance.now()
    const namespaceOf = () => args.namespaces == null ? undefined : [`ns-${Math.floor(Math.random() * args.namespaces)}`]
    for (let i = 0; i < args.count; i++) sockets.push(new WireSocket(port, createIdentity(), args.token, args.localAddress, namespaceOf()))
    return { sockets: sockets.length, ms: performance.now() - t0 }
  },

  /** Connects the sockets that are not connected yet. */
  async connect ({ concurrency = 100 }) {
    const todo = sockets.filter(s => s.ws == null)
    const t0 = performance.now()
    const errors = await pool(todo.length, concurrency, i => todo[i].connect())
    return { connected: todo.length - errors.length, ms: performance.now() - t0, errors: errors.slice(0, 5), errorCount: errors.length }
  },

  /** Joins the connected sockets that have not joined. */
  async join ({ concurrency = 50, mode = 'socket' }) {
    const todo = sockets.filter(s => s.ws != null && !s.joined && !s.closed)
    const hello = []
    const proof = []
    const total = []
    const t0 = performance.now()
    const errors = await pool(todo.length, concurrency, async i => {
      const r = await todo[i].join(mode)
      hello.push(r.helloMs)
      proof.push(r.proofMs)
      total.push(r.helloMs + r.signMs + r.proofMs)
    })
    return {
      joined: todo.length - errors.length,
      ms: performance.now() - t0,
      hello: summary(hello),
      proof: summary(proof),
      total: summary(total),
      errors: errors.slice(0, 5),
      errorCount: errors.length
    }
  },

  async counters ({ reset = false } = {}) {
    const c = { ...counters, sockets: sockets.length, joined: sockets.filter(s => s.joined).length, t: performance.now() }
    if (reset) for (const k of Object.keys(counters)) counters[k] = 0
    return c
  },

  /** `rate` joined sockets per second leave and re-join at once (the churn of the discovery scenario). */
  async churnStart ({ rate }) {
    const stats = { cycles: 0, errors: 0, firstError: null }
    const t0 = performance.now()
    let done = 0
    let busy = 0
    const timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / 1000 * rate) - done
      for (let k = 0; k < due; k++) {
        done++
        const s = sockets[Math.floor(Math.random() * sockets.length)]
        if (!s.joined || s.busy) continue
        s.busy = true
        busy++
        s.leave().then(() => s.join()).then(() => { stats.cycles++ }, (err) => {
          stats.errors++
          stats.firstError ??= String(err?.message ?? err)
        }).finally(() => { s.busy = false; busy-- })
      }
    }, 20)
    churn = { timer, stats, busy: () => busy }
    return true
  },

  async churnStop () {
    if (churn == null) return null
    clearInterval(churn.timer)
    const deadline = performance.now() + 30_000
    while (churn.busy() > 0) {
      if (performance.now() > deadline) throw new Error(`churn: ${churn.busy()} sockets still busy 30 s after the stop`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const stats = churn.stats
    churn = null
    return stats
  },

  /**
   * Open-loop dials at `rate`/s for `durationMs` between pairs of this
   * process's joined sockets (socket 2k dials socket 2k+1; callees accept at
   * once). Each dial: ss-dial → (callee) ss-incomming → ack → (caller) ack
   * with the dial id, then the caller resets it ('e' reset). Latency: from
   * sending ss-dial to receiving its ack.
   */
  async dials ({ rate, durationMs, warmupMs = 0 }) {
    const pairs = []
    for (let i = 0; i + 1 < sockets.length; i += 2) {
      if (sockets[i].joined && sockets[i + 1].joined) pairs.push([sockets[i], sockets[i + 1]])
    }
    if (pairs.length === 0) throw new Error('no joined pairs')
    const latencies = []
    const errors = {}
    let sent = 0
    let completed = 0
    let outstanding = 0
    let maxOutstanding = 0
    let pairIndex = 0
    const t0 = performance.now()
    const end = t0 + warmupMs + durationMs
    const dialOne = (measured) => {
      const [caller, callee] = pairs[pairIndex++ % pairs.length]
      const start = performance.now()
      outstanding++
      maxOutstanding = Math.max(maxOutstanding, outstanding)
      caller.request('ss-dial', caller.address, callee.address).then(([err, result]) => {
        outstanding--
        if (err != null) {
          errors[err.code] = (errors[err.code] ?? 0) + 1
          return
        }
        caller.emit('e', result.dialId, 'reset')
        if (measured) {
          latencies.push(performance.now() - start)
          completed++
        }
      })
    }
    await new Promise(resolve => {
      const tick = () => {
        const now = performance.now()
        const due = Math.floor((Math.min(now, end) - t0) / 1000 * rate) - sent
        for (let k = 0; k < due; k++) {
          sent++
          dialOne(now - t0 >= warmupMs)
        }
        if (now >= end) resolve()
        else setTimeout(tick, 1)
      }
      tick()
    })
    const waitUntil = performance.now() + 5000
    while (outstanding > 0 && performance.now() < waitUntil) await new Promise(resolve => setTimeout(resolve, 5))
    const measuredSent = Math.round(durationMs / 1000 * rate)
    return {
      rate,
      durationMs,
      pairs: pairs.length,
      sent: measuredSent,
      completed,
      achievedPerSec: completed / (durationMs / 1000),
      latency: summary(latencies),
      outstandingAtEnd: outstanding,
      maxOutstanding,
      errors
    }
  },

  async close () {
    for (const s of sockets) s.close()
    sockets = []
    return true
  }
}, { pid: process.pid })
