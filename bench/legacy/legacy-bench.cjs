#!/usr/bin/env node
'use strict'
// Baseline benchmark of the archived websocket-star pair:
//   client libp2p-websocket-star@0.10.2, server libp2p-websocket-star-rendezvous@0.4.1.
// Loopback only, bounded counts and times, stops by itself, kills its children.
//
//   node legacy-bench.cjs [--joins 1000] [--concurrency 100] [--join-seconds 60] [--mib 32]
//                         [--runs 5] [--chunk 65536] [--no-libp2p] [--max-seconds 170]
//
// stdout: one JSON object { legacy: {...} }; stderr: human-readable progress.
// Run it with the machine's plain `node` (v20); see README.md.

const { fork, execFileSync } = require('child_process')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')

const argv = process.argv.slice(2)
const num = (name, def) => {
  const i = argv.indexOf('--' + name)
  if (i < 0) return def
  const v = Number(argv[i + 1])
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`)
  return v
}
const opts = {
  joins: num('joins', 1000),
  concurrency: num('concurrency', 100),
  mib: num('mib', 32),
  runs: num('runs', 5),
  chunk: num('chunk', 64 * 1024),
  maxSeconds: num('max-seconds', 170),
  joinSeconds: num('join-seconds', 60),
  libp2p: !argv.includes('--no-libp2p'),
  host: '127.0.0.1' // loopback only, by design
}
if (argv.includes('--help')) {
  process.stderr.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 11).join('\n') + '\n')
  process.exit(0)
}

const say = (...a) => process.stderr.write(a.join(' ') + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const MiB = 1024 * 1024
const GiB = 1024 * MiB

// ---------------------------------------------------------------- children & bounds
const children = new Set()
function killChildren () {
  for (const c of children) { try { c.kill('SIGKILL') } catch (_) { /* already gone */ } }
  children.clear()
}
process.on('exit', killChildren)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { say(`legacy-bench: ${sig}`); process.exit(130) })
process.on('uncaughtException', (err) => { say('legacy-bench: uncaught', err && err.stack); process.exit(1) })
process.on('unhandledRejection', (err) => { say('legacy-bench: unhandled', err && err.stack); process.exit(1) })
const watchdog = setTimeout(() => { say(`legacy-bench: exceeded --max-seconds ${opts.maxSeconds}, giving up`); process.exit(1) }, opts.maxSeconds * 1000)

function withTimeout (promise, ms, what) {
  let t
  return Promise.race([
    promise,
    new Promise((resolve, reject) => { t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms) })
  ]).finally(() => clearTimeout(t))
}

// ---------------------------------------------------------------- legacy modules
const WStar = require('libp2p-websocket-star')
const multiaddr = require('multiaddr')
const pull = require('pull-stream')
const { createPeerIds } = require('./node-crypto-peer-ids.cjs')

// ---------------------------------------------------------------- server child
let CLK_TCK = 100
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 } catch (_) { /* no getconf: Linux's usual 100 */ }

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, opts.host, () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

/** RSS (bytes) and CPU seconds of another process, read from /proc (no help from it needed). */
function procStats (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields[0] is field 3 (state)
  const cpuSec = (Number(fields[11]) + Number(fields[12])) / CLK_TCK // utime + stime
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
  return { rss: rssKb * 1024, cpuSec }
}

async function startServer (label) {
  const port = await freePort()
  const child = fork(path.join(__dirname, 'legacy-server-child.cjs'), ['--port', String(port), '--host', opts.host], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, DEBUG: '' }
  })
  children.add(child)
  child.on('exit', (code, sig) => {
    children.delete(child)
    if (!child.stopping) say(`legacy-bench: server (${label}) exited unexpectedly: code ${code} signal ${sig}`)
  })
  const msg = await withTimeout(new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)))
    child.on('message', function onMsg (m) { if (m && m.type === 'listening') { child.off('message', onMsg); resolve(m) } })
  }), 15000, 'server start')
  const server = {
    child,
    port: msg.port,
    pid: msg.pid,
    proc: () => procStats(msg.pid),
    /** the child's own view (process.cpuUsage / memoryUsage and the number of registered addresses) */
    ipcStats: () => withTimeout(new Promise((resolve) => {
      child.on('message', function onMsg (m) { if (m && m.type === 'stats') { child.off('message', onMsg); resolve(m) } })
      child.send({ type: 'stats' })
    }), 30000, 'server stats'),
    stop: async () => {
      child.stopping = true
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await withTimeout(exited, 3000, 'server stop').catch(() => child.kill('SIGKILL'))
    }
  }
  say(`legacy rendezvous (${label}) pid ${server.pid} on ${opts.host}:${server.port} (challenge on, strict multiaddr on, metrics on)`)
  return server
}

const wsStarAddr = (port, id) => `/ip4/${opts.host}/tcp/${port}/ws/p2p-websocket-star/ipfs/${id.toB58String()}`

function listen (listener, ma) {
  return new Promise((resolve, reject) => listener.listen(multiaddr(ma), (err) => err ? reject(err) : resolve()))
}

async function pool (count, concurrency, fn) {
  let next = 0
  const worker = async () => { while (next < count) { const i = next++; await fn(i) } }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker))
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null
}
const r2 = (x) => x == null ? null : Math.round(x * 100) / 100
const toMiB = (b) => r2(b / MiB)

// ---------------------------------------------------------------- b. joins
async function joinPhase () {
  const n = opts.joins
  let t = Date.now()
  const ids = await createPeerIds(n)
  say(`joins: ${n} RSA-2048 peer ids (Node crypto primes, peer-id 0.12) in ${((Date.now() - t) / 1000).toFixed(1)} s (not timed)`)

  const server = await startServer('joins')
  await sleep(500)
  const before = server.proc()
  const clientCpu0 = process.cpuUsage()
  const listeners = []
  let failed = 0
  t = process.hrtime.bigint()
  const deadline = Date.now() + opts.joinSeconds * 1000
  let skipped = 0
  const joinedAt = [] // seconds since the start of the phase, one per successful join
  await pool(n, opts.concurrency, async (i) => {
    if (Date.now() > deadline) { skipped++; return }
    const transport = new WStar({ id: ids[i] })
    const listener = transport.createListener(() => {})
    // All N clients live in this one process, next to a server that re-announces every
    // peer to every peer: drop the 'peer' events, and once joined stop parsing the
    // 'ws-peer' announcements (they are still sent by the server and received here).
    listener.removeAllListeners('peer')
    listener.on('error', () => {})
    try {
      await withTimeout(listen(listener, wsStarAddr(server.port, ids[i])), 30000, 'join')
      if (listener.io) listener.io.removeAllListeners('ws-peer')
      listeners.push(listener)
      joinedAt.push(Number(process.hrtime.bigint() - t) / 1e9)
    } catch (err) {
      failed++
      listener.close()
      if (failed <= 3) say('joins: a join failed:', err.message)
    }
  })
  const elapsed = Number(process.hrtime.bigint() - t) / 1e9
  if (skipped) say(`joins: --join-seconds ${opts.joinSeconds} ran out, ${skipped} joins not attempted`)
  const after = server.proc()
  const clientCpu = process.cpuUsage(clientCpu0)
  const registered = (await server.ipcStats()).peers
  const joinsPerSec = listeners.length / elapsed
  // every joined peer is re-announced to every peer every 10 s: joins that finish inside the
  // first 10 s do not yet compete with those refresh rounds
  const first10s = joinedAt.filter((x) => x <= 10).length
  const timeline = {}
  for (const k of [100, 250, 500, 750, 1000, 2000, 5000]) if (k <= joinedAt.length) timeline[k] = r2(joinedAt[k - 1])
  say(`joins: seconds until the k-th join: ${JSON.stringify(timeline)}; ${first10s} joins in the first 10 s`)
  say(`joins: ${listeners.length}/${n} joined (${failed} failed, concurrency ${opts.concurrency}) in ${elapsed.toFixed(2)} s = ${joinsPerSec.toFixed(1)} joins/s; server has ${registered} addresses`)
  say(`joins: server RSS ${toMiB(before.rss)} -> ${toMiB(after.rss)} MiB, server CPU ${(after.cpuSec - before.cpuSec).toFixed(2)} s, client process CPU ${((clientCpu.user + clientCpu.system) / 1e6).toFixed(2)} s`)

  // leave: close every listener (the 0.10.2 client just disconnects; it never sends ss-leave)
  for (const l of listeners) l.close()
  const leaveDeadline = Date.now() + 20000
  let left = registered
  while (Date.now() < leaveDeadline) {
    left = (await server.ipcStats()).peers
    if (left === 0) break
    await sleep(250)
  }
  await sleep(1000)
  const afterLeave = server.proc()
  say(`joins: all clients disconnected (${left} addresses left on the server); server RSS ${toMiB(afterLeave.rss)} MiB`)
  await server.stop()
  return {
    joins: listeners.length,
    joinsFailed: failed,
    joinsNotAttempted: skipped,
    joinSeconds: r2(elapsed),
    joinsPerSec: r2(joinsPerSec),
    joinConcurrency: opts.concurrency,
    joinsInFirst10s: first10s,
    secondsUntilKthJoin: timeline,
    serverRssBeforeMiB: toMiB(before.rss),
    serverRssAfterMiB: toMiB(after.rss),
    serverRssAfterLeaveMiB: toMiB(afterLeave.rss),
    serverCpuSecJoins: r2(after.cpuSec - before.cpuSec),
    clientCpuSecJoins: r2((clientCpu.user + clientCpu.system) / 1e6)
  }
}

// ---------------------------------------------------------------- c. throughput
/** a pull-stream source of `total` bytes in `chunk`-sized Buffers (one random buffer reused) */
function bytesSource (total, chunk) {
  const block = require('crypto').randomBytes(chunk)
  let sent = 0
  return (end, cb) => {
    if (end) return cb(end)
    if (sent >= total) return cb(true)
    const n = Math.min(chunk, total - sent)
    sent += n
    cb(null, n === chunk ? block : block.subarray(0, n))
  }
}

/**
 * Runs R transfers of M MiB from A to B. setup() -> { dial(): Promise<sinkConn>, onIncoming(handler) , close() }
 */
async function transferRuns (label, server, pair) {
  const total = opts.mib * MiB
  const runs = []
  let cpuSec = 0
  let bytes = 0
  const dialMs = []
  for (let r = 0; r < opts.runs; r++) {
    const received = new Promise((resolve, reject) => {
      pair.onIncoming((conn) => {
        let got = 0
        let done = false
        pull(conn, pull.drain((buf) => {
          got += buf.length
          if (got >= total && !done) { done = true; resolve(process.hrtime.bigint()) }
        }, (err) => {
          if (!done) { done = true; reject(err && err !== true ? err : new Error(`stream ended after ${got} of ${total} bytes`)) }
        }))
      })
    })
    const s0 = server.proc()
    const td = process.hrtime.bigint()
    const conn = await withTimeout(pair.dial(), 15000, `${label} dial`)
    const t0 = process.hrtime.bigint()
    dialMs.push(Number(t0 - td) / 1e6)
    pull(bytesSource(total, opts.chunk), conn)
    const t1 = await withTimeout(received, 60000, `${label} transfer`)
    const s1 = server.proc()
    const secs = Number(t1 - t0) / 1e9
    runs.push(r2(opts.mib / secs))
    cpuSec += s1.cpuSec - s0.cpuSec
    bytes += total
    say(`${label}: run ${r + 1}/${opts.runs}: ${opts.mib} MiB in ${secs.toFixed(3)} s = ${(opts.mib / secs).toFixed(1)} MiB/s (dial ${dialMs[r].toFixed(1)} ms), server CPU ${(s1.cpuSec - s0.cpuSec).toFixed(2)} s, server RSS ${toMiB(s1.rss)} MiB`)
    await sleep(300) // let the end-of-stream events settle before the next dial
  }
  return {
    throughputMiBs: { median: median(runs), runs },
    serverCpuSecPerGiB: r2(cpuSec / (bytes / GiB)),
    dialMsMedian: r2(median(dialMs))
  }
}

async function rawThroughput () {
  const server = await startServer('throughput, raw transport')
  const [a, b] = await createPeerIds(2)
  const ta = new WStar({ id: a })
  const tb = new WStar({ id: b })
  let incoming = () => {}
  const la = ta.createListener(() => {})
  const lb = tb.createListener((conn) => incoming(conn))
  la.on('error', () => {})
  lb.on('error', () => {})
  const maB = wsStarAddr(server.port, b)
  await listen(lb, maB)
  await listen(la, wsStarAddr(server.port, a))
  const result = await transferRuns('throughput raw', server, {
    onIncoming: (h) => { incoming = h },
    dial: () => new Promise((resolve, reject) => ta.dial(multiaddr(maB), (err, conn) => err ? reject(err) : resolve(conn)))
  })
  la.close()
  lb.close()
  const rss = toMiB(server.proc().rss)
  await server.stop()
  return { ...result, serverRssAfterMiB: rss }
}

async function libp2pThroughput () {
  const Libp2p = require('libp2p')
  const PeerInfo = require('peer-info')
  const SECIO = require('libp2p-secio')
  const Mplex = require('libp2p-mplex')
  const PROTOCOL = '/wsstar-legacy-bench/1.0.0'
  const server = await startServer('throughput, libp2p 0.25 + secio + mplex')
  const [a, b] = await createPeerIds(2)
  const mk = (id) => {
    const peerInfo = new PeerInfo(id)
    peerInfo.multiaddrs.add(wsStarAddr(server.port, id))
    const ws = new WStar({ id })
    return new Libp2p({
      peerInfo,
      modules: { transport: [ws], streamMuxer: [Mplex], connEncryption: [SECIO], peerDiscovery: [ws.discovery] },
      config: { peerDiscovery: { autoDial: false }, relay: { enabled: false }, EXPERIMENTAL: { pubsub: false }, dht: { enabled: false } }
    })
  }
  const na = mk(a)
  const nb = mk(b)
  na.on('error', (e) => say('libp2p A error', e.message))
  nb.on('error', (e) => say('libp2p B error', e.message))
  const start = (node) => new Promise((resolve, reject) => node.start((err) => err ? reject(err) : resolve()))
  await withTimeout(Promise.all([start(na), start(nb)]), 20000, 'libp2p start')
  let incoming = () => {}
  nb.handle(PROTOCOL, (_proto, conn) => incoming(conn))
  const maB = multiaddr(wsStarAddr(server.port, b))
  const result = await transferRuns('throughput libp2p', server, {
    onIncoming: (h) => { incoming = h },
    dial: () => new Promise((resolve, reject) => na.dialProtocol(maB, PROTOCOL, (err, conn) => err ? reject(err) : resolve(conn)))
  })
  const stop = (node) => new Promise((resolve) => node.stop(() => resolve()))
  await withTimeout(Promise.all([stop(na), stop(nb)]), 5000, 'libp2p stop').catch((e) => say(e.message))
  await server.stop()
  return result
}

// ---------------------------------------------------------------- main
async function main () {
  const t0 = Date.now()
  const loadStart = os.loadavg().map(r2)
  say(`legacy-bench on node ${process.version}: libp2p-websocket-star@0.10.2 + libp2p-websocket-star-rendezvous@0.4.1, loopback ${opts.host}`)
  if (!process.version.startsWith('v20.')) say(`legacy-bench: note: the baseline is defined on the machine's Node 20 (plain \`node\`), this is ${process.version} (npm run inside the repo puts the root's Node 24 first on PATH)`)
  const joins = opts.joins > 0 ? await joinPhase() : {}
  const raw = opts.runs > 0 ? await rawThroughput() : {}
  const lp = opts.runs > 0 && opts.libp2p ? await libp2pThroughput() : null
  const legacy = {
    joinsPerSec: joins.joinsPerSec,
    joins: joins.joins,
    serverRssBeforeMiB: joins.serverRssBeforeMiB,
    serverRssAfterMiB: joins.serverRssAfterMiB,
    throughputMiBs: raw.throughputMiBs,
    serverCpuSecPerGiB: raw.serverCpuSecPerGiB,
    layers: `raw relayed connection: legacy transport dial + listener (socket.io-pull-stream over socket.io v2 / Engine.IO 3 / WebSocket, relayed by the rendezvous server), no libp2p upgrade; ${opts.chunk}-byte chunks, one socket.io binary event per chunk; client and server in separate processes on loopback`,
    node: process.version,
    details: {
      ...joins,
      mibPerRun: opts.mib,
      chunkBytes: opts.chunk,
      rawDialMsMedian: raw.dialMsMedian,
      rawServerRssAfterMiB: raw.serverRssAfterMiB,
      cpus: os.cpus().length,
      loadAvgStart: loadStart,
      loadAvgEnd: os.loadavg().map(r2)
    },
    libp2p: lp && {
      layers: `full legacy node: libp2p 0.25.6 (libp2p-switch) + libp2p-secio 0.11.1 + libp2p-mplex 0.8.5 over the same websocket-star transport; one mplex stream per run on a reused connection; ${opts.chunk}-byte application writes`,
      throughputMiBs: lp.throughputMiBs,
      serverCpuSecPerGiB: lp.serverCpuSecPerGiB,
      dialMsMedian: lp.dialMsMedian
    },
    wallSeconds: r2((Date.now() - t0) / 1000)
  }
  process.stdout.write(JSON.stringify({ legacy }, null, 2) + '\n')
  say(`legacy-bench: done in ${legacy.wallSeconds} s`)
  clearTimeout(watchdog)
  killChildren()
  process.exit(0)
}

main().catch((err) => { say('legacy-bench failed:', err && err.stack); process.exit(1) })
