// Direct upgrade: how long a wsstar connection takes to become a direct
// WebRTC connection (directUpgrade() + @libp2p/webrtc, loopback ICE only),
// and what the upgrade takes off the server: the same transfer once over the
// upgraded connection and once over a relayed one (upgrade off), in the same
// run, with the server's relayed-byte counter read around each.
//
// Unlike the other scenarios, the server and the nodes run in this process:
// the figures are for comparing the two paths with each other, not with the
// throughput scenario's.

import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTC } from '@libp2p/webrtc'
import { yamux } from '@libp2p/yamux'
import { createRendezvousServer } from '@wsstar/rendezvous'
import { directUpgrade, webSocketStar } from '@wsstar/transport'
import { libdatachannelRtcConfiguration } from '@wsstar/transport/libdatachannel'
import { createLibp2p } from 'libp2p'
import nodeDataChannel from 'node-datachannel'
import { pino } from 'pino'
import { fmt, fmtBytes, MiB, table } from '../lib/format.mjs'
import { percentile } from '../lib/stats.mjs'
import { SINK_PROTOCOL, handleSink, timedTransfer } from '../lib/transfer.mjs'

export const name = 'upgrade'
export const description = 'wsstar → direct WebRTC upgrade time p50/p95; direct vs relayed throughput; relay bytes saved'
export const defaultPaths = ['wsstar']

export function config (ctx) {
  return ctx.quick
    ? { upgrades: 5, sizeMiB: 8, runs: 1 }
    : { upgrades: 20, sizeMiB: 64, runs: 3 }
}

// loopback host candidates only, no STUN/TURN: nothing leaves the machine;
// through libdatachannelRtcConfiguration, as the transport README tells Node.js users
const RTC = libdatachannelRtcConfiguration({ iceServers: [], bindAddress: '127.0.0.1' })

async function node (listen, upgrade) {
  const wsstar = webSocketStar()
  return createLibp2p({
    addresses: { listen },
    transports: [wsstar.transport, circuitRelayTransport(), webRTC({ rtcConfiguration: RTC })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: { identify: identify(), directUpgrade: directUpgrade(upgrade) }
  })
}

/** Resolves with the first of `names` the target emits, rejects after `ms`. */
function firstEvent (target, names, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error(`none of ${names.join(', ')} within ${ms} ms`)) }, ms)
    const listener = (evt) => { done(); resolve(evt) }
    const done = () => {
      clearTimeout(timer)
      for (const n of names) target.removeEventListener(n, listener)
    }
    for (const n of names) target.addEventListener(n, listener)
  })
}

async function measuredTransfer (server, connection, bytes) {
  const before = server.stats().relayedBytes
  const res = await timedTransfer(connection, bytes)
  return { mibPerSec: bytes / MiB / (res.ms / 1000), relayedBytes: server.stats().relayedBytes - before }
}

export async function run (ctx) {
  const cfg = config(ctx)
  const bytes = cfg.sizeMiB * MiB
  const server = createRendezvousServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) })
  await server.start()
  const listen = [`/ip4/127.0.0.1/tcp/${server.port}/ws/p2p-websocket-star`]
  const nodes = []
  try {
    const listener = await node(listen, { enabled: false })
    nodes.push(listener)
    await listener.handle(SINK_PROTOCOL, (stream) => handleSink(stream))
    const target = listener.getMultiaddrs()

    // upgrades: a fresh dialler each time, so every upgrade starts from a new wsstar connection
    const durations = []
    let failed = 0
    let upgraded
    for (let i = 0; i < cfg.upgrades; i++) {
      const dialler = await node(listen, { grace: 500 })
      nodes.push(dialler)
      const outcome = firstEvent(dialler.services.directUpgrade, ['direct', 'failed'], 60_000)
      await dialler.dial(target, { signal: AbortSignal.timeout(15_000) })
      const evt = await outcome
      if (evt.type === 'direct') {
        durations.push(evt.detail.duration)
      } else {
        failed++
      }
      if (i === cfg.upgrades - 1 && evt.type === 'direct') {
        upgraded = { dialler, direct: evt.detail.direct }
        await firstEvent(dialler.services.directUpgrade, ['retired'], 30_000)
      } else {
        await dialler.stop()
        nodes.pop()
      }
    }
    ctx.log(`  ${durations.length}/${cfg.upgrades} upgrades, p50 ${fmt(percentile(durations, 50), 0)} ms, p95 ${fmt(percentile(durations, 95), 0)} ms`)
    if (upgraded == null) {
      throw new Error('the last upgrade failed: no direct connection to measure')
    }

    const relayedDialler = await node(listen, { enabled: false })
    nodes.push(relayedDialler)
    const relayed = await relayedDialler.dial(target, { signal: AbortSignal.timeout(15_000) })

    // interleaved, so a busy moment of the machine hits both paths
    const direct = []
    const relay = []
    for (let r = 0; r < cfg.runs; r++) {
      direct.push(await measuredTransfer(server, upgraded.direct, bytes))
      relay.push(await measuredTransfer(server, relayed, bytes))
    }
    const best = (xs) => Math.max(...xs.map(x => x.mibPerSec))
    const relayedBytesDirect = Math.max(...direct.map(x => x.relayedBytes))
    const relayedBytesRelay = Math.min(...relay.map(x => x.relayedBytes))
    ctx.log(`  ${cfg.sizeMiB} MiB: direct ${fmt(best(direct), 1)} MiB/s (server relayed ${relayedBytesDirect} B), relayed ${fmt(best(relay), 1)} MiB/s (server relayed ${relayedBytesRelay} B)`)
    return {
      config: cfg,
      upgrades: { tried: cfg.upgrades, succeeded: durations.length, failed, durationsMs: durations, p50: percentile(durations, 50), p95: percentile(durations, 95) },
      transfer: {
        bytes,
        directMiBps: best(direct),
        relayedMiBps: best(relay),
        relayedBytesDirect,
        relayedBytesRelay,
        savedBytes: relayedBytesRelay - relayedBytesDirect
      }
    }
  } finally {
    await Promise.all(nodes.map(async n => n.stop()))
    await server.stop()
    // libdatachannel's threads would otherwise keep the process from exiting
    nodeDataChannel.cleanup()
  }
}

export function markdown (r) {
  const t = r.transfer
  return [
    '### Direct upgrade: wsstar → WebRTC',
    '',
    `${r.upgrades.tried} upgrades, each from a new wsstar connection (a fresh dialling node, \`directUpgrade()\` + \`@libp2p/webrtc\`, loopback host candidates only); ` +
    `time from the wsstar connection's open to the direct connection's (signalling through the server, ICE, DTLS/SCTP). ` +
    `Then ${fmtBytes(t.bytes)} transfers over the upgraded connection and over a relayed one (upgrade off), interleaved, ${r.config.runs} each, best shown; ` +
    'the server\'s relayed-byte counter is read around each. Server and nodes share this process.',
    '',
    table(['upgrades ok', 'p50 ms', 'p95 ms', 'direct MiB/s', 'relayed MiB/s', 'relay bytes, direct transfer', 'relay bytes, relayed transfer', 'relay bytes saved'], [[
      `${r.upgrades.succeeded}/${r.upgrades.tried}`, fmt(r.upgrades.p50, 0), fmt(r.upgrades.p95, 0),
      fmt(t.directMiBps, 1), fmt(t.relayedMiBps, 1), fmtBytes(t.relayedBytesDirect), fmtBytes(t.relayedBytesRelay), fmtBytes(t.savedBytes)
    ]])
  ].join('\n')
}

export function targets () {
  return []
}
