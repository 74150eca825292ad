#!/usr/bin/env node
// Heap bytes per joined idle peer, by what holds them: the rendezvous CLI in
// its own process, a V8 heap snapshot before the peers connect and one after
// N of them joined (raw clients of the joins scenario's load processes), the
// difference per peer grouped by constructor. Unlike RSS, a heap snapshot
// does not move with machine load or with when the V8 heap last shrank, so
// two trees compare well on a busy box.
//
//   node bench/heap-per-peer.mjs [--peers=2000] [--top=25]
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliServer } from './lib/cli-server.mjs'
import { SERVER_LIMITS, startLoad } from './scenarios/joins.mjs'

const arg = (name, fallback) => Number(process.argv.find(a => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback)
const peers = arg('peers', 2000)
const top = arg('top', 25)
const dir = mkdtempSync(join(tmpdir(), 'wsstar-heap-'))

/** Waits until the snapshot count reaches `n` and the newest one stopped growing (V8 writes it in pieces). */
async function snapshotWritten (n) {
  const deadline = Date.now() + 120_000
  let size = -1
  while (Date.now() < deadline) {
    await sleep(1000)
    const files = readdirSync(dir).filter(f => f.endsWith('.heapsnapshot')).sort()
    if (files.length < n) continue
    const text = readFileSync(join(dir, files[n - 1]), 'utf8')
    // complete: stopped growing and the JSON closed
    if (text.length > 0 && text.length === size && text.trimEnd().endsWith('}')) return join(dir, files[n - 1])
    size = text.length
  }
  throw new Error(`heap snapshot ${n} not written within 120 s`)
}

/** constructor (or `(type)`) → [count, self bytes] */
function byConstructor (file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const m = s.snapshot.meta
  const nf = m.node_fields.length
  const ti = m.node_fields.indexOf('type')
  const ni = m.node_fields.indexOf('name')
  const si = m.node_fields.indexOf('self_size')
  const types = m.node_types[0]
  const out = new Map()
  let total = 0
  for (let i = 0; i < s.nodes.length; i += nf) {
    const type = types[s.nodes[i + ti]]
    const name = type === 'object' ? s.strings[s.nodes[i + ni]] : type === 'closure' ? `closure ${s.strings[s.nodes[i + ni]]}` : `(${type})`
    const e = out.get(name) ?? [0, 0]
    e[0]++
    e[1] += s.nodes[i + si]
    out.set(name, e)
    total += s.nodes[i + si]
  }
  return { out, total }
}

const server = await new CliServer({ limits: SERVER_LIMITS, execArgv: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] }).start()
const kids = await startLoad(2)
try {
  await Promise.all(kids.map((k, i) => k.call('prepare', { port: server.port, count: Math.floor(peers / 2) + (i < peers % 2 ? 1 : 0) }, { timeoutMs: 300_000 })))
  await sleep(500)
  process.kill(server.pid, 'SIGUSR2')
  const before = await snapshotWritten(1)
  await Promise.all(kids.map(k => k.call('connect', { concurrency: 100 }, { timeoutMs: 600_000 })))
  const joins = await Promise.all(kids.map(k => k.call('join', { concurrency: 50 }, { timeoutMs: 600_000 })))
  const joined = joins.reduce((a, j) => a + j.joined, 0)
  if (joined !== peers) throw new Error(`${joined} of ${peers} joined`)
  await sleep(3000)
  process.kill(server.pid, 'SIGUSR2')
  const after = await snapshotWritten(2)
  const a = byConstructor(before)
  const b = byConstructor(after)
  console.log(`heap per joined idle peer (${peers} peers): ${((b.total - a.total) / peers).toFixed(0)} bytes`)
  const rows = [...b.out].map(([k, [c, sz]]) => { const [c0, s0] = a.out.get(k) ?? [0, 0]; return [k, (c - c0) / peers, (sz - s0) / peers] })
  rows.sort((x, y) => y[2] - x[2])
  console.log('bytes/peer  objects/peer  what')
  for (const [k, c, sz] of rows.slice(0, top)) console.log(`${sz.toFixed(1).padStart(10)}  ${c.toFixed(2).padStart(12)}  ${k.slice(0, 80)}`)
} finally {
  await Promise.all(kids.map(k => k.close()))
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
