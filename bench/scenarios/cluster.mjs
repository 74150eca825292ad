// Cluster: the cost of crossing replicas. One private redis-server and two
// rendezvous replicas (the CLI with --redis-url, each its own process); in
// the same run:
//   same-node : dialer and listener both on replica 0
//   cross-node: dialer on replica 0, listener on replica 1 (the dial is homed
//               on replica 0, the callee's frames come through Redis)
// Throughput: N bytes over one libp2p stream (noise + yamux), runs
// interleaved same, cross, same, ... (median). Dial setup: the ss-dial round
// trip (request -> callee accepts -> dialId) of bare protocol clients,
// sequential, p50/p99, same-node vs cross-node interleaved.
// Each run records the CPU-s per GiB of replica 0, replica 1 and redis
// (runs[].cpuSPerGiB). --relay-cpu-prof runs the replicas with --cpu-prof
// (stopped with SIGTERM so the profiles get written, in
// bench/results/profiles/); WSSTAR_BENCH_CLUSTER_ARGS adds CLI options to
// the replicas, e.g. WSSTAR_BENCH_CLUSTER_ARGS='--window 4MiB'.

import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Event } from '@wsstar/protocol'
import { rawPeer, resultOf } from '@wsstar/raw-client'
import { readCpuSeconds, spawnChild } from '../lib/child.mjs'
import { freePort } from '../lib/cli-server.mjs'
import { fmt, fmtRatio, table, GiB, MiB } from '../lib/format.mjs'
import { percentile, median, min, max, ratio } from '../lib/stats.mjs'

export const name = 'cluster'
export const description = 'cluster mode: cross-node vs same-node throughput and dial setup (redis-server + 2 replicas)'
export const defaultPaths = ['wsstar']

const CLI = fileURLToPath(new URL('../../packages/rendezvous/dist/src/cli.js', import.meta.url))
const ENDPOINT = fileURLToPath(new URL('../lib/endpoint-child.mjs', import.meta.url))

export function config (ctx) {
  const c = ctx.quick
    ? { bytes: 8 * MiB, runs: 3, warmupBytes: 2 * MiB, dials: 100 }
    : { bytes: 128 * MiB, runs: 5, warmupBytes: 16 * MiB, dials: 1000 }
  if (ctx.options.sizeMiB != null) c.bytes = ctx.options.sizeMiB * MiB
  if (ctx.options.runs != null) c.runs = ctx.options.runs
  if (ctx.options.rounds != null) c.dials = ctx.options.rounds
  return c
}

async function waitForPort (port, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const ok = await new Promise(resolve => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/** redis-server + `replicas` CLI processes; close() kills them all. */
async function startCluster (replicas, execArgv = []) {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not installed')
  const procs = []
  const redisPort = await freePort()
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  procs.push(redis)
  await waitForPort(redisPort)
  const prefix = `wsstar-bench-${randomBytes(3).toString('hex')}:`
  // extra CLI options for the replicas, e.g. WSSTAR_BENCH_CLUSTER_ARGS='--window 4194304'
  const extraArgs = (process.env.WSSTAR_BENCH_CLUSTER_ARGS ?? '').split(/\s+/).filter(a => a !== '')
  const nodes = []
  for (let i = 0; i < replicas; i++) {
    const port = await freePort()
    const child = spawn(process.execPath, [...execArgv, CLI, '--host', '127.0.0.1', '--port', String(port), '--redis-url', `redis://127.0.0.1:${redisPort}`,
      '--redis-prefix', prefix, '--node-id', `bench-${i}`, '--log-level', 'warn', '--dial-rate', '100000', '--dial-burst', '100000', '--request-rate', '100000', '--request-burst', '100000',
      '--max-sockets-per-ip', '1000000', '--join-rate-per-ip', '1000000', '--join-burst-per-ip', '1000000', ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit'] })
    procs.push(child)
    nodes.push({ port, pid: child.pid, addr: `/ip4/127.0.0.1/tcp/${port}/ws` })
  }
  await Promise.all(nodes.map(n => waitForPort(n.port)))
  return {
    redisPid: redis.pid,
    nodes,
    close: async () => {
      const stop = (p, signal) => new Promise(resolve => {
        if (p.exitCode != null || p.signalCode != null) return resolve()
        p.once('exit', resolve)
        p.kill(signal)
        if (signal !== 'SIGKILL') setTimeout(() => p.kill('SIGKILL'), 10_000).unref()
      })
      // --cpu-prof: a graceful stop (redis still up) writes the replicas' profiles
      const replicaSignal = execArgv.length > 0 ? 'SIGTERM' : 'SIGKILL'
      await Promise.all(procs.filter(p => p !== redis).map(p => stop(p, replicaSignal)))
      await stop(redis, 'SIGKILL')
    }
  }
}

/** The listener's dial address spelled through another replica (any replica reaches any peer by id). */
function through (dialAddr, port) {
  return dialAddr.replace(/\/tcp\/\d+\/ws\//, `/tcp/${port}/ws/`)
}

export async function run (ctx) {
  const cfg = config(ctx)
  // --relay-cpu-prof: the replicas run with --cpu-prof (profiles in bench/results/profiles/)
  const cluster = await startCluster(2, ctx.relayExecArgv ?? [])
  const [r0, r1] = cluster.nodes
  const children = []
  const endpoint = (role, tag) => {
    const child = spawnChild(ENDPOINT, { args: ['wsstar', role], name: `cluster-${tag}`, verbose: ctx.verbose })
    children.push(child)
    return child
  }
  const variants = {
    same: { dialer: endpoint('dialer', 'same-dialer'), listener: endpoint('listener', 'same-listener'), listenOn: r0 },
    cross: { dialer: endpoint('dialer', 'cross-dialer'), listener: endpoint('listener', 'cross-listener'), listenOn: r1 }
  }
  const runs = { same: [], cross: [] }
  const dialMs = { same: [], cross: [] }
  const timeoutMs = Math.max(60_000, cfg.bytes / 1000)
  const raws = []
  try {
    for (const [variant, v] of Object.entries(variants)) {
      await Promise.all([v.dialer.ready(), v.listener.ready()])
      const [info] = await Promise.all([
        v.listener.call('start', { serverAddr: v.listenOn.addr }, { timeoutMs: 30_000 }),
        v.dialer.call('start', { serverAddr: r0.addr }, { timeoutMs: 30_000 })
      ])
      const addr = through(info.dialAddr, r0.port)
      const conn = await v.dialer.call('connect', { addr }, { timeoutMs: 40_000 })
      ctx.log(`  ${variant}-node: connected through replica 0 to a listener on replica ${v.listenOn === r0 ? 0 : 1} in ${fmt(conn.ms)} ms`)
      await v.dialer.call('throughput', { bytes: cfg.warmupBytes }, { timeoutMs })
    }
    for (let r = 0; r < cfg.runs; r++) {
      for (const [variant, v] of Object.entries(variants)) {
        const cpu = () => [...cluster.nodes.map(n => readCpuSeconds(n.pid)), readCpuSeconds(cluster.redisPid)]
        const before = cpu()
        const res = await v.dialer.call('throughput', { bytes: cfg.bytes }, { timeoutMs })
        const after = cpu()
        // CPU-s per GiB of replica 0, replica 1, redis
        const perGiB = after.map((a, i) => (a - before[i]) / (res.bytes / GiB))
        const m = { run: r, bytes: res.bytes, ms: res.ms, MBps: res.bytes / res.ms / 1000, serversCpuSPerGiB: perGiB.reduce((a, b) => a + b, 0), cpuSPerGiB: { replica0: perGiB[0], replica1: perGiB[1], redis: perGiB[2] } }
        runs[variant].push(m)
        ctx.log(`  run ${r + 1}/${cfg.runs} ${variant}-node: ${fmt(m.MBps)} MB/s, replicas + redis ${fmt(m.serversCpuSPerGiB, 2)} CPU-s/GiB (replica 0 ${fmt(perGiB[0], 2)}, replica 1 ${fmt(perGiB[1], 2)}, redis ${fmt(perGiB[2], 2)})`)
      }
    }
    // dial setup: bare clients, a fresh dial each time (reset right after the accept)
    const caller = await rawPeer(r0.port)
    const calleeSame = await rawPeer(r0.port)
    const calleeCross = await rawPeer(r1.port)
    raws.push(caller, calleeSame, calleeCross)
    const dialOnce = async (callee) => {
      const t0 = performance.now()
      const { dialId } = await resultOf(caller.socket, Event.DIAL, caller.address, callee.address)
      const ms = performance.now() - t0
      caller.socket.emit(Event.END, dialId, 'reset')
      return ms
    }
    for (let i = 0; i < 50; i++) { await dialOnce(calleeSame); await dialOnce(calleeCross) }
    for (let i = 0; i < cfg.dials; i++) {
      dialMs.same.push(await dialOnce(calleeSame))
      dialMs.cross.push(await dialOnce(calleeCross))
    }
    ctx.log(`  dial setup p50: same-node ${fmt(median(dialMs.same), 2)} ms, cross-node ${fmt(median(dialMs.cross), 2)} ms`)
  } finally {
    for (const raw of raws) raw.close()
    await Promise.all(children.map(c => c.close().catch(() => {})))
    await cluster.close()
  }
  const summary = {}
  for (const variant of ['same', 'cross']) {
    const rs = runs[variant]
    summary[variant] = {
      runs: rs.length,
      MBps: median(rs.map(x => x.MBps)),
      MBpsMin: min(rs.map(x => x.MBps)),
      MBpsMax: max(rs.map(x => x.MBps)),
      serversCpuSPerGiB: median(rs.map(x => x.serversCpuSPerGiB)),
      dialP50: median(dialMs[variant]),
      dialP99: percentile(dialMs[variant], 99),
      dials: dialMs[variant].length
    }
  }
  return {
    config: cfg,
    summary,
    ratios: {
      crossVsSameThroughput: ratio(summary.cross.MBps, summary.same.MBps),
      crossVsSameDialP50: ratio(summary.cross.dialP50, summary.same.dialP50)
    },
    runs,
    valid: runs.same.length === cfg.runs && runs.cross.length === cfg.runs && dialMs.cross.length === cfg.dials
  }
}

export function markdown (result) {
  const { config: cfg, summary, ratios } = result
  const rows = ['same', 'cross'].map(v => {
    const s = summary[v]
    return [`${v}-node`, fmt(s.MBps), `${fmt(s.MBpsMin)}–${fmt(s.MBpsMax)}`, v === 'same' ? '1.00×' : fmtRatio(ratios.crossVsSameThroughput),
      fmt(s.serversCpuSPerGiB, 2), fmt(s.dialP50, 2), fmt(s.dialP99, 2), s.runs]
  })
  return [
    `### Cluster: ${cfg.bytes / MiB} MiB over one stream (median of ${cfg.runs} interleaved runs) and ${cfg.dials} sequential dials, redis-server + 2 replicas`,
    '',
    table(['variant', 'MB/s (median)', 'min–max', 'vs same-node', 'replicas + redis CPU-s/GiB', 'dial setup p50 ms', 'dial setup p99 ms', 'runs'], rows),
    '',
    'same-node: dialer and listener on replica 0. cross-node: dialer on replica 0, listener on replica 1; the dial is homed on replica 0 and crosses Redis (sharded pub/sub) in both directions. ' +
      'Dial setup = the ss-dial round trip of a bare protocol client (request → the callee accepts → dialId), not the libp2p upgrade. ' +
      'Every process (redis, 2 replicas, 4 endpoints) shares this machine\'s cores.'
  ].join('\n')
}

export function targets (result) {
  const { summary, ratios, valid } = result
  return [
    {
      id: 'cluster-throughput-cross-vs-same',
      text: 'cluster: cross-node throughput ≥ 0.7 × same-node',
      value: ratios.crossVsSameThroughput,
      limit: 0.7,
      op: '>=',
      format: fmtRatio,
      valid
    },
    {
      id: 'cluster-dial-p50-cross',
      text: 'cluster: dial setup p50 ≤ 3 ms cross-node',
      value: summary.cross.dialP50,
      limit: 3,
      op: '<=',
      format: (v) => `${fmt(v, 2)} ms`,
      valid
    }
  ]
}
