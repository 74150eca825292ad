// Discovery cost: what the server sends each idle peer in `ws-peers`
// packets (deltas and periodic re-samples), at N = 100, 1,000 and 10,000
// registered peers on one wsstar-rendezvous CLI (own process), with churn:
// `churnShare` of the peers per second leave and re-join at once. The same
// server grows from one N to the next. Counted by the raw clients
// (bench/lib/wire-client.mjs) by packet prefix and length, i.e. the
// engine.io text frames as they came off the websocket.
// `--namespaces=N`: every peer joins one of N namespaces (at random), at
// N = 1,000 to 10,000 peers: what a peer receives must stay as flat as in
// the default namespace (deltas and samples are per namespace).

import { CliServer } from '../lib/cli-server.mjs'
import { fmt, fmtRatio, table } from '../lib/format.mjs'
import { SERVER_LIMITS, startLoad } from './joins.mjs'

export const name = 'discovery'
export const description = 'ws-peers messages/s and bytes/s per peer at N = 100, 1,000, 10,000 with churn'
export const defaultPaths = ['wsstar']

export function config (ctx) {
  const namespaces = ctx.options?.namespaces
  if (namespaces != null) {
    return ctx.quick
      ? { sizes: [1000, 2000], churnShare: 0.01, windowMs: 3000, loadProcesses: 2, namespaces }
      : { sizes: [1000, 10_000], churnShare: 0.01, windowMs: 15_000, loadProcesses: 2, namespaces }
  }
  return ctx.quick
    ? { sizes: [100, 1000], churnShare: 0.01, windowMs: 3000, loadProcesses: 2 }
    : { sizes: [100, 1000, 10_000], churnShare: 0.01, windowMs: 15_000, loadProcesses: 2 }
}

async function counters (kids, reset) {
  const all = await Promise.all(kids.map(k => k.call('counters', { reset })))
  const sum = {}
  for (const c of all) for (const [k, v] of Object.entries(c)) if (k !== 't') sum[k] = (sum[k] ?? 0) + v
  return sum
}

export async function run (ctx) {
  const cfg = config(ctx)
  const server = await new CliServer({ limits: SERVER_LIMITS, execArgv: ctx.relayExecArgv, verbose: ctx.verbose }).start()
  const kids = await startLoad(cfg.loadProcesses, ctx.verbose)
  const levels = []
  try {
    let have = 0
    for (const n of cfg.sizes) {
      const per = Math.ceil((n - have) / kids.length)
      await Promise.all(kids.map(k => k.call('prepare', { port: server.port, count: per, namespaces: cfg.namespaces }, { timeoutMs: 300_000 })))
      await Promise.all(kids.map(k => k.call('connect', { concurrency: 200 }, { timeoutMs: 600_000 })))
      const j = await Promise.all(kids.map(k => k.call('join', { concurrency: 50 }, { timeoutMs: 1_200_000 })))
      have += j.reduce((a, x) => a + x.joined, 0)
      // let the deltas of the ramp itself go out before counting
      await new Promise(resolve => setTimeout(resolve, 2000))
      const churnPerSec = Math.max(1, n * cfg.churnShare)
      await Promise.all(kids.map(k => k.call('churnStart', { rate: churnPerSec / kids.length })))
      await new Promise(resolve => setTimeout(resolve, 1000))
      await counters(kids, true)
      const cpu0 = server.cpuSeconds()
      const t0 = performance.now()
      await new Promise(resolve => setTimeout(resolve, cfg.windowMs))
      const c = await counters(kids, true)
      const sec = (performance.now() - t0) / 1000
      const cpu = server.cpuSeconds() - cpu0
      const churn = await Promise.all(kids.map(k => k.call('churnStop')))
      const peers = c.sockets
      const level = {
        n: peers,
        churnPerSec,
        churnCycles: churn.reduce((a, x) => a + (x?.cycles ?? 0), 0),
        churnErrors: churn.reduce((a, x) => a + (x?.errors ?? 0), 0),
        seconds: sec,
        messagesPerPeerPerSec: c.peersMessages / peers / sec,
        bytesPerPeerPerSec: c.peersBytes / peers / sec,
        bytesPerMessage: c.peersMessages > 0 ? c.peersBytes / c.peersMessages : 0,
        allBytesPerPeerPerSec: c.rxBytes / peers / sec,
        serverCpuShare: cpu / sec,
        serverSendsBytesPerSec: c.rxBytes / sec,
        rssMiB: server.memory().rss / 2 ** 20
      }
      levels.push(level)
      ctx.log(`  N=${peers}: ${fmt(level.messagesPerPeerPerSec, 2)} ws-peers msg/s and ${fmt(level.bytesPerPeerPerSec, 0)} B/s per peer, ` +
        `server ${Math.round(level.serverCpuShare * 100)}% of a core, churn ${fmt(churnPerSec, 0)}/s`)
    }
  } finally {
    await Promise.all(kids.map(k => k.close()))
    await server.stop()
  }
  const first = levels[0]
  const last = levels[levels.length - 1]
  return {
    config: cfg,
    server: server.commandLine,
    levels,
    ratioMessages: last.messagesPerPeerPerSec / first.messagesPerPeerPerSec,
    ratioBytes: last.bytesPerPeerPerSec / first.bytesPerPeerPerSec
  }
}

export function markdown (r) {
  const first = r.levels[0]
  return [
    `### Discovery: what the server sends each idle peer, ${Math.round(r.config.churnShare * 100)}% of the peers leaving and re-joining per second` +
      (r.config.namespaces == null ? '' : `, the peers spread over ${r.config.namespaces} namespaces`),
    '',
    `Server: \`${r.server}\` with the default discovery settings (one delta a second at most, each list capped at 8 addresses; join sample and re-sample of 64 every ~60 s). ` +
    `One server grown from N to N; counted over ${r.config.windowMs / 1000} s per N by the clients (websocket text frames of \`ws-peers\`).`,
    '',
    table(['N peers', 'churn (leave + re-join)/s', 'ws-peers msg/s per peer', 'ws-peers B/s per peer', 'B per msg', `msg/s vs N=${first.n}`, `B/s vs N=${first.n}`, 'all server→peer B/s per peer', 'server CPU', 'server RSS'],
      r.levels.map(l => [l.n.toLocaleString('en'), fmt(l.churnPerSec, 0), fmt(l.messagesPerPeerPerSec, 2), fmt(l.bytesPerPeerPerSec, 0), fmt(l.bytesPerMessage, 0),
        fmtRatio(l.messagesPerPeerPerSec / first.messagesPerPeerPerSec), fmtRatio(l.bytesPerPeerPerSec / first.bytesPerPeerPerSec),
        fmt(l.allBytesPerPeerPerSec, 0), `${Math.round(l.serverCpuShare * 100)}%`, `${fmt(l.rssMiB, 0)} MiB`]))
  ].join('\n')
}

export function targets () {
  return []
}
