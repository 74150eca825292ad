// Joins: the wsstar-rendezvous CLI in a child process of its own, ramped to
// N peers by raw clients (bench/lib/wire-client.mjs) in 2 load processes.
// Phase 1 connects every socket (socket.io handshake only), phase 2 runs the
// Ed25519 challenge join on all of them (a fixed number in flight per load
// process), so connect cost and join cost are reported apart. The join is
// the transport's: one request signed over the socket id (`--join-mode=nonce`
// measures the two-step hello → nonce → proof instead).
// Server CPU per operation, RSS per connected socket and per joined idle
// peer, event-loop lag (the server's own nodejs_eventloop_lag_* gauges,
// scraped every second) during the join ramp. `--auth=token` follows each
// ramp with one against a private server (--auth token; every socket
// presents a token at connect): joins/s with token auth beside the open default.
// `--namespaces=N`: every peer joins one of N namespaces, and each ramp is
// followed by one of the open default (no namespaces) instead of the
// socket.io floor: the per-pair ratio is what namespaces cost a join.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnChild } from '../lib/child.mjs'
import { CliServer, FloorServer, sampling } from '../lib/cli-server.mjs'
import { fmt, table } from '../lib/format.mjs'
import { median, percentile } from '../lib/stats.mjs'

export const name = 'joins'
export const description = 'joins/s with the Ed25519 challenge ramping to N peers; RSS per peer; event-loop lag'
export const defaultPaths = ['wsstar']

const LOAD = new URL('../lib/load-child.mjs', import.meta.url).pathname

// per-socket and per-IP join limits, sockets per IP and the handshake timeout
// are raised: every socket connects from 127.0.0.1 and the sockets wait for
// their turn to join
export const SERVER_LIMITS = { joinRate: 1e6, joinBurst: 1e6, maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6, handshakeTimeoutMs: '10m' }

export function config (ctx) {
  return ctx.quick
    ? { peers: 1000, loadProcesses: 2, connectConcurrency: 100, joinConcurrency: 50, settleMs: 1000, idleMs: 4000, ramps: 1 }
    : { peers: 10_000, loadProcesses: 3, connectConcurrency: 200, joinConcurrency: 100, settleMs: 5000, idleMs: 60_000, ramps: 3 }
}

export async function startLoad (n, verbose) {
  const kids = Array.from({ length: n }, (_, i) => spawnChild(LOAD, { name: `load${i}`, verbose }))
  await Promise.all(kids.map(k => k.ready()))
  return kids
}

/**
 * `ramps` independent ramps (fresh server and clients each): on a shared
 * 2-core box one ramp's joins/s moved by a quarter between back-to-back
 * runs, so the figures are the medians, with every ramp's listed.
 */
export async function run (ctx) {
  const cfg = { ...config(ctx), joinMode: ctx.options.joinMode ?? 'socket' }
  if (ctx.options.runs != null) cfg.ramps = ctx.options.runs
  if (ctx.options.namespaces != null) return await runNamespaces(ctx, { ...cfg, namespaces: ctx.options.namespaces })
  const ramps = []
  const floorRamps = []
  const tokenRamps = []
  // each wsstar ramp is followed by one against the bare socket.io floor
  // (same clients, same Node, a server that only acks): the ratio of the two
  // is the figure machine load moves least
  for (let i = 0; i < cfg.ramps; i++) {
    if (cfg.ramps > 1) ctx.log(`  ramp ${i + 1} of ${cfg.ramps}`)
    ramps.push(await rampOnce(ctx, cfg))
    ctx.log('  the same ramp against the bare socket.io floor')
    floorRamps.push(await rampOnce(ctx, { ...cfg, idleMs: 2000 }, () => new FloorServer({ execArgv: ctx.relayExecArgv, verbose: ctx.verbose })))
    if (ctx.options.auth === 'token') {
      ctx.log('  the same ramp against a private server (--auth token)')
      tokenRamps.push(await rampOnce(ctx, { ...cfg, idleMs: 2000, token: PRIVATE_TOKEN }, () => new CliServer({
        limits: SERVER_LIMITS,
        flags: ['--auth', 'token', '--auth-tokens-file', tokensFile()],
        execArgv: ctx.relayExecArgv,
        verbose: ctx.verbose
      })))
    }
  }
  const byJoins = [...ramps].sort((a, b) => a.joinsPerSec - b.joinsPerSec)
  const result = { ...byJoins[Math.floor((byJoins.length - 1) / 2)] }
  result.rssPerJoinedPeer = median(ramps.map(r => r.rssPerJoinedPeer))
  result.rssPerConnectedSocket = median(ramps.map(r => r.rssPerConnectedSocket))
  result.rssPerJoinedPeerAfterRamp = median(ramps.map(r => r.rssPerJoinedPeerAfterRamp))
  result.ramps = ramps.map(r => ({
    joinsPerSec: r.joinsPerSec,
    serverCpuMsPerJoin: r.serverCpuMsPerJoin,
    loadCpuMsPerJoin: r.loadCpuMsPerJoin,
    rssPerJoinedPeer: r.rssPerJoinedPeer,
    rssPerJoinedPeerAfterRamp: r.rssPerJoinedPeerAfterRamp,
    memoryReclaims: r.memoryReclaims,
    memoryReclaimPauseMs: r.memoryReclaimPauseMs,
    joinErrors: r.joinErrors
  }))
  result.joinErrors = ramps.reduce((a, r) => a + r.joinErrors, 0)
  result.floor = {
    server: floorRamps[0].server,
    joinsPerSec: median(floorRamps.map(r => r.joinsPerSec)),
    serverCpuMsPerJoin: median(floorRamps.map(r => r.serverCpuMsPerJoin)),
    joinErrors: floorRamps.reduce((a, r) => a + r.joinErrors, 0),
    ramps: floorRamps.map(r => ({ joinsPerSec: r.joinsPerSec, serverCpuMsPerJoin: r.serverCpuMsPerJoin, loadCpuMsPerJoin: r.loadCpuMsPerJoin }))
  }
  // per pair of ramps run back to back, then the median of those ratios
  result.floor.ratio = median(ramps.map((r, i) => r.joinsPerSec / floorRamps[i].joinsPerSec))
  if (tokenRamps.length > 0) {
    result.tokenAuth = {
      server: tokenRamps[0].server,
      joinsPerSec: median(tokenRamps.map(r => r.joinsPerSec)),
      serverCpuMsPerJoin: median(tokenRamps.map(r => r.serverCpuMsPerJoin)),
      serverCpuMsPerConnect: median(tokenRamps.map(r => r.serverCpuMsPerConnect)),
      connectErrors: tokenRamps.reduce((a, r) => a + r.connectErrors, 0),
      joinErrors: tokenRamps.reduce((a, r) => a + r.joinErrors, 0),
      ramps: tokenRamps.map(r => ({ joinsPerSec: r.joinsPerSec, serverCpuMsPerJoin: r.serverCpuMsPerJoin })),
      // per open / token pair run back to back
      ratio: median(ramps.map((r, i) => tokenRamps[i].joinsPerSec / r.joinsPerSec))
    }
  }
  return result
}

/** the token every socket of the private-server ramps presents */
const PRIVATE_TOKEN = 'bench-joins-token'

/** A token file for those ramps: the one token, and others as a real file would hold. */
function tokensFile () {
  const path = join(mkdtempSync(join(tmpdir(), 'wsstar-bench-auth-')), 'tokens')
  const others = Array.from({ length: 99 }, (_, i) => `bench-other-token-${i} name=other-${i}`)
  writeFileSync(path, [...others, `${PRIVATE_TOKEN} name=bench`].join('\n') + '\n')
  return path
}

/** Ramps with namespaces, each followed by one of the open default; the figures are the medians and the per-pair ratios' median. */
async function runNamespaces (ctx, cfg) {
  const ramps = []
  const openRamps = []
  for (let i = 0; i < cfg.ramps; i++) {
    ctx.log(`  ramp ${i + 1} of ${cfg.ramps}: every peer in one of ${cfg.namespaces} namespaces`)
    ramps.push(await rampOnce(ctx, cfg))
    ctx.log('  the same ramp in the open default (no namespaces)')
    openRamps.push(await rampOnce(ctx, { ...cfg, namespaces: undefined }))
  }
  const byJoins = [...ramps].sort((a, b) => a.joinsPerSec - b.joinsPerSec)
  const result = { ...byJoins[Math.floor((byJoins.length - 1) / 2)] }
  result.joinsPerSec = median(ramps.map(r => r.joinsPerSec))
  result.rssPerJoinedPeer = median(ramps.map(r => r.rssPerJoinedPeer))
  result.joinErrors = ramps.reduce((a, r) => a + r.joinErrors, 0)
  result.ramps = ramps.map(r => ({ joinsPerSec: r.joinsPerSec, serverCpuMsPerJoin: r.serverCpuMsPerJoin, rssPerJoinedPeer: r.rssPerJoinedPeer, joinErrors: r.joinErrors }))
  result.open = {
    joinsPerSec: median(openRamps.map(r => r.joinsPerSec)),
    serverCpuMsPerJoin: median(openRamps.map(r => r.serverCpuMsPerJoin)),
    rssPerJoinedPeer: median(openRamps.map(r => r.rssPerJoinedPeer)),
    joinErrors: openRamps.reduce((a, r) => a + r.joinErrors, 0),
    ramps: openRamps.map(r => ({ joinsPerSec: r.joinsPerSec, serverCpuMsPerJoin: r.serverCpuMsPerJoin }))
  }
  result.open.ratio = median(ramps.map((r, i) => r.joinsPerSec / openRamps[i].joinsPerSec))
  return result
}

async function rampOnce (ctx, cfg, makeServer = () => new CliServer({ limits: SERVER_LIMITS, execArgv: ctx.relayExecArgv, verbose: ctx.verbose })) {
  const server = await makeServer().start()
  const kids = await startLoad(cfg.loadProcesses, ctx.verbose)
  try {
    // exactly cfg.peers in all: the first processes take the remainder
    const share = i => Math.floor(cfg.peers / kids.length) + (i < cfg.peers % kids.length ? 1 : 0)
    await Promise.all(kids.map((k, i) => k.call('prepare', { port: server.port, count: share(i), token: cfg.token, namespaces: cfg.namespaces }, { timeoutMs: 300_000 })))
    await new Promise(resolve => setTimeout(resolve, 500))
    const rss0 = server.memory().rss
    let cpu0 = server.cpuSeconds()
    let t0 = performance.now()
    const connects = await Promise.all(kids.map(k => k.call('connect', { concurrency: cfg.connectConcurrency }, { timeoutMs: 600_000 })))
    const connectSec = (performance.now() - t0) / 1000
    const connectCpu = server.cpuSeconds() - cpu0
    const connected = connects.reduce((a, c) => a + c.connected, 0)
    await new Promise(resolve => setTimeout(resolve, cfg.settleMs))
    const rss1 = server.memory().rss
    ctx.log(`  connected ${connected} sockets: ${fmt(connected / connectSec, 0)}/s, server ${fmt(connectCpu / connected * 1e3, 3)} ms CPU each`)

    cpu0 = server.cpuSeconds()
    const loadCpu0 = kids.reduce((a, k) => a + k.cpuSeconds(), 0)
    t0 = performance.now()
    const { result: joins, samples } = await sampling(server, 1000,
      () => Promise.all(kids.map(k => k.call('join', { concurrency: cfg.joinConcurrency, mode: cfg.joinMode }, { timeoutMs: 1_200_000 }))))
    const joinSec = (performance.now() - t0) / 1000
    const joinCpu = server.cpuSeconds() - cpu0
    const loadJoinCpu = kids.reduce((a, k) => a + k.cpuSeconds(), 0) - loadCpu0
    const joined = joins.reduce((a, j) => a + j.joined, 0)
    await new Promise(resolve => setTimeout(resolve, cfg.settleMs))
    const rss2 = server.memory().rss
    // the idle minute after the ramp: the server gives back what the burst left
    // once its loop is quiet (memory-reclaim.ts), and the young generation may
    // grow again under idle traffic (heartbeats, re-samples), so the figure is
    // the highest RSS of the window's second half, not its low point
    const idle = []
    const idleStart = performance.now()
    while (performance.now() - idleStart < cfg.idleMs) {
      await new Promise(resolve => setTimeout(resolve, 1000))
      idle.push({ t: (performance.now() - idleStart) / 1000, rss: server.memory().rss })
    }
    const idleTail = idle.filter(s => s.t >= cfg.idleMs / 2000)
    const rssIdle = Math.max(...idleTail.map(s => s.rss))
    const metrics = await server.metrics()
    const health = await server.health()
    const lags = samples.map(s => s.lag)
    const result = {
      config: cfg,
      server: server.commandLine,
      connected,
      connectErrors: connects.reduce((a, c) => a + c.errorCount, 0),
      connectsPerSec: connected / connectSec,
      serverCpuMsPerConnect: connectCpu / connected * 1e3,
      joined,
      peersAtEnd: health.peers,
      joinErrors: joins.reduce((a, j) => a + j.errorCount, 0),
      firstJoinErrors: joins.flatMap(j => j.errors).slice(0, 3),
      joinsPerSec: joined / joinSec,
      serverCpuMsPerJoin: joinCpu / joined * 1e3,
      serverCpuShareDuringJoins: joinCpu / joinSec,
      // the clients' share: on a small box server + clients together bound joins/s
      loadCpuMsPerJoin: loadJoinCpu / joined * 1e3,
      cpus: availableParallelism(),
      joinLatencyMs: { hello: joins[0].hello, proof: joins[0].proof, total: joins[0].total },
      rssBaseline: rss0,
      rssPerConnectedSocket: (rss1 - rss0) / connected,
      // right after the ramp (settleMs)
      rssPerJoinedPeerAfterRamp: (rss2 - rss0) / joined,
      rssAfterRamp: rss2,
      // the highest RSS of the second half of the idle window
      rssPerJoinedPeer: (rssIdle - rss0) / joined,
      rssAtEnd: rssIdle,
      idleMs: cfg.idleMs,
      idleRssMiB: idle.map(s => Number((s.rss / 2 ** 20).toFixed(1))),
      memoryReclaims: metrics.wsstar_memory_reclaims_total,
      memoryReclaimPauseMs: metrics.wsstar_memory_reclaim_pause_seconds_total * 1000,
      eventLoopLagMs: {
        p99OfScrapes: percentile(lags.map(l => l.p99), 50),
        worstP99: Math.max(...lags.map(l => l.p99)),
        max: Math.max(...lags.map(l => l.max)),
        mean: lags.reduce((a, l) => a + l.mean, 0) / Math.max(1, lags.length)
      },
      ramp: samples.map(s => ({ t: Number(s.t.toFixed(1)), peers: s.peers, rssMiB: Number((s.rss / 2 ** 20).toFixed(1)), lagP99: Number(s.lag.p99.toFixed(1)), lagMax: Number(s.lag.max.toFixed(1)) }))
    }
    ctx.log(`  joined ${joined}: ${fmt(result.joinsPerSec, 0)}/s, server ${fmt(result.serverCpuMsPerJoin, 3)} ms CPU each, ` +
      `RSS ${fmt(result.rssPerJoinedPeerAfterRamp / 1024, 1)} KiB per joined peer after the ramp, ` +
      `${fmt(result.rssPerJoinedPeer / 1024, 1)} KiB idle (${result.memoryReclaims} reclaims, ${fmt(result.memoryReclaimPauseMs, 0)} ms), lag max ${fmt(result.eventLoopLagMs.max, 0)} ms`)
    return result
  } finally {
    await Promise.all(kids.map(k => k.close()))
    await server.stop()
  }
}

export function markdown (r) {
  const l = r.joinLatencyMs
  const mode = r.config.joinMode ?? 'nonce'
  const joinLabel = mode === 'socket' ? 'one request signed over the socket id → verified → registered' : 'hello → nonce → signed proof → registered'
  return [
    `### Joins: ramp to ${r.config.peers.toLocaleString('en')} peers on one server, Ed25519 challenge on` +
      (r.config.namespaces == null ? '' : `, every peer in one of ${r.config.namespaces} namespaces`),
    '',
    `Server: \`${r.server}\` (the CLI in its own process; join rate limit and handshake timeout raised because all sockets share one IP and wait for their turn). ` +
    `Clients: ${r.config.loadProcesses} load processes of raw socket.io-protocol websockets (keys generated beforehand, signed with node:crypto), ` +
    `${r.config.joinConcurrency} joins in flight per process. Phase 1 connects every socket, phase 2 joins them.` +
    (r.ramps == null || r.ramps.length < 2
      ? ''
      : ` ${r.ramps.length} ramps, each with a fresh server: joins/s and RSS per peer are the medians, the other rows are from the median ramp. ` +
        `Each ramp: ${r.ramps.map(x => `${fmt(x.joinsPerSec, 0)} joins/s, ${fmt(x.serverCpuMsPerJoin, 3)} ms server CPU per join, ${fmt(x.rssPerJoinedPeer / 1024, 1)} KiB per idle peer`).join('; ')}.`),
    '',
    table(['measure', 'value'], [
      ['socket.io connects/s (phase 1)', fmt(r.connectsPerSec, 0)],
      ['server CPU per connect', `${fmt(r.serverCpuMsPerConnect, 3)} ms`],
      [`**challenge joins/s** (phase 2: ${joinLabel})`, `**${fmt(r.joinsPerSec, 0)}**`],
      ...(r.floor == null ? [] : [[`bare socket.io floor: joins/s (median of ${r.floor.ramps.length}; each ramp right after a wsstar one, same clients, a server that only acks) / its CPU per join`, `${fmt(r.floor.joinsPerSec, 0)} / ${fmt(r.floor.serverCpuMsPerJoin, 3)} ms`],
        ['**wsstar joins/s vs the floor** (median of the per-pair ratios)', `**${fmt(r.floor.ratio, 2)}×** (ramp pairs: ${r.ramps.map((x, i) => `${fmt(x.joinsPerSec, 0)} / ${fmt(r.floor.ramps[i].joinsPerSec, 0)}`).join(', ')})`]]),
      ...(r.tokenAuth == null ? [] : [[`private server (\`--auth token\`, every socket presents a token): joins/s (median of ${r.tokenAuth.ramps.length}; each ramp right after an open one) / its CPU per connect / per join`, `${fmt(r.tokenAuth.joinsPerSec, 0)} / ${fmt(r.tokenAuth.serverCpuMsPerConnect, 3)} ms / ${fmt(r.tokenAuth.serverCpuMsPerJoin, 3)} ms`],
        ['**token-auth joins/s vs open** (median of the per-pair ratios)', `**${fmt(r.tokenAuth.ratio, 2)}×** (ramp pairs: ${r.ramps.map((x, i) => `${fmt(r.tokenAuth.ramps[i].joinsPerSec, 0)} / ${fmt(x.joinsPerSec, 0)}`).join(', ')}; connect / join errors ${r.tokenAuth.connectErrors} / ${r.tokenAuth.joinErrors})`]]),
      ...(r.open == null ? [] : [[`open default (no namespaces): joins/s (median of ${r.open.ramps.length}; each ramp right after a namespaced one) / its CPU per join`, `${fmt(r.open.joinsPerSec, 0)} / ${fmt(r.open.serverCpuMsPerJoin, 3)} ms`],
        ['**joins/s with namespaces vs the open default** (median of the per-pair ratios)', `**${fmt(r.open.ratio, 2)}×** (ramp pairs: ${r.ramps.map((x, i) => `${fmt(x.joinsPerSec, 0)} / ${fmt(r.open.ramps[i].joinsPerSec, 0)}`).join(', ')})`]]),
      ['server CPU per join (all its threads: event loop + signature verification; incl. discovery deltas during the ramp)', `${fmt(r.serverCpuMsPerJoin, 3)} ms (server process busy ${Math.round(r.serverCpuShareDuringJoins * 100)}% of one core)`],
      ...(r.loadCpuMsPerJoin == null || r.cpus == null ? [] : [['load processes\' CPU per join (sign, websocket, acks, samples)', `${fmt(r.loadCpuMsPerJoin, 3)} ms: server + clients ${fmt(r.serverCpuMsPerJoin + r.loadCpuMsPerJoin, 3)} ms per join, i.e. at most ${fmt(r.cpus * 1000 / (r.serverCpuMsPerJoin + r.loadCpuMsPerJoin), 0)} joins/s on the measuring machine's ${r.cpus} cores`]]),
      [mode === 'socket' ? 'join latency p50 / p99 (sign + request)' : 'join latency p50 / p99 (hello + sign + proof)', `${fmt(l.total.p50, 1)} / ${fmt(l.total.p99, 1)} ms`],
      ['peers registered at the end / join errors', `${r.peersAtEnd} / ${r.joinErrors}`],
      ['server RSS per connected (not joined) socket', `${fmt(r.rssPerConnectedSocket / 1024, 1)} KiB`],
      ...(r.rssPerJoinedPeerAfterRamp == null ? [] : [['server RSS per joined peer 5 s after the ramp (before the server is quiet long enough to reclaim)', `${fmt(r.rssPerJoinedPeerAfterRamp / 1024, 1)} KiB (${fmt(r.rssAfterRamp / 2 ** 20, 0)} MiB)`]]),
      [`**server RSS per joined idle peer** (highest RSS in the second half of ${fmt((r.idleMs ?? 0) / 1000, 0)} s idle after the ramp)`, `**${fmt(r.rssPerJoinedPeer / 1024, 1)} KiB** (${fmt(r.rssAtEnd / 2 ** 20, 0)} MiB at the end, ${fmt(r.rssBaseline / 2 ** 20, 0)} MiB before)`],
      ...(r.memoryReclaims == null ? [] : [['memory reclaims while idle (one memory-reducing collection each) / event-loop time they took', `${r.memoryReclaims} / ${fmt(r.memoryReclaimPauseMs, 0)} ms`]]),
      ['event-loop lag during the join ramp: median of 1 s p99s / worst p99 / max', `${fmt(r.eventLoopLagMs.p99OfScrapes, 1)} / ${fmt(r.eventLoopLagMs.worstP99, 1)} / ${fmt(r.eventLoopLagMs.max, 1)} ms`]
    ])
  ].join('\n')
}

export function targets (r) {
  return [
    { id: 'joins-per-sec', text: 'challenge joins/s, one server', value: r.joinsPerSec, limit: 2000, op: '>=', format: v => fmt(v, 0), valid: r.joinErrors === 0 },
    ...(r.open == null ? [] : [{ id: 'joins-namespaces-vs-open', text: 'challenge joins/s with namespaces within 10 % of the open default (issue 20)', value: r.open.ratio, limit: 0.9, op: '>=', format: v => `${fmt(v, 2)}×`, valid: r.joinErrors === 0 && r.open.joinErrors === 0 }]),
    ...(r.floor == null ? [] : [{ id: 'joins-vs-floor', text: 'challenge joins/s ≥ 0.8 × the bare socket.io floor (issue 19)', value: r.floor.ratio, limit: 0.8, op: '>=', format: v => `${fmt(v, 2)}×`, valid: r.joinErrors === 0 && r.floor.joinErrors === 0 }]),
    ...(r.tokenAuth == null ? [] : [{ id: 'joins-token-auth', text: 'joins/s with token auth within 10 % of the open default (issue 20)', value: r.tokenAuth.ratio, limit: 0.9, op: '>=', format: v => `${fmt(v, 2)}×`, valid: r.joinErrors === 0 && r.tokenAuth.joinErrors === 0 && r.tokenAuth.connectErrors === 0 }]),
    { id: 'rss-per-peer', text: `server RSS per idle joined peer at ${r.config.peers.toLocaleString('en')}`, value: r.rssPerJoinedPeer / 1024, limit: 20, op: '<=', format: v => `${fmt(v, 1)} KiB`, valid: r.joined > 0 }
  ]
}
