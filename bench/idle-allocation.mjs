#!/usr/bin/env node
// Heap allocation per idle peer per second: the rendezvous CLI in its own
// process with N joined idle peers (the joins scenario's load processes),
// nothing else talking to it, over a window of `--seconds`. The figure is
// V8's own (`--trace-gc-nvp`: the bytes allocated between collections,
// summed; bench/lib/gc-trace.mjs), read from outside the process. Every
// byte an idle peer makes the server allocate (engine.io heartbeats,
// re-samples, timers) is garbage the young generation collects and, when
// some survives a while, old space grows by.
//
// `--profile`: a second window with V8's sampling heap profiler on (over the
// inspector, keeping what the collections freed), and the allocation sites
// that account for most of it, by function.
//
//   node bench/idle-allocation.mjs [--peers=10000] [--seconds=60] [--settle=20] [--profile] [--top=25]
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { CliServer } from './lib/cli-server.mjs'
import { allocationRate, parseGcTraceLine } from './lib/gc-trace.mjs'
import { SERVER_LIMITS, startLoad } from './scenarios/joins.mjs'

const arg = (name, fallback) => Number(process.argv.find(a => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback)
const peers = arg('peers', 10_000)
const seconds = arg('seconds', 60)
const settle = arg('settle', 20)
const top = arg('top', 25)
const profile = process.argv.includes('--profile')
const loadProcesses = Math.max(2, Math.ceil(peers / 5000))

const gcs = []
const server = await new CliServer({
  limits: SERVER_LIMITS,
  execArgv: ['--trace-gc-nvp', ...(profile ? ['--inspect=127.0.0.1:0'] : [])],
  onStdoutLine: (line) => {
    const gc = parseGcTraceLine(line)
    if (gc != null) gcs.push({ ...gc, at: performance.now() })
  }
}).start()
const kids = await startLoad(loadProcesses)

/** GC lines that arrived during `ms` from now. */
async function window (ms) {
  const from = performance.now()
  await sleep(ms)
  const to = performance.now()
  return allocationRate(gcs.filter(g => g.at >= from && g.at <= to))
}

/** A Chrome DevTools Protocol session with the server's inspector (its URL is on its stderr). */
async function inspector () {
  let url
  for (let i = 0; i < 50 && url == null; i++) {
    url = server.stderrTail.map(l => /(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(l)?.[1]).find(Boolean)
    if (url == null) await sleep(100)
  }
  if (url == null) throw new Error('no inspector URL on the server\'s stderr')
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 ** 30 })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  let nextId = 1
  const pending = new Map()
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString())
    const p = pending.get(msg.id)
    if (p == null) return
    pending.delete(msg.id)
    if (msg.error != null) p.reject(new Error(msg.error.message))
    else p.resolve(msg.result)
  })
  return {
    send: (method, params = {}) => new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params }))
    }),
    close: () => ws.close()
  }
}

/** Sampled bytes by allocating function (`name url:line`), largest first. */
function sites (profileTree) {
  const out = new Map()
  let total = 0
  const walk = (node) => {
    const f = node.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/packages\//, '')}:${f.lineNumber + 1}`
    out.set(key, (out.get(key) ?? 0) + node.selfSize)
    total += node.selfSize
    for (const c of node.children) walk(c)
  }
  walk(profileTree.head)
  return { total, rows: [...out].sort((a, b) => b[1] - a[1]) }
}

try {
  const share = i => Math.floor(peers / kids.length) + (i < peers % kids.length ? 1 : 0)
  await Promise.all(kids.map((k, i) => k.call('prepare', { port: server.port, count: share(i), localAddress: `127.0.0.${2 + i}` }, { timeoutMs: 600_000 })))
  await Promise.all(kids.map(k => k.call('connect', { concurrency: 200 }, { timeoutMs: 900_000 })))
  const joins = await Promise.all(kids.map(k => k.call('join', { concurrency: 100 }, { timeoutMs: 1_800_000 })))
  const joined = joins.reduce((a, j) => a + j.joined, 0)
  if (joined !== peers) throw new Error(`${joined} of ${peers} joined: ${joins.flatMap(j => j.errors).slice(0, 3).join('; ')}`)
  process.stderr.write(`${joined} peers joined; settling ${settle} s, then measuring ${seconds} s\n`)
  await sleep(settle * 1000)
  const rate = await window(seconds * 1000)
  if (rate == null) {
    console.log(`fewer than two collections in ${seconds} s: allocation below what this window can measure`)
  } else {
    console.log(`allocation per idle peer per second (${peers} peers, ${seconds} s): ${(rate.bytesPerSecond / peers).toFixed(1)} B ` +
      `(${(rate.bytesPerSecond / 1e6).toFixed(3)} MB/s over ${rate.seconds.toFixed(1)} s between the first and last of ${rate.collections} collections)`)
  }
  if (profile) {
    const cdp = await inspector()
    await cdp.send('HeapProfiler.enable')
    // ~ one sample per 32 KiB allocated; collected objects kept in the profile
    await cdp.send('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    await sleep(seconds * 1000)
    const { profile: tree } = await cdp.send('HeapProfiler.stopSampling')
    cdp.close()
    const { total, rows } = sites(tree)
    console.log(`sampled allocation by function over ${seconds} s (profiler on): ${(total / seconds / peers).toFixed(1)} B per peer per s`)
    console.log('B/peer/s   share  function location')
    for (const [k, bytes] of rows.slice(0, top)) {
      console.log(`${(bytes / seconds / peers).toFixed(2).padStart(8)}  ${(bytes / total * 100).toFixed(1).padStart(5)}%  ${k.slice(0, 140)}`)
    }
  }
} finally {
  await Promise.all(kids.map(k => k.close()))
  await server.stop()
}
