// Dials: dial setup latency through the wsstar-rendezvous CLI (own process)
// at a steady offered rate, then a step ramp of offered rates to find the
// most dials/s the server sustains. Raw clients in 2 load processes, each
// with its own pairs of joined sockets: caller `ss-dial` → server →
// callee `ss-incomming` → callee ack → server opens the dial → caller's ack
// with the dial id (the measured latency, open loop: dials are sent on a
// schedule whatever the answers) → caller resets the dial ('e' reset).

import { CliServer, sampling } from '../lib/cli-server.mjs'
import { fmt, table } from '../lib/format.mjs'
import { SERVER_LIMITS, startLoad } from './joins.mjs'

export const name = 'dials'
export const description = 'dial setup p50/p99 at a steady 1,000 dials/s; max sustained dials/s'
export const defaultPaths = ['wsstar']

// the per-socket dial rate limit (default 50/s, burst 100) is raised: the
// offered load comes from a few hundred sockets
const LIMITS = { ...SERVER_LIMITS, dialRate: 1e6, dialBurst: 1e6 }

// Between the joins and the timed dials: the server announces a burst of
// joins a delta per `--peers-interval` (1 s) for up to 8 periods
// (discovery.ts BACKLOG_PERIODS), each delta written to every socket. Timed
// over that, a dial's CPU and latency carry the join announcements: the
// dials are measured once discovery is quiet.
const SETTLE_MS = 10_000

export function config (ctx) {
  return ctx.quick
    ? { loadProcesses: 2, pairsPerProcess: 50, rate: 1000, durationMs: 3000, warmupMs: 500, steps: [2000, 4000], stepMs: 2000, settleMs: 1000 }
    : { loadProcesses: 2, pairsPerProcess: 100, rate: 1000, durationMs: 10_000, warmupMs: 1000, steps: [2000, 3000, 4000, 6000, 8000], stepMs: 4000, settleMs: SETTLE_MS }
}

async function runRate (kids, server, rate, durationMs, warmupMs) {
  const cpu0 = server.cpuSeconds()
  const t0 = performance.now()
  const { result: per, samples } = await sampling(server, 1000,
    () => Promise.all(kids.map(k => k.call('dials', { rate: rate / kids.length, durationMs, warmupMs }, { timeoutMs: durationMs + warmupMs + 60_000 }))))
  const wall = (performance.now() - t0) / 1000
  const cpu = server.cpuSeconds() - cpu0
  const lat = per.map(p => p.latency)
  const completed = per.reduce((a, p) => a + p.completed, 0)
  const sent = per.reduce((a, p) => a + p.sent, 0)
  const errors = {}
  for (const p of per) for (const [k, v] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + v
  // percentiles: the load processes' own percentiles, worst of them (same rate each)
  return {
    offered: rate,
    sent,
    completed,
    achievedPerSec: completed / (durationMs / 1000),
    p50: Math.max(...lat.map(l => l.p50)),
    p90: Math.max(...lat.map(l => l.p90)),
    p99: Math.max(...lat.map(l => l.p99)),
    max: Math.max(...lat.map(l => l.max)),
    serverCpuShare: cpu / wall,
    // the server's own event-loop delay over the step (1 s windows): tells server stalls from client/machine ones
    serverLagMaxMs: Math.max(0, ...samples.map(x => x.lag.max)),
    serverCpuMsPerDial: completed > 0 ? cpu / (completed * (wall / (durationMs / 1000))) * 1000 : NaN,
    errors
  }
}

export async function run (ctx) {
  const cfg = config(ctx)
  const server = await new CliServer({ limits: LIMITS, execArgv: ctx.relayExecArgv, verbose: ctx.verbose }).start()
  const kids = await startLoad(cfg.loadProcesses, ctx.verbose)
  try {
    await Promise.all(kids.map(k => k.call('prepare', { port: server.port, count: cfg.pairsPerProcess * 2 })))
    await Promise.all(kids.map(k => k.call('connect', { concurrency: 50 })))
    const joined = await Promise.all(kids.map(k => k.call('join', { concurrency: 20 })))
    const errs = joined.reduce((a, j) => a + j.errorCount, 0)
    if (errs > 0) throw new Error(`join errors: ${joined.flatMap(j => j.errors).join('; ')}`)
    await new Promise(resolve => setTimeout(resolve, cfg.settleMs))
    const steady = await runRate(kids, server, cfg.rate, cfg.durationMs, cfg.warmupMs)
    ctx.log(`  ${cfg.rate} dials/s: p50 ${fmt(steady.p50, 2)} ms, p99 ${fmt(steady.p99, 2)} ms, achieved ${fmt(steady.achievedPerSec, 0)}/s, server ${Math.round(steady.serverCpuShare * 100)}% of a core`)
    const steps = []
    for (const rate of cfg.steps) {
      const s = await runRate(kids, server, rate, cfg.stepMs, 500)
      steps.push(s)
      ctx.log(`  offered ${rate}/s: achieved ${fmt(s.achievedPerSec, 0)}/s, p50 ${fmt(s.p50, 1)} ms, p99 ${fmt(s.p99, 1)} ms, server ${Math.round(s.serverCpuShare * 100)}%`)
      if (s.achievedPerSec < 0.95 * rate || s.p99 > 1000) break
    }
    const sustained = [steady, ...steps].filter(s => s.achievedPerSec >= 0.95 * s.offered && s.p99 <= 1000)
    return {
      config: cfg,
      server: server.commandLine,
      pairs: cfg.loadProcesses * cfg.pairsPerProcess,
      steady,
      steps,
      maxSustainedPerSec: Math.max(0, ...sustained.map(s => s.achievedPerSec)),
      maxAchievedPerSec: Math.max(steady.achievedPerSec, ...steps.map(s => s.achievedPerSec))
    }
  } finally {
    await Promise.all(kids.map(k => k.close()))
    await server.stop()
  }
}

export function markdown (r) {
  const row = (s, label) => [label ?? `${s.offered}`, fmt(s.achievedPerSec, 0), fmt(s.p50, 2), fmt(s.p90, 2), fmt(s.p99, 2), fmt(s.max, 1), `${Math.round(s.serverCpuShare * 100)}%`, fmt(s.serverCpuMsPerDial, 3), fmt(s.serverLagMaxMs, 1),
    Object.entries(s.errors).map(([k, v]) => `${k}: ${v}`).join(', ') || '0']
  return [
    `### Dials: setup latency at a steady ${r.config.rate.toLocaleString('en')} dials/s, then a step ramp`,
    '',
    `Server: \`${r.server}\` (**per-socket dial rate limit raised** from the default 50/s, burst 100: the load comes from ${r.pairs} caller sockets). ` +
    `Clients: ${r.config.loadProcesses} load processes, ${r.pairs} caller→callee pairs of joined raw sockets; open loop, latency from sending ss-dial to its ack (callee accepted), then the caller resets the dial. ` +
    `Steady: ${r.config.durationMs / 1000} s after ${r.config.warmupMs / 1000} s warmup, started ${(r.config.settleMs ?? 0) / 1000} s after the joins (once their announcements are out); steps: ${r.config.stepMs / 1000} s each, stopping at the first step below 95% of the offered rate.`,
    '',
    table(['offered dials/s', 'completed/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'server CPU', 'server CPU ms/dial', 'server event-loop lag max ms', 'errors'], [
      row(r.steady, `**${r.steady.offered} (steady)**`),
      ...r.steps.map(s => row(s))
    ]),
    '',
    `Max sustained (≥ 95% of offered completed, p99 ≤ 1 s): **${fmt(r.maxSustainedPerSec, 0)} dials/s**; most completed in any step: ${fmt(r.maxAchievedPerSec, 0)}/s.`
  ].join('\n')
}

export function targets (r) {
  const ok = r.steady.achievedPerSec >= 0.95 * r.steady.offered
  return [
    { id: 'dial-p50', text: `dial setup p50 at ${r.config.rate} dials/s`, value: r.steady.p50, limit: 2, op: '<=', format: v => `${fmt(v, 2)} ms`, valid: ok },
    { id: 'dial-p99', text: `dial setup p99 at ${r.config.rate} dials/s`, value: r.steady.p99, limit: 10, op: '<=', format: v => `${fmt(v, 2)} ms`, valid: ok }
  ]
}
