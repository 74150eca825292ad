/**
 * Hostile: what the server queues for a socket that does not read.
 *
 * - A socket that never joins and never reads floods 18-byte `ss-leave("")`
 *   requests with acks: the server's memory stays bounded and the socket is
 *   cut (request budget, control backlog bound), counted in /metrics.
 * - A registered socket that stops reading but keeps answering pings while
 *   discovery keeps sending it peers is cut as a slow consumer.
 * - Senders cannot get a receiver cut: one attacker socket with many dials
 *   sends full windows into a victim that reads late; the dials beyond the
 *   victim's buffer bound are refused, the victim stays connected and
 *   registered, and its honest dial keeps working.
 *
 * Every server is the CLI process (helpers/server-process.ts); RSS is read
 * from /debug/internals.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { closeClients, connect, dial, identity, peerAddress, pump, rawPeer, request, resumeReading, stopReading } from '@wsstar/raw-client'
import { spawnServer } from './helpers/server-process.js'
import { sleep } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { Socket } from 'socket.io-client'

const MiB = 1024 * 1024
/** server RSS growth allowed while one socket floods it: generous, the unbounded server grows by hundreds of MiB */
const RSS_GROWTH_BOUND = 32 * MiB
/** what the server may hold after a GC for one socket that does not read (its control backlog bound is 1 MiB) */
const LIVE_GROWTH_BOUND = 8 * MiB

/**
 * The server's socket count, RSS, and what is live after a full GC (heap
 * plus Buffers): garbage a flood leaves grows the young generation, and so
 * the RSS, without anything being retained.
 */
async function serverState (server: ServerProcess, gc = false): Promise<{ sessions: number, rss: number, live: number }> {
  const internals = await server.internals(gc)
  return { sessions: internals.server.sessions, rss: internals.memory.rss, live: internals.memory.heapUsed + internals.memory.external }
}

/**
 * Sends 18-byte `421["ss-leave",""]` packets (with acks) as fast as the
 * socket takes them, until `stop()` is true; keeps the engine.io heartbeat
 * answered so only the server's own bounds can end the socket.
 */
async function floodLeaves (socket: Socket, stop: () => boolean): Promise<number> {
  const engine = (socket.io as any).engine
  let sent = 0
  let lastPong = Date.now()
  while (!stop()) {
    for (let i = 0; i < 500; i++) {
      socket.emit('ss-leave', '', () => {})
      sent++
    }
    if (Date.now() - lastPong > 1000) {
      engine._sendPacket('pong')
      lastPong = Date.now()
    }
    // let the client write what it queued
    await new Promise(resolve => setImmediate(resolve))
  }
  return sent
}

describe('hostile: outgoing backlog of a socket that does not read', { timeout: 120_000 }, () => {
  const servers: ServerProcess[] = []

  after(async () => {
    closeClients()
    for (const server of servers) {
      assert.equal((await server.stop()).code, 0)
    }
  })

  it('a socket that never joins nor reads, flooding ss-leave("") with acks, is cut and the server RSS stays bounded', async () => {
    const server = await spawnServer(['--expose-internals'])
    servers.push(server)
    const honest = await rawPeer(server.port)
    const before = await serverState(server)
    const flooder = await connect(server.port)
    stopReading(flooder)
    let done = false
    const flood = floodLeaves(flooder, () => done)
    let peak = before.rss
    let cutAfterMs: number | undefined
    const started = Date.now()
    try {
      // under the 10 s handshake timeout, which would cut it anyway
      while (Date.now() - started < 7000) {
        const now = await serverState(server)
        peak = Math.max(peak, now.rss)
        if (now.sessions <= before.sessions) {
          cutAfterMs = Date.now() - started
          break
        }
        await sleep(100)
      }
    } finally {
      done = true
    }
    const sent = await flood
    flooder.disconnect()
    console.log(`# leave flood: ${sent} requests sent; server RSS ${(before.rss / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB; cut after ${cutAfterMs ?? 'never'} ms`)
    assert.ok(peak - before.rss < RSS_GROWTH_BOUND, `server RSS grew by ${((peak - before.rss) / MiB).toFixed(1)} MiB`)
    assert.notEqual(cutAfterMs, undefined, 'the flooding socket was disconnected')
    const hits = await server.metricsOf('wsstar_limit_hits_total')
    assert.ok((hits['limit="request-rate"'] ?? 0) + (hits['limit="max-socket-control-bytes"'] ?? 0) >= 1, `counted: ${JSON.stringify(hits)}`)
    // the honest peer that joined before is still registered and dialable
    const other = await rawPeer(server.port)
    assert.match(await dial(other, honest.address), /^[\w-]{22}$/)
  })

  it('with the request budget out of the way, the control backlog bound cuts the same flood', async () => {
    // the young generation as the CLI's shebang and the Dockerfile size it
    // (the kernel's socket buffers take tens of MiB of acks first: no handshake timeout meanwhile)
    const server = await spawnServer(['--expose-internals', '--request-rate', '1000000', '--request-burst', '1000000', '--handshake-timeout', '60s'], { nodeArgs: ['--expose-gc', '--max-semi-space-size=16'] })
    servers.push(server)
    const before = await serverState(server, true)
    const flooder = await connect(server.port)
    stopReading(flooder)
    let done = false
    const flood = floodLeaves(flooder, () => done)
    let peakRss = before.rss
    let peakLive = before.live
    let liveSamples = 0
    let lastGc = 0
    let cutAfterMs: number | undefined
    const started = Date.now()
    try {
      while (Date.now() - started < 40_000) {
        // a full GC about once a second (on a loaded box one can take seconds: a slow one is skipped)
        const gc = Date.now() - lastGc > 1000
        let now
        try {
          now = await serverState(server, gc)
        } catch (err) {
          if (!gc) throw err
          lastGc = Date.now()
          continue
        }
        if (gc) {
          lastGc = Date.now()
          liveSamples++
          peakLive = Math.max(peakLive, now.live)
        }
        peakRss = Math.max(peakRss, now.rss)
        if (now.sessions <= before.sessions) {
          cutAfterMs = Date.now() - started
          break
        }
        await sleep(100)
      }
    } finally {
      done = true
    }
    const sent = await flood
    flooder.disconnect()
    console.log(`# leave flood, no request budget: ${sent} requests sent; server RSS ${(before.rss / MiB).toFixed(1)} -> peak ${(peakRss / MiB).toFixed(1)} MiB, live after GC ${(before.live / MiB).toFixed(1)} -> peak ${(peakLive / MiB).toFixed(1)} MiB; cut after ${cutAfterMs ?? 'never'} ms`)
    assert.notEqual(cutAfterMs, undefined, 'the flooding socket was disconnected')
    assert.ok(liveSamples > 0, 'the live memory was sampled during the flood')
    assert.ok(peakLive - before.live < LIVE_GROWTH_BOUND, `the server held ${((peakLive - before.live) / MiB).toFixed(1)} MiB more`)
    // the flood's garbage (a quarter of a million requests handled) fills the young generation: up to two 16 MiB semi-spaces
    assert.ok(peakRss - before.rss < RSS_GROWTH_BOUND + 32 * MiB, `server RSS grew by ${((peakRss - before.rss) / MiB).toFixed(1)} MiB`)
    const hits = await server.metricsOf('wsstar_limit_hits_total')
    assert.ok((hits['limit="max-socket-control-bytes"'] ?? 0) >= 1, `counted as a slow consumer: ${JSON.stringify(hits)}`)
  })

  it('a registered socket that stops reading but answers pings while discovery keeps sending is cut as a slow consumer', async () => {
    // every registered socket gets a re-sample of up to 1,000 peers about every 100 ms
    const server = await spawnServer(['--expose-internals', '--no-challenge', '--sample-size', '1000', '--resample-interval', '100ms', '--max-addresses-per-socket', '128', '--join-rate', '1000', '--join-burst', '1000', '--churn-rate', '1000', '--churn-burst', '1000'])
    servers.push(server)
    // 1,000 other registered peers, 100 per socket
    const holders = await Promise.all(Array.from({ length: 10 }, async () => await connect(server.port)))
    await Promise.all(holders.map(async (socket) => {
      for (let i = 0; i < 100; i++) {
        const me = await identity()
        const [err] = await request(socket, 'ss-join', peerAddress(server.port, me.peerId), {})
        assert.equal(err, null)
      }
    }))
    const before = await serverState(server)
    const reader = await rawPeer(server.port)
    const nonReader = await rawPeer(server.port)
    stopReading(nonReader.socket)
    const engine = (nonReader.socket.io as any).engine
    const pongs = setInterval(() => { engine._sendPacket('pong') }, 1000)
    let peak = before.rss
    let cutAfterMs: number | undefined
    const started = Date.now()
    try {
      // under engine.io's own heartbeat (the pongs keep it happy anyway)
      while (Date.now() - started < 40_000) {
        const now = await serverState(server)
        peak = Math.max(peak, now.rss)
        if (now.sessions <= before.sessions + 1) {
          cutAfterMs = Date.now() - started
          break
        }
        await sleep(200)
      }
    } finally {
      clearInterval(pongs)
    }
    console.log(`# non-reader under discovery: server RSS ${(before.rss / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB; cut after ${cutAfterMs ?? 'never'} ms`)
    assert.notEqual(cutAfterMs, undefined, 'the registered non-reader was disconnected')
    assert.ok(peak - before.rss < RSS_GROWTH_BOUND, `server RSS grew by ${((peak - before.rss) / MiB).toFixed(1)} MiB`)
    const hits = await server.metricsOf('wsstar_limit_hits_total')
    assert.ok((hits['limit="max-socket-control-bytes"'] ?? 0) >= 1, `counted as a slow consumer: ${JSON.stringify(hits)}`)
    // the reading peer is untouched
    assert.ok(reader.socket.connected)
    const other = await rawPeer(server.port)
    assert.match(await dial(other, reader.address), /^[\w-]{22}$/)
  })

  it('an attacker with many dials sending full windows cannot get a slowly reading victim cut; its honest dial keeps working', async () => {
    const server = await spawnServer(['--expose-internals'])
    servers.push(server)
    const victim = await rawPeer(server.port)
    const honest = await rawPeer(server.port)
    const attacker = await rawPeer(server.port)
    const honestDial = await dial(honest, victim.address)
    const victimResets: string[] = []
    victim.socket.on('e', (id: string, kind: string) => { if (kind === 'reset') victimResets.push(id) })
    // the attacker opens 48 dials (within its dial rate and per-socket dial limit)
    const admitted: string[] = []
    const refused: Record<string, number> = {}
    for (let i = 0; i < 48; i++) {
      const [err, result] = await request(attacker.socket, 'ss-dial', attacker.address, victim.address)
      if (err == null) admitted.push(result.dialId)
      else refused[err.code] = (refused[err.code] ?? 0) + 1
    }
    // the victim reads late: its TCP is not read while the attacker fills every window
    stopReading(victim.socket)
    const frame = Buffer.alloc(64 * 1024, 7)
    for (const dialId of admitted) {
      for (let i = 0; i < 16; i++) attacker.socket.emit('d', dialId, frame)
      await sleep(5)
    }
    // long enough for the server to have it all (on unbounded code: cut within a second or two)
    await sleep(4000)
    resumeReading(victim.socket)
    console.log(`# ${admitted.length} attacker dials admitted, refused ${JSON.stringify(refused)}`)
    await sleep(500)
    assert.ok(victim.socket.connected, 'the victim is still connected')
    assert.ok(!victimResets.includes(honestDial), 'the honest dial was not reset')
    // the honest dial still carries data both ways
    const there = await pump(honest.socket, victim.socket, honestDial, 4 * MiB, MiB)
    const back = await pump(victim.socket, honest.socket, honestDial, 4 * MiB, MiB)
    assert.ok(there.intact && back.intact)
    // the dials the victim accepted fill what it may be owed: once the attacker lets go, it is dialable again
    for (const dialId of admitted) attacker.socket.emit('e', dialId, 'reset')
    const later = await rawPeer(server.port)
    assert.match(await dial(later, victim.address), /^[\w-]{22}$/)
    const hits = await server.metricsOf('wsstar_limit_hits_total')
    assert.equal(hits['limit="max-socket-control-bytes"'] ?? 0, 0, 'nobody was cut as a slow consumer')
    assert.ok((refused.ERR_LIMIT_EXCEEDED ?? 0) > 0, 'dials beyond the victim\'s buffer bound were refused')
  })
})
