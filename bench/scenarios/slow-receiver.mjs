// Slow receiver: one big transfer to a receiver that stops reading for 10 s;
// how much does the relay's RSS grow during the stall? (issue 5 item 6)
//
// "Stops reading" = the receiving endpoint process is SIGSTOPped: it reads
// nothing from its socket at all, the kernel buffers fill, and the relay has
// to hold (or refuse, through flow control) whatever the sender keeps
// pushing: the worst case for the relay's memory. (An application-level stall,
// stream.pause(), never reaches the relay: the receiver's yamux keeps reading
// the connection and simply stops granting stream window. With libp2p 3's
// yamux defaults it also resets the stream once the window has grown past
// 4 MiB: maxStreamWindowSize 16 MiB > maxReadBufferLength 4 MiB.)
//
// Sender and receiver report progress every MiB, so the table also shows how
// many bytes the sender got out during the stall: with working flow control
// that stays near the windows in the path, not the whole transfer.
//
// All nodes of this scenario run with the libp2p connection monitor's
// abortConnectionOnPingFailure off (even with --ping-abort), otherwise its
// 10 s keep-alive ping (5 s minimum timeout) would close the stalled
// receiver's connections.

import { fmt, fmtBytes, statusText, table, MiB } from '../lib/format.mjs'
import { sampleMemory } from '../lib/child.mjs'
import { SessionPool } from '../lib/session-pool.mjs'

export const name = 'slow-receiver'
export const description = 'relay RSS growth while the receiver stops reading'
export const defaultPaths = ['wsstar', 'circuit']

export function config (ctx) {
  const c = ctx.quick
    ? { bytes: 64 * MiB, stallAfterBytes: 4 * MiB, stallMs: 1000 }
    : { bytes: 256 * MiB, stallAfterBytes: 32 * MiB, stallMs: 10_000 }
  if (ctx.options.sizeMiB != null) c.bytes = ctx.options.sizeMiB * MiB
  if (ctx.options.stallMs != null) c.stallMs = ctx.options.stallMs
  c.stallAfterBytes = Math.min(c.stallAfterBytes, Math.floor(c.bytes / 4))
  return c
}

function waitUntil (child, event, predicate, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no '${event}' matching after ${timeoutMs} ms`)) }, timeoutMs)
    const off = child.on(event, (data) => {
      if (predicate(data)) { clearTimeout(timer); off(); resolve(data) }
    })
  })
}

async function measure (session, cfg) {
  const { dialer, listener, relay } = session
  let sent = 0
  let received = 0
  const offSent = dialer.on('sent', (n) => { sent = n })
  const offReceived = listener.on('received', (n) => { received = n })
  await dialer.call('progress', { on: true })
  await listener.call('progress', { on: true })
  const baseline = await relay.call('gc')
  const rssBefore = relay.memory().rss
  const timeoutMs = Math.max(120_000, cfg.bytes / 1000) + cfg.stallMs
  try {
    const stallStarted = waitUntil(listener, 'received', (n) => n >= cfg.stallAfterBytes, timeoutMs)
    const transfer = dialer.call('throughput', { bytes: cfg.bytes }, { timeoutMs })
    transfer.catch(() => {})
    await stallStarted
    listener.pause()
    const atStall = { sent, received, rss: relay.memory().rss }
    const sampler = sampleMemory(relay.pid, 50)
    await new Promise(resolve => setTimeout(resolve, cfg.stallMs))
    const mem = sampler.stop()
    const atResume = { sent, received }
    listener.resume()
    const res = await transfer
    const rssAfter = relay.memory().rss
    return {
      bytes: res.bytes,
      ms: res.ms,
      rssBeforeTransfer: rssBefore,
      heapBeforeTransfer: baseline.heapUsed,
      rssAtStall: atStall.rss,
      rssMaxDuringStall: mem.max,
      rssGrowthDuringStall: mem.max - atStall.rss,
      rssGrowthOverBaseline: mem.max - rssBefore,
      rssAfter,
      sentDuringStall: atResume.sent - atStall.sent,
      inFlightAtResume: atResume.sent - atResume.received,
      samples: mem.samples
    }
  } finally {
    offSent()
    offReceived()
    try { listener.resume() } catch { /* already exited */ }
    await dialer.call('progress', { on: false }).catch(() => {})
    await listener.call('progress', { on: false }).catch(() => {})
  }
}

export async function run (ctx, paths) {
  const cfg = config(ctx)
  const rows = {}
  for (const path of paths) {
    // a fresh relay per path: RSS rarely shrinks, so earlier runs would hide growth
    const pool = await new SessionPool(ctx, [path], { pingAbort: false }).open()
    try {
      const session = pool.live()[0]
      if (session == null) {
        rows[path] = pool.status[path]
      } else if (session.relay == null) {
        rows[path] = { status: 'unavailable', reason: 'no relay on this path' }
      } else {
        try {
          const m = await measure(session, cfg)
          rows[path] = { status: 'ok', ...m }
          ctx.log(`  ${path}: relay RSS +${fmtBytes(m.rssGrowthDuringStall)} during the stall, sender pushed ${fmtBytes(m.sentDuringStall)} meanwhile`)
        } catch (err) {
          await pool.fail(path, err)
          rows[path] = pool.status[path]
        }
      }
    } finally {
      await pool.close()
    }
  }
  return { config: cfg, rows }
}

export function markdown (result) {
  const { config: cfg, rows } = result
  const out = Object.entries(rows).map(([path, r]) => {
    if (r.status !== 'ok') return [path, statusText(r), '', '', '', '', '', '']
    return [
      path,
      fmtBytes(r.rssGrowthDuringStall),
      fmtBytes(r.rssGrowthOverBaseline),
      fmtBytes(r.rssAtStall),
      fmtBytes(r.rssMaxDuringStall),
      fmtBytes(r.sentDuringStall),
      fmtBytes(r.inFlightAtResume),
      fmt(r.bytes / r.ms / 1000)
    ]
  })
  return [
    `### Slow receiver: ${fmtBytes(cfg.bytes)} transfer, receiver process SIGSTOPped for ${cfg.stallMs / 1000} s after ${fmtBytes(cfg.stallAfterBytes)}`,
    '',
    table(['path', 'relay RSS growth during stall', 'relay RSS max − pre-transfer (after GC)', 'relay RSS at stall', 'relay RSS max', 'sender pushed during stall', 'sent − received at resume', 'MB/s overall'], out),
    '',
    'RSS = VmRSS sampled every 50 ms; "growth during stall" = max during the stall − RSS when it began. Progress is reported per MiB, so byte counts are ±1 MiB.'
  ].join('\n')
}

export function targets (result) {
  const r = result.rows.wsstar
  return [{
    id: 'slow-receiver-rss',
    text: 'stalled-receiver server RSS growth ≤ 8 MiB (wsstar, receiver SIGSTOPped)',
    value: r?.rssGrowthDuringStall,
    limit: 8 * MiB,
    op: '<=',
    format: fmtBytes,
    valid: r?.status === 'ok'
  }]
}
