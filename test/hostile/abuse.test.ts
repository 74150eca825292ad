/**
 * Hostile: abuse. A fleet of hostile clients (its own process, see
 * helpers/attacker.ts) floods a real server process with joins, dials,
 * dials to self, frames on a dial id it does not own, data beyond credit,
 * a peer that accepts dials and never reads (more dials than it may be owed
 * windows for are refused), and 2,000 half-open sockets
 * that never join (handshake timeout 500 ms) — while an honest pair moves
 * data over its dial.
 *
 * The honest pair's throughput is measured unloaded and under the abuse in
 * the same test. It must stay >= 0.2x the unloaded figure. Why 0.2: the
 * machine has 2 cores shared by three busy processes (server, attacker
 * fleet, honest clients), and the server's one event loop spends real CPU on
 * the abuse even when every abusive request is rejected in O(1) (decoding
 * each socket.io packet, accepting and cutting 2,000 connections, relaying
 * the attackers' own in-credit data). A relay that let abuse starve others
 * (unbounded buffering, per-request work that grows with the flood, a
 * blocked loop) lands far below that; a fair share lands above it. Seen on
 * a 2-core VM, this test alone: 0.25-0.66 over seven runs (median 0.5); 0.3
 * failed one of them, so the bound sits below the worst fair run seen.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect as tcpConnect } from 'node:net'
import { setPriority } from 'node:os'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { closeClients, dial, pump, rawPeer } from '@wsstar/raw-client'
import { spawnServer } from './helpers/server-process.js'
import { waitFor } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'

const ATTACKER = fileURLToPath(new URL('./helpers/attacker.js', import.meta.url))
const MiB = 1024 * 1024
const HALF_OPEN = 2000
const HANDSHAKE_TIMEOUT_MS = 500
/** honest throughput under abuse / unloaded must be at least this (see above) */
const MIN_RATIO = 0.2

describe('hostile: abuse', { timeout: 160_000 }, () => {
  let server: ServerProcess

  before(async () => {
    server = await spawnServer([
      '--handshake-timeout', `${HANDSHAKE_TIMEOUT_MS}ms`,
      '--max-socket-buffered-bytes', '4MiB',
      // low enough that the flooders hit them within the few seconds of abuse, even when the
      // (niced) fleet gets little CPU; the honest pair makes one dial
      '--max-dials-per-socket', '16',
      '--dial-rate', '20',
      '--dial-burst', '24',
      // a flood socket's first 20 hellos already exceed it
      '--join-burst', '10',
      '--dial-timeout', '1s'
    ])
  })

  after(async () => {
    closeClients()
    const exit = await server?.stop()
    assert.equal(exit?.code, 0, 'the server exits 0 on SIGTERM after all that')
  })

  it('half-open connections of every kind are cut within the handshake timeout: socket.io without a join, engine.io without a socket.io connect, bare TCP, slow headers', async () => {
    const url = `ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`
    const opened = Date.now()
    const lifetimes: Record<string, number> = {}
    const closedAfter = (kind: string) => () => { lifetimes[kind] = Date.now() - opened }
    const socketIo = new WebSocket(url)
    socketIo.addEventListener('message', (e) => { if (String(e.data).startsWith('0{')) socketIo.send('40{"protocol":"wsstar/2"}') })
    socketIo.addEventListener('close', closedAfter('socket.io, no join'))
    const engineOnly = new WebSocket(url)
    engineOnly.addEventListener('close', closedAfter('engine.io, no socket.io connect'))
    const bare = tcpConnect(server.port, '127.0.0.1')
    bare.on('error', () => {})
    bare.on('close', closedAfter('bare TCP'))
    const slow = tcpConnect(server.port, '127.0.0.1', () => { slow.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n') })
    const drip = setInterval(() => { if (!slow.destroyed) slow.write('X-Slow: 1\r\n') }, 100)
    slow.on('error', () => {})
    slow.on('close', closedAfter('slow headers'))
    try {
      await waitFor(() => Object.keys(lifetimes).length === 4, 15_000, 'all four cut')
    } finally {
      clearInterval(drip)
    }
    console.log(`# half-open lifetimes (handshake timeout ${HANDSHAKE_TIMEOUT_MS} ms): ${JSON.stringify(lifetimes)}`)
    for (const [kind, ms] of Object.entries(lifetimes)) {
      // slack for a loaded machine; without the fix two of these live 45 s and forever
      assert.ok(ms <= HANDSHAKE_TIMEOUT_MS + 4000, `${kind} lived ${ms} ms`)
    }
  })

  it('limits engage, 2,000 half-open sockets are cut, and an honest pair keeps >= 0.2x its throughput', { timeout: 150_000 }, async () => {
    const t0 = Date.now()
    const phase = (what: string): void => { console.log(`# abuse: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`) }
    const sender = await rawPeer(server.port)
    const receiver = await rawPeer(server.port)
    const dialId = await dial(sender, receiver.address)
    const window = 1024 * 1024
    const size = 48 * MiB
    // warm-up, then the unloaded figure
    await pump(sender.socket, receiver.socket, dialId, 8 * MiB, window)
    const unloaded = await pump(sender.socket, receiver.socket, dialId, size, window)
    assert.ok(unloaded.intact)
    const baseSockets = (await server.health()).body.sockets
    phase('unloaded figure measured')

    const attacker = spawn(process.execPath, [ATTACKER, JSON.stringify({ port: server.port, durationMs: 60_000, halfOpen: HALF_OPEN, strayDialId: dialId })], { stdio: ['ignore', 'pipe', 'pipe'] })

    let out = ''
    let err = ''
    attacker.stdout.on('data', (d: Buffer) => { out += d.toString() })
    attacker.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const attackerExit = new Promise<number | null>(resolve => { attacker.on('exit', code => { resolve(code) }) })
    try {
      await waitFor(() => out.includes('ready\n') || attacker.exitCode != null, 40_000, 'the attacker fleet to be ready')
      assert.ok(out.includes('ready\n'), `attacker failed: ${err}`)
      phase('attacker fleet ready')
      // the attackers would run on other machines: their own CPU burn must not count against the server
      // on this 2-core box, so once set up (at normal priority: on a busy box a starved setup would
      // never finish) the OS runs them last. What they cost the server still counts.
      try { setPriority(attacker.pid ?? 0, 19) } catch { /* the fleet already exited: its output says why */ }
      // honest transfers with the fleet paused (SIGSTOP) and running, alternated three times: other
      // work on a shared box then weighs on both figures alike. Every transfer must arrive intact.
      const paused: number[] = []
      const attacked: number[] = []
      for (let i = 0; i < 3; i++) {
        attacker.kill('SIGSTOP')
        await new Promise(resolve => setTimeout(resolve, 200))
        const quiet = await pump(sender.socket, receiver.socket, dialId, size / 3, window)
        attacker.kill('SIGCONT')
        await new Promise(resolve => setTimeout(resolve, 300))
        const loud = await pump(sender.socket, receiver.socket, dialId, size / 3, window)
        assert.ok(quiet.intact && loud.intact, 'the honest transfers arrived byte-exact')
        paused.push(quiet.rate)
        attacked.push(loud.rate)
      }
      const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[1]
      const loaded = { rate: median(attacked) }
      const unloadedRate = median(paused)
      const health = await server.health()
      assert.equal(health.status, 200, '/health answers under abuse')
      phase('figure under abuse measured')
      // enough abuse seen: the fleet reports now (at normal priority again, so a busy box cannot starve it)
      try { setPriority(attacker.pid ?? 0, 0) } catch { /* raising a priority back needs privileges: it reports at low priority then */ }
      attacker.kill('SIGUSR2')

      assert.equal(await attackerExit, 0, `attacker: ${err}`)
      phase('attacker done')
      const report = JSON.parse(out.trim().split('\n').at(-1) ?? '{}')
      const ratio = loaded.rate / unloadedRate
      console.log(`# honest pair: before the fleet ${unloaded.rate.toFixed(1)} MiB/s; fleet paused ${paused.map(r => r.toFixed(1)).join(', ')}; fleet attacking ${attacked.map(r => r.toFixed(1)).join(', ')} MiB/s; median ratio ${ratio.toFixed(2)} (bound ${MIN_RATIO})`)
      console.log(`# attacker: ${JSON.stringify(report)}`.slice(0, 1500))

      // the honest dial was never touched by the frames on its id
      assert.ok(!sender.ends.some(([id]) => id === dialId) && !receiver.ends.some(([id]) => id === dialId), 'no reset reached the honest pair')
      assert.ok(ratio >= MIN_RATIO, `honest throughput under abuse ${loaded.rate.toFixed(1)} MiB/s is ${ratio.toFixed(2)}x the unloaded ${unloadedRate.toFixed(1)} MiB/s`)

      // the limits engaged, as the attackers were told and as /metrics counts
      const c = report.counts as Record<string, number>
      assert.ok((c['ss-join:ERR_RATE_LIMITED'] ?? 0) > 0, 'join flood rate limited')
      assert.ok((c['ss-dial:ERR_RATE_LIMITED'] ?? 0) > 0, 'dial flood rate limited')
      assert.ok((c['ss-dial:ERR_LIMIT_EXCEEDED'] ?? 0) > 0, 'concurrent dial limit')
      assert.ok((c['ss-dial:ERR_BAD_REQUEST'] ?? 0) > 0, 'dial to self refused')
      assert.ok((c['beyond-credit:reset:ERR_FLOW_CONTROL'] ?? 0) > 0, 'data beyond credit reset')
      assert.ok((c['feed-dial-refused'] ?? 0) > 0, 'dials beyond what the peer that never reads may be owed were refused')
      const rejected = await server.metricsOf('wsstar_rejected_total')
      for (const code of ['ERR_RATE_LIMITED', 'ERR_LIMIT_EXCEEDED', 'ERR_BAD_REQUEST', 'ERR_FLOW_CONTROL', 'ERR_DIAL_NOT_FOUND', 'ERR_DIAL_TIMEOUT']) {
        assert.ok((rejected[`code="${code}"`] ?? 0) > 0, `${code} counted in /metrics: ${JSON.stringify(rejected)}`)
      }
      const hits = await server.metricsOf('wsstar_limit_hits_total')
      assert.ok((hits['limit="handshake-timeout"'] ?? 0) >= HALF_OPEN * 0.6 - 1, `handshake timeouts: ${JSON.stringify(hits)}`)
      assert.ok((hits['limit="max-socket-buffered-bytes"'] ?? 0) >= 1, 'buffer bound hit (dials refused)')
      assert.ok((hits['limit="dial-rate"'] ?? 0) > 0 && (hits['limit="join-rate"'] ?? 0) > 0, `rate limits hit: ${JSON.stringify(hits)}`)
      // the concurrent dial limit is the lower of --max-dials-per-socket and what 4 MiB holds of 1 MiB windows (3)
      assert.ok((hits['limit="max-dials-per-socket"'] ?? 0) + (hits['limit="max-socket-buffered-bytes"'] ?? 0) > 0, `concurrent dial limit hit: ${JSON.stringify(hits)}`)
      assert.ok((hits['limit="window"'] ?? 0) > 0)

      // every half-open socket was cut, each within the handshake timeout of being opened (plus slack)
      assert.equal(report.halfOpen.opened, HALF_OPEN)
      assert.equal(report.halfOpen.closed, HALF_OPEN, `every half-open socket was cut: ${JSON.stringify(report.halfOpen)}`)
      assert.ok(report.halfOpen.lastClosedAfterReadyMs <= HANDSHAKE_TIMEOUT_MS + 3000, `the last half-open socket lived ${report.halfOpen.lastClosedAfterReadyMs} ms after the fleet was ready`)
      // the fleet is gone: the server is back to the honest pair
      await waitFor(async () => (await server.health()).body.sockets === baseSockets, 10_000, 'sockets back to the honest pair')
      assert.ok(server.alive())
    } finally {
      attacker.kill('SIGKILL')
    }
  })
})
