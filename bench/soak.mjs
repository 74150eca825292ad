#!/usr/bin/env node
// Soak: a real server process (CLI, --expose-gc --expose-internals) under
// churn of joins, leaves, reconnects, dials and transfers (plus a trickle of
// bad input) for N minutes. Every interval it prints RSS, the post-GC heap,
// event-loop lag, live counts and error counts; at the end it fits a line to
// the post-GC heap of the run after warm-up and fails (exit 1) when memory
// trends upward, when the server died, when a client saw an unexpected
// error, or when the server does not return to empty once the clients leave.
//
//   npm run soak -- --minutes 30            (samples every 60 s)
//   npm run soak -- --minutes 3 --interval 15
//
// Options: --minutes N (5), --interval S (60), --peers N (40),
// --transfers N concurrent transfer lanes (8), --max-slope KiB/min (256),
// --max-growth MiB over the fitted window (4).

import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signJoin } from '@wsstar/protocol'
import { NoAnswer, openSocket, requestWithin, whenConnected } from '@wsstar/raw-client'
import { freePort } from './lib/cli-server.mjs'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    interval: { type: 'string', default: '60' },
    peers: { type: 'string', default: '40' },
    transfers: { type: 'string', default: '8' },
    'max-slope': { type: 'string', default: '256' },
    'max-growth': { type: 'string', default: '4' },
    'server-log': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' }
  }
})
const MINUTES = Number(values.minutes)
const INTERVAL_MS = Number(values.interval) * 1000
const PEERS = Number(values.peers)
const TRANSFER_LANES = Number(values.transfers)
const MAX_SLOPE_KIB_PER_MIN = Number(values['max-slope'])
const MAX_GROWTH_MIB = Number(values['max-growth'])
const CLI = new URL('../packages/rendezvous/dist/src/cli.js', import.meta.url).pathname
const WINDOW = 1024 * 1024
/** a sender that waits this long for credit on a dial still open has found a bug */
const CREDIT_STALL_MS = 30_000
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const rand = n => Math.floor(Math.random() * n)

// --- server ------------------------------------------------------------------
const port = await freePort()
const adminPort = await freePort()
const server = spawn(process.execPath, ['--expose-gc', CLI, '--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort), '--expose-internals', '--log-level', values['log-level'],
  '--join-rate', '1000', '--join-burst', '1000', '--churn-rate', '1000', '--churn-burst', '1000', '--dial-rate', '1000', '--dial-burst', '1000',
  // every client connects from 127.0.0.1
  '--max-sockets-per-ip', '1000000', '--join-rate-per-ip', '1000000', '--join-burst-per-ip', '1000000'], { stdio: ['ignore', 'pipe', 'pipe'] })
let serverExit = null
let serverLog = ''
server.on('exit', (code, signal) => { serverExit = { code, signal } })
// the tail is kept for the verdict; --server-log FILE keeps all of it (e.g. with --log-level debug)
const serverLogFile = values['server-log'] == null ? null : createWriteStream(values['server-log'])
const keepLog = d => { serverLog = (serverLog + d).slice(-100_000); serverLogFile?.write(d) }
server.stdout.on('data', keepLog)
server.stderr.on('data', keepLog)
const admin = `http://127.0.0.1:${adminPort}`
async function internals (gc) {
  const res = await fetch(`${admin}/debug/internals${gc ? '?gc=1' : ''}`, { signal: AbortSignal.timeout(10_000) })
  return await res.json()
}
async function metrics () {
  const text = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const out = {}
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue
    const i = line.lastIndexOf(' ')
    out[line.slice(0, i)] = Number(line.slice(i + 1))
  }
  return out
}
for (let i = 0; ; i++) {
  try { await internals(false); break } catch { if (i > 200 || serverExit != null) { console.error(`server did not start: ${serverLog}`); process.exit(1) } await sleep(50) }
}

// --- clients -----------------------------------------------------------------
const soakStartedAt = Date.now()
const stats = { joins: 0, leaves: 0, reconnects: 0, dials: 0, transfers: 0, bytes: 0, badInputs: 0, expectedRejections: 0, errors: 0 }
const errorSamples = []
function unexpected (what, err) {
  stats.errors++
  const sample = `${what}: ${err?.code ?? ''} ${err?.message ?? err}`
  if (errorSamples.length < 10) errorSamples.push(sample)
  // as it happens, with the time: the per-minute lines only count them
  if (stats.errors <= 20) console.error(`unexpected client error at ${((Date.now() - soakStartedAt) / 60_000).toFixed(2)} min: ${sample}`)
}
/** a request whose missing answer comes back as an error code (TIMEOUT, DISCONNECTED) like the server's */
async function ask (socket, event, ...args) {
  try {
    return await requestWithin(15_000, socket, event, ...args)
  } catch (err) {
    if (!(err instanceof NoAnswer)) throw err
    return [{ code: err.reason === 'disconnected' ? 'DISCONNECTED' : 'TIMEOUT', message: err.message }]
  }
}

// --- per-dial history: what each end saw, printed when a transfer fails unexpectedly ---
const secs = () => ((Date.now() - soakStartedAt) / 1000).toFixed(3)
/** dial id -> { lines, calleeBytes, credit }; dials that end as expected are dropped */
const dialHistory = new Map()
function dialNote (dialId, line) {
  let h = dialHistory.get(dialId)
  if (h == null) {
    if (dialHistory.size >= 20_000) dialHistory.delete(dialHistory.keys().next().value)
    h = { lines: [], calleeBytes: 0, credit: 0 }
    dialHistory.set(dialId, h)
  }
  h.lines.push(`${secs()}s ${line}`)
  return h
}
function printDialHistory (dialId, from, to) {
  const h = dialHistory.get(dialId)
  console.error(`  dial ${dialId}: caller ${from.name}, callee ${to.name}; bytes the callee received ${h?.calleeBytes}, credit the caller received ${h?.credit}`)
  for (const line of h?.lines ?? ['(no history)']) console.error(`    ${line}`)
  for (const p of [from, to]) {
    console.error(`  last churn of ${p.name}:`)
    for (const line of p.history.slice(-12)) console.error(`    ${line}`)
  }
}

let peerCount = 0
class Peer {
  constructor (key) {
    this.name = `peer${peerCount++}`
    /** the last churn actions, with times and socket ids */
    this.history = []
    this.key = key
    this.peerId = peerIdFromPrivateKey(key).toString()
    this.address = `/ip4/127.0.0.1/tcp/${port}/ws/p2p-websocket-star/p2p/${this.peerId}`
    this.joined = false
    /** the socket id this peer last joined over in one request (the server takes that once per socket) */
    this.oneRequestSid = undefined
    this.busy = false
    this.receivers = new Map()
    this.resets = new Map()
  }

  churn (line) {
    this.history.push(`${secs()}s ${line}`)
    if (this.history.length > 40) this.history.shift()
  }

  async connect () {
    const socket = openSocket(port)
    this.socket = socket
    await whenConnected(socket)
    this.churn(`connected socket ${socket.id}`)
    socket.on('disconnect', reason => { this.churn(`socket ${socket.id} disconnected: ${reason}`) })
    socket.on('ss-evicted', evicted => { this.churn(`socket ${socket.id} evicted: ${evicted?.code}`) })
    socket.on('ss-incomming', (dialId, _from, ack) => { dialNote(dialId, `${this.name} (socket ${socket.id}) accepts ss-incomming`); ack(null) })
    // receiving side of every dial: consume, grant credit in quarter windows, close our direction when theirs closes
    socket.on('d', (dialId, bytes) => {
      const h = dialHistory.get(dialId)
      if (h != null) h.calleeBytes += bytes.byteLength
      const due = (this.receivers.get(dialId) ?? 0) + bytes.byteLength
      if (due >= WINDOW / 4) { socket.emit('c', dialId, due); this.receivers.set(dialId, 0) } else this.receivers.set(dialId, due)
    })
    socket.on('e', (dialId, kind, error) => {
      if (dialHistory.has(dialId)) dialNote(dialId, `${this.name} (socket ${socket.id}) got e ${kind} ${error?.code ?? ''} ${error?.message ?? ''}`)
      if (kind === 'close-write' && this.receivers.has(dialId)) socket.emit('e', dialId, 'close-write')
      this.receivers.delete(dialId)
      // recorded here, not by the transfer: a reset can arrive in the same read as the dial's ack,
      // before the code awaiting that ack runs
      if (kind === 'reset') {
        if (this.resets.size > 10_000) this.resets.clear()
        this.resets.set(dialId, error ?? { code: 'reset' })
      }
    })
    await this.join()
  }

  async join () {
    this.churn(`join on socket ${this.socket.id}`)
    // every other join is the transport's one-request join (signed over the socket id), so both kinds run under load
    if (stats.joins % 2 === 0) {
      const sid = this.socket.id
      const [err, result] = await ask(this.socket, 'ss-join', this.address, { sid, signature: await signJoin(this.key, this.address, sid) })
      if (err == null && result?.verified === true) {
        this.joined = true
        this.oneRequestSid = sid
        this.churn(`joined in one request on socket ${this.socket.id}`)
        stats.joins++
        return
      }
      // a reconnect in between gives the socket a new id, and a socket's one-request join
      // verifies once (a re-join after a leave on it is refused): the transport then joins
      // in two steps, and so do we
      const expected = this.socket.id !== sid || this.oneRequestSid === sid
      if (err?.code !== 'ERR_CHALLENGE_EXPIRED' || !expected) return unexpected('one-request join', err ?? { code: 'NOT_VERIFIED', message: 'result without verified: true' })
    }
    const [err1, hello] = await ask(this.socket, 'ss-join', this.address, {})
    if (err1 != null) return unexpected('join hello', err1)
    const [err2] = await ask(this.socket, 'ss-join', this.address, { signature: await signJoin(this.key, this.address, hello.nonce) })
    if (err2 != null) return unexpected('join proof', err2)
    this.joined = true
    this.churn(`joined on socket ${this.socket.id}`)
    stats.joins++
  }

  async leave () {
    this.joined = false
    this.churn(`leave on socket ${this.socket.id}`)
    const [err] = await ask(this.socket, 'ss-leave', this.address)
    if (err != null) return unexpected('leave', err)
    this.churn(`left on socket ${this.socket.id}`)
    stats.leaves++
  }

  close () { this.joined = false; this.churn(`close socket ${this.socket?.id}`); this.socket?.disconnect() }
}

/** One transfer: dial, send `size` bytes within the credit, close both ways. */
async function transfer (from, to) {
  const [err, result] = await ask(from.socket, 'ss-dial', from.address, to.address)
  if (err != null) {
    // the callee may be between a leave and a join, or reconnecting: expected under churn
    if (err.code === 'ERR_PEER_NOT_FOUND' || err.code === 'ERR_PEER_GONE' || err.code === 'DISCONNECTED') { stats.expectedRejections++; return }
    return unexpected('dial', err)
  }
  stats.dials++
  const dialId = result.dialId
  const history = dialNote(dialId, `${from.name} (socket ${from.socket.id}) got the ss-dial ack; ${to.name} is on socket ${to.socket?.id}, joined ${to.joined}; reset recorded before: ${from.resets.get(dialId)?.code}`)
  to.receivers.set(dialId, 0)
  const size = 16 * 1024 + rand(2 * WINDOW)
  const frame = Buffer.alloc(32 * 1024, 0x5a)
  let credit = WINDOW
  let sent = 0
  let ended = null
  let wake = null
  let creditedAt = Date.now()
  const onCredit = (id, n) => { if (id === dialId) { credit += n; creditedAt = Date.now(); history.credit += n; wake?.() } }
  // the first reset says why (frames still in flight then draw ERR_DIAL_NOT_FOUND resets)
  const onEnd = (id, kind) => { if (id === dialId && kind === 'reset' && ended == null) { ended = from.resets.get(dialId); wake?.() } }
  ended = from.resets.get(dialId) ?? null
  from.socket.on('c', onCredit)
  from.socket.on('e', onEnd)
  try {
    while (sent < size && ended == null && from.socket.connected) {
      if (credit <= 0) {
        await new Promise(resolve => { wake = resolve; setTimeout(resolve, 5000) })
        wake = null
        // no credit for long, no reset and still connected: the server lost track of this dial
        if (credit <= 0 && ended == null && from.socket.connected && Date.now() - creditedAt > CREDIT_STALL_MS) {
          dialNote(dialId, `${from.name} stops: no credit for ${CREDIT_STALL_MS} ms after ${sent} of ${size} bytes`)
          unexpected('transfer', { code: 'CREDIT_STALLED', message: `no credit for ${CREDIT_STALL_MS} ms` })
          setTimeout(() => { printDialHistory(dialId, from, to); dialHistory.delete(dialId) }, 500)
          return
        }
        continue
      }
      const n = Math.min(frame.length, credit, size - sent)
      from.socket.emit('d', dialId, n === frame.length ? frame : frame.subarray(0, n))
      credit -= n
      sent += n
      if (sent % (256 * 1024) < n) await sleep(0)
    }
    if (ended != null || !from.socket.connected) {
      // the other end left or reconnected mid-transfer: the server reset the dial, as it should
      if (ended?.code === 'ERR_PEER_GONE' || !from.socket.connected) { stats.expectedRejections++; dialHistory.delete(dialId); return }
      dialNote(dialId, `${from.name} stops: sent ${sent} of ${size} bytes, first reset ${ended?.code}`)
      unexpected('transfer', ended)
      // later frames of either end still go into the history for a moment
      setTimeout(() => { printDialHistory(dialId, from, to); dialHistory.delete(dialId) }, 500)
      return
    }
    dialHistory.delete(dialId)
    from.socket.emit('e', dialId, 'close-write')
    stats.transfers++
    stats.bytes += sent
  } finally {
    from.socket.off('c', onCredit)
    from.socket.off('e', onEnd)
    from.resets.delete(dialId)
  }
}

const peers = []
for (let i = 0; i < PEERS; i++) {
  const p = new Peer(await generateKeyPair('Ed25519'))
  await p.connect()
  peers.push(p)
}
const pick = () => peers[rand(peers.length)]
const pickIdle = () => { for (let i = 0; i < 10; i++) { const p = pick(); if (!p.busy && p.joined) return p } return undefined }

let running = true
async function transferLane () {
  while (running) {
    const a = pickIdle()
    const b = pick()
    if (a == null || a === b || !b.joined) { await sleep(10); continue }
    a.busy = true
    try { await transfer(a, b) } catch (err) { unexpected('transfer lane', err) } finally { a.busy = false }
  }
}
async function churnLane () {
  while (running) {
    await sleep(20 + rand(60))
    const p = pickIdle()
    if (p == null) continue
    p.busy = true
    try {
      const r = Math.random()
      if (r < 0.45) {
        await p.leave()
        await sleep(rand(100))
        await p.join()
      } else if (r < 0.8) {
        p.close()
        await sleep(rand(100))
        await p.connect()
        stats.reconnects++
      } else if (r < 0.9) {
        // bad input the server must reject and forget: a stray frame, a join with a garbage signature
        p.socket.emit('d', 'AAAAAAAAAAAAAAAAAAAAAA', Buffer.alloc(10))
        const [, hello] = await ask(p.socket, 'ss-join', p.address, {})
        const [err] = await ask(p.socket, 'ss-join', p.address, { signature: 'AAAA' + (hello?.nonce ?? '') })
        if (err?.code !== 'ERR_INVALID_SIGNATURE') unexpected('bad join answered', err)
        stats.badInputs += 2
      } else {
        // a dial that is refused: to a peer that is not online
        const [err] = await ask(p.socket, 'ss-dial', p.address, '/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star/p2p/12D3KooWLhgZTHiGhkbQpqGvsHw5gKUWnVYSrL7Hjmh7XFTJvBpj')
        if (err?.code !== 'ERR_PEER_NOT_FOUND') unexpected('dial to nobody answered', err)
        stats.badInputs++
      }
    } catch (err) {
      unexpected('churn lane', err)
    } finally {
      p.busy = false
    }
  }
}

// --- sampling ----------------------------------------------------------------
const samples = []
const started = Date.now()
const mib = b => (b / 1048576).toFixed(1)
let lastStats = { ...stats }
async function sample () {
  const i = await internals(true)
  const m = await metrics()
  const rejected = Object.entries(m).filter(([k]) => k.startsWith('wsstar_rejected_total')).map(([k, v]) => `${k.match(/code="([^"]+)"/)?.[1]}=${v}`).join(' ')
  const s = {
    minute: (Date.now() - started) / 60_000,
    rss: i.memory.rss,
    heap: i.memory.heapUsed,
    lagP99Ms: (m.nodejs_eventloop_lag_p99_seconds ?? 0) * 1000,
    lagMaxMs: (m.nodejs_eventloop_lag_max_seconds ?? 0) * 1000,
    sockets: i.server.sessions,
    peers: i.server.localPeers,
    openDials: i.server.dials - i.server.pendingDials,
    pendingDials: i.server.pendingDials,
    clientTotals: { ...stats }
  }
  samples.push(s)
  const d = k => stats[k] - lastStats[k]
  console.log(`t=${s.minute.toFixed(1)}m rss=${mib(s.rss)}MiB heap(post-GC)=${mib(s.heap)}MiB lag p99=${s.lagP99Ms.toFixed(1)}ms max=${s.lagMaxMs.toFixed(1)}ms | sockets=${s.sockets} peers=${s.peers} dials open=${s.openDials} pending=${s.pendingDials} | +joins=${d('joins')} +reconnects=${d('reconnects')} +transfers=${d('transfers')} +MiB=${mib(d('bytes'))} +bad=${d('badInputs')} | client errors=${stats.errors} | server rejected: ${rejected}`)
  lastStats = { ...stats }
}

console.log(`soak: ${MINUTES} min, sample every ${INTERVAL_MS / 1000} s, ${PEERS} peers, ${TRANSFER_LANES} transfer lanes, server pid ${server.pid} on port ${port}`)
const lanes = [...Array.from({ length: TRANSFER_LANES }, transferLane), ...Array.from({ length: 4 }, churnLane)]
await sample()
const endAt = started + MINUTES * 60_000
while (Date.now() < endAt && serverExit == null) {
  await sleep(Math.min(INTERVAL_MS, Math.max(0, endAt - Date.now())))
  if (serverExit == null) await sample()
}
running = false
await Promise.allSettled(lanes)

// --- after: the server must return to empty ---------------------------------
for (const p of peers) p.close()
let settled = null
for (let t = 0; t < 100 && serverExit == null; t++) {
  const i = await internals(false)
  if (i.server.sessions === 0 && i.server.engineClients === 0 && i.server.dials === 0 && i.server.localPeers === 0 && i.server.challenges === 0 && i.server.discoveryPending === 0) { settled = i; break }
  await sleep(100)
}

// --- verdict -----------------------------------------------------------------
// fit heap = a + slope * minute over the samples after warm-up (the first sample, and the first
// fifth of the run), so JIT, caches and connection pools filling up do not count as a trend
const warm = samples.filter(s => s.minute >= Math.max(samples[1]?.minute ?? 0, MINUTES / 5))
const fit = warm.length >= 3 ? linearFit(warm.map(s => s.minute), warm.map(s => s.heap)) : null
const slopeKiB = fit == null ? 0 : fit.slope / 1024
const growthMiB = fit == null ? 0 : (fit.slope * (warm.at(-1).minute - warm[0].minute)) / 1048576
const problems = []
if (serverExit != null) problems.push(`the server exited: ${JSON.stringify(serverExit)} ${serverLog.slice(-2000)}`)
if (fit == null) problems.push(`too few samples after warm-up (${warm.length}) to fit a trend: run longer or sample more often`)
if (slopeKiB > MAX_SLOPE_KIB_PER_MIN && growthMiB > MAX_GROWTH_MIB) problems.push(`post-GC heap trends upward: ${slopeKiB.toFixed(0)} KiB/min (${growthMiB.toFixed(1)} MiB over the fitted window; bounds ${MAX_SLOPE_KIB_PER_MIN} KiB/min and ${MAX_GROWTH_MIB} MiB)`)
if (stats.errors > 0) problems.push(`${stats.errors} unexpected client errors: ${errorSamples.join('; ')}`)
if (settled == null && serverExit == null) problems.push('the server did not return to 0 sockets / dials / peers / nonces after the clients left')
const summary = {
  minutes: MINUTES,
  samples: samples.length,
  heapSlopeKiBPerMin: Number(slopeKiB.toFixed(1)),
  heapGrowthMiBFitted: Number(growthMiB.toFixed(2)),
  heapFirstMiB: Number(mib(samples[0]?.heap ?? 0)),
  heapLastMiB: Number(mib(samples.at(-1)?.heap ?? 0)),
  rssMaxMiB: Number(mib(Math.max(...samples.map(s => s.rss)))),
  lagP99MaxMs: Number(Math.max(...samples.map(s => s.lagP99Ms)).toFixed(1)),
  totals: stats,
  afterClientsLeft: settled?.server ?? null
}
console.log(JSON.stringify(summary))
if (serverExit == null) server.kill('SIGTERM')
if (problems.length > 0) {
  console.log(`SOAK FAILED:\n- ${problems.join('\n- ')}`)
  process.exit(1)
}
console.log(`SOAK PASSED: post-GC heap slope ${slopeKiB.toFixed(1)} KiB/min over ${warm.length} samples, no server exit, no unexpected client errors, server empty after the clients left`)
process.exit(0)

function linearFit (xs, ys) {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2 }
  return { slope: den === 0 ? 0 : num / den, intercept: my - (den === 0 ? 0 : num / den) * mx }
}
