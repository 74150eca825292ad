// Throughput: N bytes (256 MiB) over one libp2p stream (noise + yamux), per
// path, interleaved (direct, circuit, wsstar, direct, ...), median of >= 5.
// Also the relay's CPU seconds per GiB relayed and its RSS.

import { fmt, fmtBytes, fmtRatio, statusText, table, GiB, MiB } from '../lib/format.mjs'
import { SessionPool } from '../lib/session-pool.mjs'
import { median, min, max, ratio } from '../lib/stats.mjs'

export const name = 'throughput'
export const description = 'bulk transfer over one stream: MB/s and relay CPU-seconds per GiB'
export const defaultPaths = ['direct', 'circuit', 'wsstar']

export function config (ctx) {
  const c = ctx.quick
    ? { bytes: 8 * MiB, runs: 3, warmupBytes: 2 * MiB }
    : { bytes: 256 * MiB, runs: 5, warmupBytes: 32 * MiB }
  if (ctx.options.sizeMiB != null) c.bytes = ctx.options.sizeMiB * MiB
  if (ctx.options.runs != null) c.runs = ctx.options.runs
  return c
}

export async function run (ctx, paths) {
  const cfg = config(ctx)
  const pool = await new SessionPool(ctx, paths).open()
  const runs = Object.fromEntries(paths.map(p => [p, []]))
  // generous: 256 MiB at 1 MB/s
  const timeoutMs = Math.max(60_000, cfg.bytes / 1000)
  try {
    for (const session of pool.live()) {
      try {
        await session.dialer.call('throughput', { bytes: cfg.warmupBytes }, { timeoutMs })
      } catch (err) {
        await pool.fail(session.path, err)
      }
    }
    for (let r = 0; r < cfg.runs; r++) {
      for (const session of pool.live()) {
        try {
          const before = session.cpu()
          const res = await session.dialer.call('throughput', { bytes: cfg.bytes }, { timeoutMs })
          const after = session.cpu()
          const relayCpu = after.relay - before.relay
          const gib = res.bytes / GiB
          const m = {
            run: r,
            bytes: res.bytes,
            ms: res.ms,
            MBps: res.bytes / res.ms / 1000,
            relayCpuS: relayCpu,
            relayCpuSPerGiB: relayCpu / gib,
            dialerCpuSPerGiB: (after.dialer - before.dialer) / gib,
            listenerCpuSPerGiB: (after.listener - before.listener) / gib,
            relayRss: session.relay?.memory().rss ?? NaN
          }
          runs[session.path].push(m)
          ctx.log(`  run ${r + 1}/${cfg.runs} ${session.path}: ${fmt(m.MBps)} MB/s` +
            (Number.isFinite(m.relayCpuS) ? `, relay ${fmt(m.relayCpuSPerGiB, 2)} CPU-s/GiB` : ''))
        } catch (err) {
          await pool.fail(session.path, err)
        }
      }
    }
    for (const session of pool.live()) {
      pool.status[session.path].relayPeakRss = session.relay?.memory().hwm ?? NaN
    }
  } finally {
    await pool.close()
  }

  const summary = {}
  for (const p of paths) {
    const rs = runs[p]
    summary[p] = {
      ...pool.status[p],
      runs: rs.length,
      MBps: median(rs.map(x => x.MBps)),
      MBpsMin: min(rs.map(x => x.MBps)),
      MBpsMax: max(rs.map(x => x.MBps)),
      relayCpuSPerGiB: median(rs.map(x => x.relayCpuSPerGiB)),
      endpointsCpuSPerGiB: median(rs.map(x => x.dialerCpuSPerGiB + x.listenerCpuSPerGiB)),
      relayRss: max(rs.map(x => x.relayRss)),
      relayPeakRss: pool.status[p]?.relayPeakRss
    }
    // a path with fewer than the requested runs is not a valid comparison point
    if (rs.length < cfg.runs && summary[p].status === 'ok') summary[p].status = 'incomplete'
  }
  const s = (p, k) => summary[p]?.[k]
  const ratios = {
    wsstarVsDirect: ratio(s('wsstar', 'MBps'), s('direct', 'MBps')),
    wsstarVsCircuit: ratio(s('wsstar', 'MBps'), s('circuit', 'MBps')),
    circuitVsDirect: ratio(s('circuit', 'MBps'), s('direct', 'MBps')),
    relayCpuWsstarVsCircuit: ratio(s('wsstar', 'relayCpuSPerGiB'), s('circuit', 'relayCpuSPerGiB'))
  }
  return { config: cfg, summary, ratios, runs }
}

export function markdown (result) {
  const { config: cfg, summary, ratios } = result
  const rows = Object.entries(summary).map(([p, s]) => {
    if (s.runs === 0) return [p, statusText(s), '', '', '', '', '', '', '']
    return [
      p + (s.status !== 'ok' ? ` (${statusText(s)})` : ''),
      fmt(s.MBps),
      `${fmt(s.MBpsMin)}–${fmt(s.MBpsMax)}`,
      p === 'direct' ? '1.00×' : fmtRatio(ratio(s.MBps, summary.direct?.MBps)),
      p === 'wsstar' ? fmtRatio(ratio(s.MBps, summary.circuit?.MBps)) : (p === 'circuit' ? '1.00×' : fmtRatio(ratio(s.MBps, summary.circuit?.MBps))),
      Number.isFinite(s.relayCpuSPerGiB) ? fmt(s.relayCpuSPerGiB, 2) : 'no relay',
      fmt(s.endpointsCpuSPerGiB, 2),
      fmtBytes(s.relayPeakRss),
      s.runs
    ]
  })
  return [
    `### Throughput: ${fmtBytes(cfg.bytes)} over one stream, median of ${cfg.runs} interleaved runs`,
    '',
    table(['path', 'MB/s (median)', 'min–max', 'vs direct', 'vs circuit', 'relay CPU-s/GiB', 'endpoints CPU-s/GiB', 'relay peak RSS', 'runs'], rows),
    '',
    `Ratios: wsstar/direct ${fmtRatio(ratios.wsstarVsDirect)}, wsstar/circuit ${fmtRatio(ratios.wsstarVsCircuit)}, ` +
      `circuit/direct ${fmtRatio(ratios.circuitVsDirect)}; relay CPU per GiB wsstar/circuit ${fmtRatio(ratios.relayCpuWsstarVsCircuit)}.`,
    'MB = 10^6 bytes. CPU-s = user+system seconds from /proc/<pid>/stat of the process, over the timed transfer; ' +
      '"endpoints" = dialer + listener processes together. Relay peak RSS = VmHWM of the relay process at the end of the scenario.'
  ].join('\n')
}

export function targets (result) {
  const { summary, ratios } = result
  const ok = (p) => summary[p]?.status === 'ok'
  return [
    {
      id: 'throughput-vs-direct',
      text: 'wsstar throughput ≥ 0.75 × direct websockets',
      value: ratios.wsstarVsDirect,
      limit: 0.75,
      op: '>=',
      format: fmtRatio,
      valid: ok('wsstar') && ok('direct')
    },
    {
      id: 'throughput-vs-circuit',
      text: 'wsstar throughput ≥ 1.4 × circuit-relay-v2',
      value: ratios.wsstarVsCircuit,
      limit: 1.4,
      op: '>=',
      format: fmtRatio,
      valid: ok('wsstar') && ok('circuit')
    },
    {
      id: 'relay-cpu-vs-circuit',
      text: 'wsstar server CPU per GiB ≤ 0.6 × circuit-relay-v2',
      value: ratios.relayCpuWsstarVsCircuit,
      limit: 0.6,
      op: '<=',
      format: fmtRatio,
      valid: ok('wsstar') && ok('circuit')
    }
  ]
}
