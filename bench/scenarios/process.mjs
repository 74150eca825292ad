// A full process: one wsstar-rendezvous CLI filled to N joined peers (19,000:
// a process here may hold 20,000 open files, and every socket is one), then
// left idle, then dialled among. Raw clients in load processes of their own
// (each has the same open-file cap), each connecting from its own loopback
// source address (127.0.0.2, 127.0.0.3, …: one address has ~28,000
// ephemeral ports). Reports the server's RSS per peer, its largest
// event-loop block and its lag over the idle period (its own
// monitorEventLoopDelay gauges on /metrics), how long /metrics takes, what
// the idle peers make it allocate (V8's --trace-gc-nvp, from outside), the
// memory reclaims it ran (its info log lines), and dial setup at 100 dials/s.

import { setTimeout as sleep } from 'node:timers/promises'
import { CliServer, eventLoopLagOf, sampling } from '../lib/cli-server.mjs'
import { fmt, table } from '../lib/format.mjs'
import { allocationRate, parseGcTraceLine } from '../lib/gc-trace.mjs'
import { median } from '../lib/stats.mjs'
import { SERVER_LIMITS, startLoad } from './joins.mjs'

export const name = 'process'
export const description = 'one CLI process filled to 19,000 joined peers: RSS per peer, event-loop blocks and lag over an idle period, /metrics scrape time, allocation per idle peer, 100 dials/s'
export const defaultPaths = ['wsstar']

// the joins scenario's raised join limits, and the per-socket dial limit
// (the dials come from a few sockets of each load process at a time)
const LIMITS = { ...SERVER_LIMITS, dialRate: 1e6, dialBurst: 1e6 }
const RECLAIM_MESSAGE = 'quiet: gave unused heap back to the OS'

export function config (ctx) {
  const cfg = ctx.quick
    ? { peers: 1000, loadProcesses: 2, connectConcurrency: 100, joinConcurrency: 50, settleMs: 2000, idleMs: 10_000, scrapeEveryMs: 2000, dialRate: 100, dialMs: 3000 }
    : { peers: 19_000, loadProcesses: 4, connectConcurrency: 200, joinConcurrency: 100, settleMs: 2000, idleMs: 300_000, scrapeEveryMs: 5000, dialRate: 100, dialMs: 10_000 }
  if (ctx.options?.peers != null) {
    cfg.peers = ctx.options.peers
    // at most ~5,000 sockets per load process: far from its open-file cap
    cfg.loadProcesses = Math.max(cfg.loadProcesses, Math.ceil(cfg.peers / 5000))
  }
  if (ctx.options?.idleSeconds != null) cfg.idleMs = ctx.options.idleSeconds * 1000
  return cfg
}

/** What the server writes to stdout, sorted: GC trace lines, its reclaims and its start line about the open-file limit. */
function serverOutput () {
  const out = { gcs: [], reclaims: [], openFiles: null }
  out.onLine = (line) => {
    const gc = parseGcTraceLine(line)
    if (gc != null) {
      out.gcs.push({ ...gc, at: performance.now() })
      return
    }
    if (!line.startsWith('{')) return
    try {
      const record = JSON.parse(line)
      if (record.msg === RECLAIM_MESSAGE) out.reclaims.push({ at: performance.now(), rssBefore: record.rssBefore, rssAfter: record.rssAfter, pauseMs: record.pauseMs })
      else if ('socketCeiling' in record) out.openFiles = { limit: record.openFileLimit, socketCeiling: record.socketCeiling }
    } catch {
      // not a log record
    }
  }
  return out
}

export async function run (ctx) {
  const cfg = config(ctx)
  const output = serverOutput()
  const server = await new CliServer({
    limits: LIMITS,
    execArgv: ['--trace-gc-nvp', ...ctx.relayExecArgv],
    logLevel: 'info',
    verbose: ctx.verbose,
    onStdoutLine: output.onLine
  }).start()
  const kids = await startLoad(cfg.loadProcesses, ctx.verbose)
  try {
    const share = i => Math.floor(cfg.peers / kids.length) + (i < cfg.peers % kids.length ? 1 : 0)
    const sources = kids.map((_, i) => `127.0.0.${2 + i}`)
    await Promise.all(kids.map((k, i) => k.call('prepare', { port: server.port, count: share(i), localAddress: sources[i] }, { timeoutMs: 600_000 })))
    await sleep(500)
    const rss0 = server.memory().rss

    // the ramp: every socket connects, then every socket joins
    let t0 = performance.now()
    let cpu0 = server.cpuSeconds()
    const connects = await Promise.all(kids.map(k => k.call('connect', { concurrency: cfg.connectConcurrency }, { timeoutMs: 900_000 })))
    const connected = connects.reduce((a, c) => a + c.connected, 0)
    const connectSec = (performance.now() - t0) / 1000
    ctx.log(`  connected ${connected} sockets in ${fmt(connectSec, 1)} s`)
    t0 = performance.now()
    cpu0 = server.cpuSeconds()
    const joins = await Promise.all(kids.map(k => k.call('join', { concurrency: cfg.joinConcurrency }, { timeoutMs: 1_800_000 })))
    const joinSec = (performance.now() - t0) / 1000
    const joinCpu = server.cpuSeconds() - cpu0
    const joined = joins.reduce((a, j) => a + j.joined, 0)
    const joinErrors = joins.reduce((a, j) => a + j.errorCount, 0)
    ctx.log(`  joined ${joined}: ${fmt(joined / joinSec, 0)}/s, ${joinErrors} errors ${joins.flatMap(j => j.errors).slice(0, 2).join('; ')}`)
    await sleep(cfg.settleMs)
    const rssAfterRamp = server.memory().rss

    const idle = await idlePeriod(ctx, server, cfg, output)

    // dials among the joined peers, open loop, after the idle period
    const { result: perProcess, samples } = await sampling(server, 1000,
      () => Promise.all(kids.map(k => k.call('dials', { rate: cfg.dialRate / kids.length, durationMs: cfg.dialMs, warmupMs: 1000 }, { timeoutMs: cfg.dialMs + 60_000 }))))
    const dialErrors = {}
    for (const p of perProcess) for (const [k, v] of Object.entries(p.errors)) dialErrors[k] = (dialErrors[k] ?? 0) + v
    const dials = {
      offered: cfg.dialRate,
      completed: perProcess.reduce((a, p) => a + p.completed, 0),
      achievedPerSec: perProcess.reduce((a, p) => a + p.achievedPerSec, 0),
      // each load process's own percentiles, the worst of them (the same rate each)
      p50: Math.max(...perProcess.map(p => p.latency.p50)),
      p99: Math.max(...perProcess.map(p => p.latency.p99)),
      max: Math.max(...perProcess.map(p => p.latency.max)),
      serverLagMaxMs: Math.max(0, ...samples.map(s => s.lag.max)),
      errors: dialErrors
    }
    ctx.log(`  ${cfg.dialRate} dials/s: p50 ${fmt(dials.p50, 2)} ms, p99 ${fmt(dials.p99, 2)} ms, ${dials.completed} completed`)
    const health = await server.health()

    const result = {
      config: cfg,
      server: server.commandLine,
      sources,
      openFiles: output.openFiles,
      connected,
      connectErrors: connects.reduce((a, c) => a + c.errorCount, 0),
      firstConnectErrors: connects.flatMap(c => c.errors).slice(0, 3),
      connectsPerSec: connected / connectSec,
      joined,
      joinErrors,
      firstJoinErrors: joins.flatMap(j => j.errors).slice(0, 3),
      joinsPerSec: joined / joinSec,
      serverCpuMsPerJoin: joinCpu / joined * 1e3,
      peersAtEnd: health.peers,
      rssBaseline: rss0,
      rssAfterRamp,
      rssPerPeerAfterRamp: (rssAfterRamp - rss0) / joined,
      ...idle,
      rssPerIdlePeer: (idle.rssIdleTailMax - rss0) / joined,
      rssPerPeerAtEnd: (idle.rssAtEnd - rss0) / joined,
      allocationPerPeerPerSecond: idle.allocation == null ? null : idle.allocation.bytesPerSecond / joined,
      dials
    }
    ctx.log(`  idle ${fmt(cfg.idleMs / 1000, 0)} s: RSS ${fmt(result.rssPerIdlePeer / 1024, 1)} KiB per peer, largest block ${fmt(idle.lag.max, 0)} ms, ` +
      `lag p99 ${fmt(idle.lag.worstP99, 1)} ms, slowest scrape ${fmt(idle.scrapeMs.max, 1)} ms, ` +
      `allocation ${result.allocationPerPeerPerSecond == null ? 'n/a' : fmt(result.allocationPerPeerPerSecond, 0)} B per peer per s, ${idle.reclaims.length} reclaims`)
    return result
  } finally {
    await Promise.all(kids.map(k => k.close()))
    await server.stop()
  }
}

/**
 * The idle period: nothing but the peers' own traffic (engine.io heartbeats,
 * re-samples) and the sampling. RSS from /proc every second; /metrics every
 * `scrapeEveryMs` (prom-client resets its event-loop histogram on each
 * scrape, so a scrape's p99 and max cover the time since the previous one;
 * a longer window makes the p99 a percentile of more ticks, and scrapes
 * less of what is measured).
 */
async function idlePeriod (ctx, server, cfg, output) {
  await server.scrape() // resets the event-loop histogram
  const start = performance.now()
  const gcsBefore = output.gcs.length
  const reclaimsBefore = output.reclaims.length
  const rss = []
  const scrapes = []
  let nextScrape = cfg.scrapeEveryMs
  while (performance.now() - start < cfg.idleMs) {
    await sleep(1000)
    const t = performance.now() - start
    rss.push({ t: t / 1000, rss: server.memory().rss })
    if (t >= nextScrape) {
      nextScrape += cfg.scrapeEveryMs
      try {
        const { values, ms } = await server.scrape()
        scrapes.push({ t: t / 1000, ms, lag: eventLoopLagOf(values), peers: values.wsstar_peers })
      } catch (err) {
        ctx.log(`  scrape failed: ${err.message}`)
      }
    }
  }
  const end = performance.now()
  const gcs = output.gcs.slice(gcsBefore).filter(g => g.at <= end)
  const majors = gcs.filter(g => g.kind === 'mc')
  const tail = rss.filter(s => s.t >= cfg.idleMs / 2000)
  const reclaims = output.reclaims.slice(reclaimsBefore).map(r => ({ ...r, t: (r.at - start) / 1000 }))
  return {
    idleMs: end - start,
    // the joins scenario's definition: the highest RSS of the second half of the idle window
    rssIdleTailMax: Math.max(...tail.map(s => s.rss)),
    rssAtEnd: rss[rss.length - 1].rss,
    idleRssMiB: rss.map(s => Number((s.rss / 2 ** 20).toFixed(1))),
    lag: {
      max: Math.max(...scrapes.map(s => s.lag.max)),
      worstP99: Math.max(...scrapes.map(s => s.lag.p99)),
      medianP99: median(scrapes.map(s => s.lag.p99)),
      mean: scrapes.reduce((a, s) => a + s.lag.mean, 0) / Math.max(1, scrapes.length)
    },
    scrapes: scrapes.map(s => ({ t: Number(s.t.toFixed(1)), ms: Number(s.ms.toFixed(1)), lagP99: Number(s.lag.p99.toFixed(1)), lagMax: Number(s.lag.max.toFixed(1)) })),
    scrapeMs: { median: median(scrapes.map(s => s.ms)), max: Math.max(...scrapes.map(s => s.ms)), count: scrapes.length },
    allocation: allocationRate(gcs),
    collections: {
      scavenges: gcs.filter(g => g.kind === 's').length,
      majors: majors.length,
      largestMajorPauseMs: Math.max(0, ...majors.map(g => g.pauseMs)),
      largestPauseMs: Math.max(0, ...gcs.map(g => g.pauseMs)),
      // each mark-compact of the idle period: when, its pause and where it went, and
      // heapMiB: its objects before and after, its committed heap before and after
      markCompacts: majors.map(g => ({ t: Number(((g.at - start) / 1000).toFixed(1)), pauseMs: g.pauseMs, reduceMemory: g.reduceMemory, phases: g.phases, heapMiB: [g.objectsBefore, g.objectsAfter, g.committedBefore, g.committedAfter].map(b => Number((b / 2 ** 20).toFixed(1))) }))
    },
    reclaims
  }
}

export function markdown (r) {
  const kib = b => `${fmt(b / 1024, 1)} KiB`
  const mib = b => `${fmt(b / 2 ** 20, 0)} MiB`
  const reclaims = r.reclaims.length === 0
    ? 'none'
    : r.reclaims.map(x => `${fmt(x.t, 0)} s: ${mib(x.rssBefore)} → ${mib(x.rssAfter)} in ${x.pauseMs} ms`).join('; ')
  const errors = Object.entries(r.dials.errors).map(([k, v]) => `${k}: ${v}`).join(', ') || '0'
  return [
    `### A full process: one server filled to ${r.config.peers.toLocaleString('en')} joined peers, idle ${fmt(r.config.idleMs / 1000, 0)} s, then ${r.config.dialRate} dials/s`,
    '',
    `Server: \`${r.server}\` with node \`--trace-gc-nvp\` (one stdout line per collection, for the allocation figure); ` +
    `open-file limit ${r.openFiles?.limit ?? 'unknown'}, connections allowed ${r.openFiles?.socketCeiling ?? 'unknown'} (its start line). ` +
    `Clients: ${r.config.loadProcesses} load processes of raw websockets, one loopback source address each (${r.sources.join(', ')}), ` +
    `${r.config.joinConcurrency} joins in flight per process. During the idle period the bench reads the server's RSS from /proc every second and scrapes /metrics every ${r.config.scrapeEveryMs / 1000} s (nothing else).`,
    '',
    table(['measure', 'value'], [
      ['connected / joined / join errors / peers at the end', `${r.connected} / ${r.joined} / ${r.joinErrors} / ${r.peersAtEnd}`],
      ['ramp: connects/s, joins/s, server CPU per join', `${fmt(r.connectsPerSec, 0)}, ${fmt(r.joinsPerSec, 0)}, ${fmt(r.serverCpuMsPerJoin, 3)} ms`],
      ['server RSS per peer 2 s after the ramp', `${kib(r.rssPerPeerAfterRamp)} (${mib(r.rssAfterRamp)}; ${mib(r.rssBaseline)} before the first connect)`],
      [`**server RSS per idle peer** (highest RSS of the idle period's second half, less the RSS before the first connect; the joins scenario's definition)`, `**${kib(r.rssPerIdlePeer)}** (${mib(r.rssIdleTailMax)})`],
      ['server RSS per peer at the end of the idle period', `${kib(r.rssPerPeerAtEnd)} (${mib(r.rssAtEnd)})`],
      ['memory reclaims while idle (RSS before → after the reclaim, the summed pauses of the collections it led to)', reclaims],
      ['**largest event-loop block while idle** (max of the server\'s `nodejs_eventloop_lag_max_seconds` over the scrapes)', `**${fmt(r.lag.max, 1)} ms**`],
      [`**event-loop lag p99 while idle** (worst ${r.config.scrapeEveryMs / 1000} s window) / median window / mean`, `**${fmt(r.lag.worstP99, 1)} ms** / ${fmt(r.lag.medianP99, 1)} / ${fmt(r.lag.mean, 1)} ms`],
      [`**/metrics scrape** (request to last byte, from the bench; slowest of ${r.scrapeMs.count}) / median`, `**${fmt(r.scrapeMs.max, 1)} ms** / ${fmt(r.scrapeMs.median, 1)} ms`],
      ['**heap allocation per idle peer per second** (V8 `allocated` summed over the idle period\'s collections, over the time between the first and the last; includes the scrapes)',
        r.allocation == null ? 'n/a (fewer than two collections)' : `**${fmt(r.allocationPerPeerPerSecond, 0)} B** (${fmt(r.allocation.bytesPerSecond / 1e6, 2)} MB/s over ${fmt(r.allocation.seconds, 0)} s, ${r.allocation.collections} collections)`],
      ['collections while idle: scavenges / mark-compacts / largest mark-compact pause', `${r.collections.scavenges} / ${r.collections.majors} / ${fmt(r.collections.largestMajorPauseMs, 1)} ms`],
      [`**dial setup at ${r.dials.offered} dials/s** among the joined peers (${r.config.dialMs / 1000} s after 1 s warmup): p50 / p99 / max`, `${fmt(r.dials.p50, 2)} / **${fmt(r.dials.p99, 2)}** / ${fmt(r.dials.max, 1)} ms (${r.dials.completed} completed, errors ${errors}; server lag max ${fmt(r.dials.serverLagMaxMs, 1)} ms)`]
    ])
  ].join('\n')
}

export function targets (r) {
  const full = r.joinErrors === 0 && r.joined === r.config.peers
  const at = `at ${r.config.peers.toLocaleString('en')} peers`
  return [
    { id: 'process-rss-per-peer', text: `full process: server RSS per idle peer ${at}`, value: r.rssPerIdlePeer / 1024, limit: 16, op: '<=', format: v => `${fmt(v, 1)} KiB`, valid: full },
    { id: 'process-block', text: `full process: largest event-loop block over ${fmt(r.config.idleMs / 1000, 0)} s idle ${at}`, value: r.lag.max, limit: 100, op: '<=', format: v => `${fmt(v, 0)} ms`, valid: full },
    { id: 'process-lag-p99', text: `full process: event-loop lag p99 while idle ${at}`, value: r.lag.worstP99, limit: 20, op: '<=', format: v => `${fmt(v, 1)} ms`, valid: full },
    { id: 'process-scrape', text: `full process: /metrics scrape ${at}`, value: r.scrapeMs.max, limit: 50, op: '<=', format: v => `${fmt(v, 1)} ms`, valid: full },
    { id: 'process-dial-p99', text: `full process: dial setup p99 at ${r.dials.offered} dials/s ${at}`, value: r.dials.p99, limit: 10, op: '<=', format: v => `${fmt(v, 2)} ms`, valid: full && r.dials.achievedPerSec >= 0.95 * r.dials.offered }
  ]
}
