#!/usr/bin/env node
// First tries of the direct upgrade in Node.js, with and without
// libdatachannelRtcConfiguration (@wsstar/transport/libdatachannel): N
// upgrades per configuration, interleaved (plain, held, plain, held, …), each
// from a fresh pair of nodes on one in-process rendezvous server, with
// `attempts: 1` so a failed first try shows as a failure. Loopback host
// candidates only. Prints per configuration: first tries that succeeded,
// failures (by error), how many took over 500 ms, and p50/p95 of the
// successful ones.
//
//   npm run build && npx node bench/upgrade-first-tries.mjs [--tries 50] [--timeout 10000]
//
// plain: webRTC({ rtcConfiguration: { iceServers: [], bindAddress: '127.0.0.1' } })
// held:  webRTC({ rtcConfiguration: libdatachannelRtcConfiguration({ same }) })

import { parseArgs } from 'node:util'
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
import { percentile } from './lib/stats.mjs'

const { values } = parseArgs({
  options: {
    tries: { type: 'string', default: '50' },
    timeout: { type: 'string', default: '10000' }
  }
})
const TRIES = Number(values.tries)
const TIMEOUT = Number(values.timeout)
const LOOPBACK = { iceServers: [], bindAddress: '127.0.0.1' }
const CONFIGS = {
  plain: () => LOOPBACK,
  held: () => libdatachannelRtcConfiguration(LOOPBACK)
}

async function node (listen, rtcConfiguration, upgrade) {
  const wsstar = webSocketStar()
  return createLibp2p({
    addresses: { listen },
    transports: [wsstar.transport, circuitRelayTransport(), webRTC({ rtcConfiguration })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify(), directUpgrade: directUpgrade(upgrade) }
  })
}

/** One first try: resolves with { ok, ms, error? } once the dialler's service reports its outcome. */
async function firstTry (listen, rtc) {
  const dialler = await node(listen, rtc(), { attempts: 1, timeout: TIMEOUT })
  const callee = await node(listen, rtc(), { enabled: false })
  try {
    const outcome = new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('no outcome')) }, TIMEOUT + 10_000)
      const settle = (result) => { clearTimeout(timer); resolve(result) }
      dialler.services.directUpgrade.addEventListener('direct', (evt) => { settle({ ok: true, ms: evt.detail.duration }) })
      dialler.services.directUpgrade.addEventListener('failed', (evt) => { settle({ ok: false, error: evt.detail.error.name }) })
    })
    const started = Date.now()
    await dialler.dial(callee.getMultiaddrs(), { signal: AbortSignal.timeout(10_000) })
    const result = await outcome
    return { ...result, ms: result.ms ?? Date.now() - started }
  } finally {
    await Promise.all([dialler.stop(), callee.stop()])
  }
}

const server = createRendezvousServer({
  host: '127.0.0.1',
  port: 0,
  logger: pino({ level: 'silent' }),
  limits: { maxSocketsPerIp: 1e6, joinRatePerIp: 1e6, joinBurstPerIp: 1e6 }
})
await server.start()
const listen = [`/ip4/127.0.0.1/tcp/${server.port}/ws/p2p-websocket-star`]
const results = Object.fromEntries(Object.keys(CONFIGS).map(k => [k, []]))
try {
  for (let i = 0; i < TRIES; i++) {
    for (const [name, rtc] of Object.entries(CONFIGS)) {
      const result = await firstTry(listen, rtc)
      results[name].push(result)
      process.stderr.write(`${name} ${i + 1}/${TRIES}: ${result.ok ? `direct in ${result.ms} ms` : `failed (${result.error}) after ${result.ms} ms`}\n`)
    }
  }
} finally {
  await server.stop()
  nodeDataChannel.cleanup()
}

console.log(`\nfirst tries, attempts: 1, timeout ${TIMEOUT} ms, loopback host candidates only`)
console.log('| rtcConfiguration | succeeded | failed | over 500 ms | p50 ms | p95 ms |')
console.log('|---|---|---|---|---|---|')
for (const [name, list] of Object.entries(results)) {
  const ok = list.filter(r => r.ok)
  const failures = {}
  for (const r of list.filter(r => !r.ok)) failures[r.error] = (failures[r.error] ?? 0) + 1
  const failed = Object.entries(failures).map(([e, n]) => `${n} ${e}`).join(', ') || '0'
  const ms = ok.map(r => r.ms)
  console.log(`| ${name} | ${ok.length}/${list.length} | ${failed} | ${ms.filter(x => x > 500).length} | ${Math.round(percentile(ms, 50))} | ${Math.round(percentile(ms, 95))} |`)
}
