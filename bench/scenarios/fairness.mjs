// Fairness at a receiver: 1-byte echo round trips over one connection while
// a bulk transfer runs over another connection to the same receiver. Two
// dialer processes (two peers) connect to one listener: through wsstar that
// is two dials whose frames reach one socket, and the echo's bytes have to
// get past the bulk transfer's on their way to it. The echo runs in short
// blocks for as long as the bulk transfer lasts (a block that outlives the
// transfer is not counted); an idle echo on the same connections first
// gives the floor.

import { fmt, fmtBytes, statusText, table, MiB } from '../lib/format.mjs'
import { SessionPool } from '../lib/session-pool.mjs'
import { percentile, max } from '../lib/stats.mjs'

export const name = 'fairness'
export const description = '1-byte echo RTT while a bulk transfer runs to the same receiver over another dial'
export const defaultPaths = ['direct', 'wsstar']

/** echo round trips per block: short, so a block rarely outlives the transfer */
const BLOCK_ROUNDS = 20
/** the bulk transfer's head start before the echo begins: its window fills at once */
const BULK_HEAD_START_MS = 100

export function config (ctx) {
  const c = ctx.quick
    ? { bulkBytes: 64 * MiB, rounds: 100, idleRounds: 50, maxBulks: 6 }
    : { bulkBytes: 256 * MiB, rounds: 1000, idleRounds: 200, maxBulks: 12 }
  if (ctx.options.sizeMiB != null) c.bulkBytes = ctx.options.sizeMiB * MiB
  if (ctx.options.rounds != null) c.rounds = ctx.options.rounds
  return c
}

async function measure (session, cfg) {
  const [bulkDialer, echoDialer] = session.dialers
  const idle = (await echoDialer.call('latency', { rounds: cfg.idleRounds, warmup: 20 }, { timeoutMs: 120_000 })).rtts
  const rtts = []
  const bulks = []
  const timeoutMs = Math.max(120_000, cfg.bulkBytes / 1000)
  for (let b = 0; b < cfg.maxBulks && rtts.length < cfg.rounds; b++) {
    let done = false
    const bulk = bulkDialer.call('throughput', { bytes: cfg.bulkBytes }, { timeoutMs })
    bulk.then(() => { done = true }, () => { done = true })
    await new Promise(resolve => setTimeout(resolve, BULK_HEAD_START_MS))
    while (!done && rtts.length < cfg.rounds) {
      const block = await echoDialer.call('latency', { rounds: BLOCK_ROUNDS, warmup: 2 }, { timeoutMs: 120_000 })
      // only round trips that all ran while the bulk transfer did
      if (!done) rtts.push(...block.rtts)
    }
    const res = await bulk
    bulks.push(res.bytes / res.ms / 1000)
  }
  return { idle, rtts, bulks }
}

export async function run (ctx, paths) {
  const cfg = config(ctx)
  const pool = await new SessionPool(ctx, paths, { dialers: 2 }).open()
  const measured = {}
  try {
    for (const session of pool.live()) {
      try {
        measured[session.path] = await measure(session, cfg)
      } catch (err) {
        await pool.fail(session.path, err)
      }
    }
  } finally {
    await pool.close()
  }
  const summary = {}
  for (const p of paths) {
    const m = measured[p] ?? { idle: [], rtts: [], bulks: [] }
    summary[p] = {
      ...pool.status[p],
      rounds: m.rtts.length,
      idleP50: percentile(m.idle, 50),
      idleP99: percentile(m.idle, 99),
      p50: percentile(m.rtts, 50),
      p99: percentile(m.rtts, 99),
      max: max(m.rtts),
      bulkMBps: percentile(m.bulks, 50),
      bulks: m.bulks.length
    }
    if (m.rtts.length < cfg.rounds && summary[p].status === 'ok') summary[p].status = 'incomplete'
    if (m.rtts.length > 0) ctx.log(`  ${p}: echo under bulk p50 ${fmt(summary[p].p50, 3)} ms, p99 ${fmt(summary[p].p99, 3)} ms (idle p99 ${fmt(summary[p].idleP99, 3)} ms), bulk ${fmt(summary[p].bulkMBps)} MB/s`)
  }
  return { config: cfg, summary }
}

export function markdown (result) {
  const { config: cfg, summary } = result
  const rows = Object.entries(summary).map(([p, s]) => {
    if (s.rounds === 0) return [p, statusText(s), '', '', '', '', '', '']
    return [
      p + (s.status !== 'ok' ? ` (${statusText(s)})` : ''),
      fmt(s.idleP50, 3),
      fmt(s.idleP99, 3),
      fmt(s.p50, 3),
      fmt(s.p99, 3),
      fmt(s.max, 2),
      `${fmt(s.bulkMBps)} (${s.bulks})`,
      s.rounds
    ]
  })
  return [
    `### Fairness: 1-byte echo RTT over one dial while ${fmtBytes(cfg.bulkBytes)} go to the same receiver over another`,
    '',
    table(['path', 'idle p50 ms', 'idle p99 ms', 'under bulk p50 ms', 'under bulk p99 ms', 'max ms', 'bulk MB/s (transfers)', 'rounds'], rows),
    '',
    `Two dialer processes (two peers) connected to one listener; the echo runs in blocks of ${BLOCK_ROUNDS} round trips while the bulk transfer lasts ` +
      `(up to ${cfg.maxBulks} transfers, until ${cfg.rounds} round trips); "idle": the same echo before, with no transfer.`
  ].join('\n')
}

export function targets (result) {
  const s = result.summary.wsstar
  return [
    {
      id: 'fairness-echo-under-bulk',
      text: 'wsstar: 1-byte echo RTT p99 ≤ 5 ms while a bulk transfer runs to the same receiver over another dial',
      value: s?.p99,
      limit: 5,
      op: '<=',
      format: (v) => `${fmt(v, 2)} ms`,
      valid: s?.status === 'ok'
    }
  ]
}
