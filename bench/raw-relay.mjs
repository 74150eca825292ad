#!/usr/bin/env node
// Raw rendezvous server benchmark: no libp2p, no transport package, just
// socket.io clients speaking wire protocol v2 by hand (@wsstar/raw-client) against
// @wsstar/rendezvous running in a child process.
//
//   npx node bench/raw-relay.mjs [--joins=N] [--concurrency=N] [--mib=N] [--runs=N] [--window=BYTES] [--dials=N] [--naive]
//
// Measures
//   joins/s : N sockets (pre-connected) each run the full Ed25519 challenge join
//             (hello -> nonce -> sign -> proof), `concurrency` joins in flight
//   relay   : MB/s of one dial (or --dials parallel dials) moving --mib MiB from
//             caller to callee under the credit protocol (64 KiB frames, the
//             receiver grants a quarter window at a time), median of --runs;
//             plus the server process's CPU seconds per GiB relayed
//   --naive : also runs the same relay through a bare socket.io forwarder
//             (no validation, no credit accounting) as a baseline
//
// Output: a JSON line and a small markdown table on stdout.

import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { connect, identity, join, peerAddress, resultOf } from '@wsstar/raw-client'
import { withTimeout } from './lib/child.mjs'

const SELF = fileURLToPath(import.meta.url)
const MiB = 1024 * 1024
/** a transfer that moves no byte for this long has stalled */
const STALL_MS = 10_000

function arg (name, fallback) {
  const hit = process.argv.find(a => a.startsWith(`--${name}=`))
  if (hit == null) return process.argv.includes(`--${name}`) ? true : fallback
  return hit.slice(name.length + 3)
}

// ---------------------------------------------------------------- server child

async function serve (kind) {
  let port
  let stop
  let stats = () => ({})
  if (kind === 'naive') {
    ;({ port, stop } = await naiveServer())
  } else {
    const { createRendezvousServer } = await import('@wsstar/rendezvous')
    const { pino } = await import('pino')
    const window = Number(process.env.BENCH_WINDOW ?? 0)
    const server = createRendezvousServer({
      port: 0,
      host: '127.0.0.1',
      logger: pino({ level: 'warn' }),
      limits: { joinRate: 1e6, joinBurst: 1e6, maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6, ...(window > 0 ? { windowBytes: window } : {}) }
    })
    await server.start()
    port = server.port
    stop = () => server.stop()
    stats = () => server.stats()
  }
  process.send({ port })
  process.on('message', async (msg) => {
    if (msg === 'stats') process.send({ stats: stats() })
    if (msg === 'stop') {
      await stop()
      process.exit(0)
    }
  })
}

/** The least a relay can do: forward frames by dial id, nothing checked. */
async function naiveServer () {
  const { createServer } = await import('node:http')
  const { Server } = await import('socket.io')
  const { createDialId, MAX_FRAME_BYTES, DEFAULT_WINDOW_BYTES } = await import('@wsstar/protocol')
  const http = createServer()
  const ioServer = new Server(http, { transports: ['websocket'], maxHttpBufferSize: 128 * 1024, perMessageDeflate: false })
  const peers = new Map()
  const dials = new Map()
  ioServer.on('connection', (socket) => {
    socket.on('ss-join', (address, data, ack) => {
      peers.set(address.split('/p2p/')[1], socket)
      ack(null, { peers: [], window: Number(process.env.BENCH_WINDOW || DEFAULT_WINDOW_BYTES), maxFrame: MAX_FRAME_BYTES })
    })
    socket.on('ss-dial', (from, to, ack) => {
      const callee = peers.get(to.split('/p2p/')[1])
      const dialId = createDialId()
      callee.emit('ss-incomming', dialId, from, () => {
        dials.set(dialId, { a: socket, b: callee })
        ack(null, { dialId })
      })
    })
    const other = (id) => { const d = dials.get(id); return d == null ? undefined : d.a === socket ? d.b : d.a }
    socket.on('d', (id, bytes) => { other(id)?.emit('d', id, bytes) })
    socket.on('c', (id, n) => { other(id)?.emit('c', id, n) })
    socket.on('e', (id, kind) => { other(id)?.emit('e', id, kind) })
  })
  await new Promise(resolve => http.listen(0, '127.0.0.1', resolve))
  return { port: http.address().port, stop: () => new Promise(resolve => { ioServer.close(); resolve() }) }
}

// ---------------------------------------------------------------- bench parent

function cpuSeconds (pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function startChild (kind, window) {
  const child = fork(SELF, ['--serve', kind], { execArgv: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, BENCH_WINDOW: String(window ?? '') } })
  const { port } = await withTimeout(new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', code => reject(new Error(`server child exited with ${code}`)))
  }), 30_000, 'the server child did not start within 30 s')
  return {
    child,
    port,
    cpu: () => cpuSeconds(child.pid),
    stats: () => withTimeout(new Promise(resolve => { child.once('message', m => resolve(m.stats)); child.send('stats') }), 10_000, 'no stats from the server child within 10 s'),
    stop: () => withTimeout(new Promise(resolve => { child.once('exit', resolve); child.send('stop') }), 10_000, 'the server child did not stop within 10 s').catch((err) => { child.kill('SIGKILL'); throw err })
  }
}

/** an identity and the address it joins at `port` */
async function peer (port) {
  const me = await identity()
  return { ...me, address: peerAddress(port, me) }
}

async function benchJoins (port, n, concurrency) {
  const peers = await Promise.all(Array.from({ length: n }, () => peer(port)))
  const t0 = performance.now()
  const sockets = []
  for (let i = 0; i < n; i += concurrency) {
    sockets.push(...await Promise.all(peers.slice(i, i + concurrency).map(() => connect(port))))
  }
  const t1 = performance.now()
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      await join(sockets[i], peers[i], peers[i].address)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const t2 = performance.now()
  for (const s of sockets) s.disconnect()
  return { joins: n, concurrency, connectsPerSec: n / ((t1 - t0) / 1000), joinsPerSec: n / ((t2 - t1) / 1000) }
}

/** Moves `bytes` over `dials` parallel dials; resolves with elapsed ms. */
async function relayOnce (port, bytes, dials) {
  const pairs = []
  for (let i = 0; i < dials; i++) {
    const [pa, pb] = [await peer(port), await peer(port)]
    const [a, b] = await Promise.all([connect(port), connect(port)])
    const ja = await join(a, pa, pa.address)
    await join(b, pb, pb.address)
    b.on('ss-incomming', (_id, _from, ack) => ack(null))
    const { dialId } = await resultOf(a, 'ss-dial', pa.address, pb.address)
    pairs.push({ a, b, dialId, window: ja.window })
  }
  const source = randomBytes(MiB)
  const frame = 64 * 1024
  const perDial = Math.floor(bytes / dials)
  const t0 = performance.now()
  await Promise.all(pairs.map(({ a, b, dialId, window }) => new Promise((resolve, reject) => {
    // a transfer that stops moving fails the run instead of hanging it
    let seen = 0
    const watchdog = setInterval(() => {
      if (received === seen) { clearInterval(watchdog); reject(new Error(`transfer stalled at ${received}/${perDial} bytes`)) }
      seen = received
    }, STALL_MS)
    let credit = window
    let sent = 0
    let received = 0
    let consumed = 0
    const batch = window / 4
    const pump = () => {
      while (credit > 0 && sent < perDial) {
        const n = Math.min(frame, credit, perDial - sent)
        const offset = sent % MiB
        a.emit('d', dialId, source.subarray(offset, Math.min(offset + n, MiB)))
        const actual = Math.min(n, MiB - offset)
        credit -= actual
        sent += actual
      }
    }
    a.on('c', (id, n) => { credit += n; pump() })
    a.on('e', (id, kind, err) => { clearInterval(watchdog); reject(new Error(`reset: ${JSON.stringify(err)}`)) })
    b.on('d', (id, data) => {
      received += data.byteLength
      consumed += data.byteLength
      if (consumed >= batch) { b.emit('c', id, consumed); consumed = 0 }
      if (received === perDial) { clearInterval(watchdog); resolve() }
    })
    pump()
  })))
  const ms = performance.now() - t0
  for (const { a, b } of pairs) { a.disconnect(); b.disconnect() }
  return { ms, bytes: perDial * dials }
}

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function benchRelay (kind, { mib, runs, window, dials }) {
  const server = await startChild(kind, window)
  try {
    await relayOnce(server.port, 16 * MiB, dials) // warmup
    const results = []
    for (let i = 0; i < runs; i++) {
      const cpu0 = server.cpu()
      const { ms, bytes } = await relayOnce(server.port, mib * MiB, dials)
      const cpu = server.cpu() - cpu0
      results.push({ mbps: bytes / 1e6 / (ms / 1000), cpuPerGiB: cpu / (bytes / 1024 ** 3) })
    }
    const stats = kind === 'wsstar' ? await server.stats() : undefined
    return {
      server: kind,
      mib,
      dials,
      runs,
      mbps: median(results.map(r => r.mbps)),
      min: Math.min(...results.map(r => r.mbps)),
      max: Math.max(...results.map(r => r.mbps)),
      serverCpuSecPerGiB: median(results.map(r => r.cpuPerGiB)),
      maxDialInFlight: stats?.maxDialInFlight
    }
  } finally {
    await server.stop()
  }
}

async function main () {
  const joins = Number(arg('joins', 500))
  const concurrency = Number(arg('concurrency', 50))
  const mib = Number(arg('mib', 256))
  const runs = Number(arg('runs', 3))
  const dials = Number(arg('dials', 1))
  const window = arg('window', undefined) == null ? undefined : Number(arg('window'))
  const out = { node: process.version, cpus: (await import('node:os')).cpus().length }

  const server = await startChild('wsstar', window)
  try {
    out.joins = await benchJoins(server.port, joins, concurrency)
  } finally {
    await server.stop()
  }
  out.relay = [await benchRelay('wsstar', { mib, runs, window, dials })]
  if (arg('naive', false) === true) {
    out.relay.push(await benchRelay('naive', { mib, runs, window, dials }))
  }

  console.log(JSON.stringify(out))
  console.log('')
  console.log(`| measurement | value |`)
  console.log(`|:---|---:|`)
  console.log(`| Ed25519 challenge joins/s (${out.joins.joins} sockets, ${out.joins.concurrency} in flight) | ${out.joins.joinsPerSec.toFixed(0)} |`)
  console.log(`| socket.io connects/s | ${out.joins.connectsPerSec.toFixed(0)} |`)
  for (const r of out.relay) {
    console.log(`| relay MB/s, ${r.server}, ${r.mib} MiB over ${r.dials} dial(s), median of ${r.runs} (min–max) | ${r.mbps.toFixed(1)} (${r.min.toFixed(1)}–${r.max.toFixed(1)}) |`)
    console.log(`| server CPU-s per GiB relayed, ${r.server} | ${r.serverCpuSecPerGiB.toFixed(2)} |`)
  }
  if (out.relay.length === 2) {
    console.log(`| wsstar / naive forwarder throughput | ${(out.relay[0].mbps / out.relay[1].mbps).toFixed(2)}× |`)
  }
  process.exit(0)
}

if (process.argv.includes('--serve')) {
  await serve(process.argv[process.argv.indexOf('--serve') + 1])
} else {
  await main()
}
