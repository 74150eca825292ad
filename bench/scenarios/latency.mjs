// Latency: 1-byte echo round trips over one stream, per path. The rounds are
// split in blocks run interleaved across paths (direct, circuit, wsstar,
// direct, ...), each block on a fresh stream of the same connection after its
// own warmup, so slow drift of the machine hits every path alike.

import { fmt, fmtRatio, statusText, table } from '../lib/format.mjs'
import { SessionPool } from '../lib/session-pool.mjs'
import { percentile, mean, max, ratio } from '../lib/stats.mjs'

export const name = 'latency'
export const description = '1-byte echo RTT p50/p99 over one stream'
export const defaultPaths = ['direct', 'circuit', 'wsstar']

export function config (ctx) {
  const c = ctx.quick
    ? { rounds: 100, blocks: 2, warmup: 20 }
    : { rounds: 1000, blocks: 5, warmup: 100 }
  if (ctx.options.rounds != null) c.rounds = ctx.options.rounds
  return c
}

export async function run (ctx, paths) {
  const cfg = config(ctx)
  const pool = await new SessionPool(ctx, paths).open()
  const rtts = Object.fromEntries(paths.map(p => [p, []]))
  const perBlock = Math.ceil(cfg.rounds / cfg.blocks)
  try {
    for (let b = 0; b < cfg.blocks; b++) {
      for (const session of pool.live()) {
        try {
          const n = Math.min(perBlock, cfg.rounds - b * perBlock)
          if (n <= 0) continue
          const res = await session.dialer.call('latency', { rounds: n, warmup: cfg.warmup }, { timeoutMs: 120_000 })
          rtts[session.path].push(...res.rtts)
        } catch (err) {
          await pool.fail(session.path, err)
        }
      }
    }
  } finally {
    await pool.close()
  }
  const summary = {}
  for (const p of paths) {
    const xs = rtts[p]
    summary[p] = {
      ...pool.status[p],
      rounds: xs.length,
      p50: percentile(xs, 50),
      p90: percentile(xs, 90),
      p99: percentile(xs, 99),
      mean: mean(xs),
      max: max(xs)
    }
    if (xs.length < cfg.rounds && summary[p].status === 'ok') summary[p].status = 'incomplete'
    if (xs.length > 0) ctx.log(`  ${p}: p50 ${fmt(summary[p].p50, 3)} ms, p99 ${fmt(summary[p].p99, 3)} ms`)
  }
  return { config: cfg, summary }
}

export function markdown (result) {
  const { config: cfg, summary } = result
  const rows = Object.entries(summary).map(([p, s]) => {
    if (s.rounds === 0) return [p, statusText(s), '', '', '', '', '']
    return [
      p + (s.status !== 'ok' ? ` (${statusText(s)})` : ''),
      fmt(s.p50, 3),
      fmt(s.p99, 3),
      fmt(s.mean, 3),
      fmt(s.max, 2),
      p === 'direct' ? '1.00×' : fmtRatio(ratio(s.p50, summary.direct?.p50)),
      s.rounds
    ]
  })
  return [
    `### Latency: 1-byte echo RTT, ${cfg.rounds} round trips in ${cfg.blocks} interleaved blocks (warmup ${cfg.warmup} per block)`,
    '',
    table(['path', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'p50 vs direct', 'rounds'], rows)
  ].join('\n')
}

export function targets () {
  return []
}
