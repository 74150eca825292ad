/**
 * Metered relaying (docs/PROTOCOL.md, "Relay rate and per-dial caps"): a
 * socket's relay rate slows its sender down through its credit and no one
 * else's, the per-dial byte and time caps end a dial with ERR_RELAY_LIMIT,
 * and `/status.json` lists the sockets that relayed the most, a bounded few.
 */
import { describe, it, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { DialEnd, closeClients, openDial } from '@wsstar/raw-client'
import { getJson, joinedClient, metricValue, startServer, waitUntil } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'

const KiB = 1024
const MiB = 1024 * KiB

/** Bytes per second a receiver got over `ms` of steady state, sampled from its own count. */
async function rateOver (receiver: DialEnd, ms: number): Promise<number> {
  const b0 = receiver.receivedBytes
  const t0 = performance.now()
  await new Promise(resolve => setTimeout(resolve, ms))
  return (receiver.receivedBytes - b0) / ((performance.now() - t0) / 1000)
}

describe('relay rate and per-dial caps', () => {
  const servers: RendezvousServer[] = []
  afterEach(() => { closeClients() })
  after(async () => { await Promise.all(servers.map(async s => { await s.stop() })) })

  it('a rate-limited sender runs at its rate (±10 %) while an unlimited one on the same server does not slow down', { timeout: 90_000 }, async (t) => {
    const rate = 2 * MiB
    const server = await startServer()
    servers.push(server)
    const [a, b, c, d] = await Promise.all([joinedClient(server), joinedClient(server), joinedClient(server), joinedClient(server)])
    const window = a.result.window
    // a is limited; c, like every socket by default, is not
    assert.equal(server.setRelayRate(a.peer.peerId.toString(), rate), true)
    const limitedDial = await openDial(a, b)
    const freeDial = await openDial(c, d)
    const limited = new DialEnd(a.socket, limitedDial, window, { keepChunks: false })
    const limitedIn = new DialEnd(b.socket, limitedDial, window, { keepChunks: false })
    const free = new DialEnd(c.socket, freeDial, window, { keepChunks: false })
    const freeIn = new DialEnd(d.socket, freeDial, window, { keepChunks: false })

    // enough for ~12 s at the rate: the measurement runs well inside it
    const total = 28 * MiB
    const limitedSending = limited.send(new Uint8Array(total))
    // past the bucket's burst (1 MiB, relay-burst) and the first window: the steady state
    await limitedIn.until(() => limitedIn.receivedBytes >= 3 * MiB, 20_000)

    // meanwhile the unlimited socket sends 64 MiB
    const t0 = performance.now()
    const freeSending = free.send(new Uint8Array(64 * MiB))
    const freeDone = freeSending.then(async () => { await freeIn.until(() => freeIn.receivedBytes === 64 * MiB, 60_000) }).then(() => performance.now() - t0)
    // over several seconds: what the sender is ahead or behind at either end (at most the credit it held) is a few per cent of it
    const measured = await rateOver(limitedIn, 6000)
    const freeRate = 64 * MiB / (await freeDone / 1000)
    t.diagnostic(`limited ${(measured / MiB).toFixed(3)} MiB/s (limit ${rate / MiB}), unlimited ${(freeRate / MiB).toFixed(1)} MiB/s`)

    assert.ok(Math.abs(measured - rate) <= rate * 0.1, `limited sender: ${(measured / MiB).toFixed(2)} MiB/s, limit ${rate / MiB} MiB/s`)
    assert.ok(limitedIn.receivedBytes < total, 'the limited transfer is still running')
    assert.ok(freeRate > 2 * rate, `unlimited sender: ${(freeRate / MiB).toFixed(1)} MiB/s, more than twice the other's limit`)
    assert.ok(await metricValue(server, 'wsstar_limit_hits_total{limit="relay-rate"}') >= 1)
    assert.equal(limited.resetError, undefined, 'the limited dial is slowed down, never reset')

    // lifting the rate releases what was held: the rest arrives at full speed
    assert.equal(server.setRelayRate(a.peer.peerId.toString(), 0), true)
    await limitedSending
    await limitedIn.until(() => limitedIn.receivedBytes === total, 60_000)
    for (const end of [limited, limitedIn, free, freeIn]) end.detach()
  })

  it('relay-rate applies to every socket from its connect; /status.json shows it', { timeout: 30_000 }, async () => {
    const server = await startServer({ adminPort: 0, limits: { relayRate: MiB } })
    servers.push(server)
    const [a, b] = await Promise.all([joinedClient(server), joinedClient(server)])
    const dialId = await openDial(a, b)
    const sender = new DialEnd(a.socket, dialId, a.result.window, { keepChunks: false })
    await sender.send(new Uint8Array(64 * KiB))
    const { body } = await getJson(server, '/status.json', 'admin')
    const top = body.topRelaying as Array<{ peerIds: string[], relayRate: number }>
    assert.equal(top.find(p => p.peerIds.includes(a.peer.peerId.toString()))?.relayRate, MiB)
    sender.detach()
  })

  it('a dial over max-dial-bytes in one direction is reset with ERR_RELAY_LIMIT after exactly the cap', { timeout: 30_000 }, async () => {
    const server = await startServer({ limits: { maxDialBytes: MiB } })
    servers.push(server)
    const [a, b] = await Promise.all([joinedClient(server), joinedClient(server)])
    const dialId = await openDial(a, b)
    const sender = new DialEnd(a.socket, dialId, a.result.window, { keepChunks: false })
    const receiver = new DialEnd(b.socket, dialId, a.result.window, { keepChunks: false })
    await sender.send(new Uint8Array(3 * MiB)).catch(() => {})
    await sender.until(() => sender.resetError !== undefined, 10_000)
    await receiver.until(() => receiver.resetError !== undefined, 10_000)
    assert.equal(sender.resetError?.code, 'ERR_RELAY_LIMIT')
    assert.equal(receiver.resetError?.code, 'ERR_RELAY_LIMIT')
    assert.equal(receiver.receivedBytes, MiB, 'the cap, and not a byte more')
    assert.equal(await metricValue(server, 'wsstar_limit_hits_total{limit="max-dial-bytes"}'), 1)
    assert.equal(server.stats().dials, 0)
    assert.equal(server.stats().sockets, 2, 'both ends stay connected')
    sender.detach()
    receiver.detach()
  })

  it('a dial open longer than max-dial-duration is reset with ERR_RELAY_LIMIT', { timeout: 30_000 }, async () => {
    const server = await startServer({ limits: { maxDialDurationMs: 300 } })
    servers.push(server)
    const [a, b] = await Promise.all([joinedClient(server), joinedClient(server)])
    const opened = performance.now()
    const dialId = await openDial(a, b)
    const caller = new DialEnd(a.socket, dialId, a.result.window)
    const callee = new DialEnd(b.socket, dialId, a.result.window)
    await caller.send(new Uint8Array(1000))
    await callee.until(() => callee.receivedBytes === 1000)
    await caller.until(() => caller.resetError !== undefined, 10_000)
    await callee.until(() => callee.resetError !== undefined, 10_000)
    assert.ok(performance.now() - opened >= 300, 'not before the cap')
    assert.equal(caller.resetError?.code, 'ERR_RELAY_LIMIT')
    assert.equal(callee.resetError?.code, 'ERR_RELAY_LIMIT')
    assert.equal(await metricValue(server, 'wsstar_limit_hits_total{limit="max-dial-duration"}'), 1)
    await waitUntil(() => server.stats().dials === 0, 5000, 'the dial to be forgotten')
    caller.detach()
    callee.detach()
  })

  it('/status.json lists the sockets that relayed the most, most first, a bounded few', { timeout: 60_000 }, async () => {
    const server = await startServer({ adminPort: 0 })
    servers.push(server)
    const receiver = await joinedClient(server)
    const senders = await Promise.all(Array.from({ length: 11 }, async () => await joinedClient(server)))
    const ends: DialEnd[] = []
    let total = 0
    for (const [i, sender] of senders.entries()) {
      const dialId = await openDial(sender, receiver)
      const end = new DialEnd(sender.socket, dialId, sender.result.window, { keepChunks: false })
      const inbound = new DialEnd(receiver.socket, dialId, sender.result.window, { keepChunks: false })
      ends.push(end, inbound)
      // sender i sends (i + 1) KiB: every socket's count differs
      await end.send(new Uint8Array((i + 1) * KiB))
      total += (i + 1) * KiB
      await inbound.until(() => inbound.receivedBytes === (i + 1) * KiB)
    }
    const { status, body } = await getJson(server, '/status.json', 'admin')
    assert.equal(status, 200)
    const top = body.topRelaying as Array<{ peerIds: string[], sentBytes: number, receivedBytes: number }>
    assert.equal(top.length, 10, 'bounded: 12 sockets relayed, 10 are listed')
    assert.deepEqual(top[0], { peerIds: [receiver.peer.peerId.toString()], sentBytes: 0, receivedBytes: total, relayRate: 0 })
    // then the senders, the one that sent the most first; the two that sent the least are left out
    assert.deepEqual(top.slice(1).map(p => p.sentBytes), Array.from({ length: 9 }, (_, i) => (11 - i) * KiB))
    assert.deepEqual(top[1].peerIds, [senders[10].peer.peerId.toString()])
    for (const end of ends) end.detach()
  })
})
