/**
 * Hostile: faults, with real processes on loopback.
 * - a peer process SIGKILLed mid-transfer: the other end sees ERR_PEER_GONE
 *   quickly, and the server frees the dial;
 * - the server SIGKILLed and restarted on its port: libp2p nodes (wsstar
 *   transport) re-register by themselves, within a measured, bounded time,
 *   and can ping each other again;
 * - SIGTERM: the server tells everyone, keeps relaying open dials during the
 *   grace, exits 0 as soon as they are done, and at the latest shortly after
 *   the grace when they are not.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { closeClients, dial, nextEvent, rawPeer } from '@wsstar/raw-client'
import { createNode, wsstarOf } from '../helpers/nodes.js'
import { listenAddr } from '../helpers/rendezvous.js'
import { spawnServer } from './helpers/server-process.js'
import { waitFor } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { TestNode } from '../helpers/nodes.js'
import type { Socket } from 'socket.io-client'

const PEER_PROCESS = fileURLToPath(new URL('./helpers/peer-process.js', import.meta.url))

/** Sends over a dial within the credit until stopped; counts what the other side received. */
function stream (sender: Socket, receiver: Socket | undefined, dialId: string, window = 1024 * 1024): { stop: () => void, sent: () => number, received: () => number, reset: () => any } {
  const frame = Buffer.alloc(16 * 1024, 7)
  let credit = window
  let sent = 0
  let received = 0
  let due = 0
  let stopped = false
  let reset: any
  const pumpOut = (): void => {
    while (!stopped && reset === undefined && credit >= frame.length) {
      sender.emit('d', dialId, frame)
      credit -= frame.length
      sent += frame.length
    }
  }
  sender.on('c', (id: string, n: number) => { if (id === dialId) { credit += n; setImmediate(pumpOut) } })
  sender.on('e', (id: string, kind: string, error: any) => { if (id === dialId && kind === 'reset' && reset === undefined) reset = error ?? null })
  receiver?.on('d', (id: string, bytes: Uint8Array) => {
    if (id !== dialId) return
    received += bytes.byteLength
    due += bytes.byteLength
    if (due >= window / 4) {
      receiver.emit('c', dialId, due)
      due = 0
    }
  })
  pumpOut()
  return { stop: () => { stopped = true }, sent: () => sent, received: () => received, reset: () => reset }
}

describe('hostile: faults', { timeout: 90_000 }, () => {
  const servers: ServerProcess[] = []
  const nodes: TestNode[] = []
  after(async () => {
    closeClients()
    await Promise.all(nodes.map(async n => { await Promise.resolve(n.stop()).catch(() => {}) }))
    for (const s of servers) if (s.alive()) s.child.kill('SIGKILL')
  })

  it('a peer killed mid-transfer: the other end gets ERR_PEER_GONE quickly and the server frees the dial', async () => {
    const server = await spawnServer(['--expose-internals'])
    servers.push(server)
    const victim = spawn(process.execPath, [PEER_PROCESS, String(server.port)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    victim.stdout.on('data', (d: Buffer) => { out += d.toString() })
    await waitFor(() => out.includes('address '), 10_000, 'the peer process to join')
    const victimAddress = /address (\S+)/.exec(out)?.[1] ?? ''
    const caller = await rawPeer(server.port)
    const dialId = await dial(caller, victimAddress)
    const s = stream(caller.socket, undefined, dialId)
    await waitFor(() => out.includes(`data ${dialId}`) && s.sent() > 4 * 1024 * 1024, 10_000, 'the transfer to run')
    assert.equal((await server.internals()).server.dials, 1)

    const killedAt = Date.now()
    victim.kill('SIGKILL')
    await waitFor(() => s.reset() !== undefined, 5000, 'the caller to see the reset')
    const resetMs = Date.now() - killedAt
    s.stop()
    assert.equal(s.reset()?.code, 'ERR_PEER_GONE')
    await waitFor(async () => (await server.internals()).server.dials === 0, 2000, 'the server to free the dial')
    const internals = (await server.internals()).server
    assert.deepEqual({ dials: internals.dials, inFlight: internals.dialInFlightBytes, sessions: internals.sessions, peers: internals.localPeers }, { dials: 0, inFlight: 0, sessions: 1, peers: 1 })
    console.log(`# peer SIGKILLed after ${(s.sent() / 1024 / 1024).toFixed(1)} MiB: the caller saw ERR_PEER_GONE after ${resetMs} ms`)
    assert.ok(resetMs < 2000, `reset after ${resetMs} ms`)
    caller.close()
    assert.equal((await server.stop()).code, 0)
  })

  it('the server SIGKILLed and restarted: libp2p nodes re-register by themselves within a bounded time and ping again', async () => {
    const first = await spawnServer([])
    servers.push(first)
    const port = first.port
    const a = await createNode({ listen: [listenAddr(port)] })
    const b = await createNode({ listen: [listenAddr(port)] })
    nodes.push(a, b)
    const registered = (n: TestNode): boolean => wsstarOf(n).getServers().some(s => s.status === 'registered')
    await waitFor(() => registered(a) && registered(b), 10_000, 'both nodes registered')
    await waitFor(() => b.getMultiaddrs().length > 0, 5000, 'b to have its address')
    const bAddr = b.getMultiaddrs()[0]
    await a.services.ping.ping(bAddr, { signal: AbortSignal.timeout(5000) })

    const killedAt = Date.now()
    first.child.kill('SIGKILL')
    const exit = await first.exited
    assert.equal(exit.signal, 'SIGKILL')
    await waitFor(() => !registered(a) && !registered(b), 5000, 'both nodes to notice')
    const noticedMs = Date.now() - killedAt
    // down for a while, as after a crash; then the operator's supervisor restarts it
    await new Promise(resolve => setTimeout(resolve, 1000))
    const second = await spawnServer([], { port })
    servers.push(second)
    const upAt = Date.now()
    await waitFor(() => registered(a) && registered(b), 15_000, 'both nodes to re-register')
    const reRegisteredMs = Date.now() - upAt
    await waitFor(async () => (await second.health()).body.peers === 2, 5000, 'the new server to count both')
    let pingMs = -1
    await waitFor(async () => {
      try {
        pingMs = await a.services.ping.ping(bAddr, { signal: AbortSignal.timeout(2000) })
        return true
      } catch {
        return false
      }
    }, 10_000, 'a ping through the new server')
    console.log(`# server SIGKILL: nodes noticed after ${noticedMs} ms; re-registered ${reRegisteredMs} ms after the restarted server answered /health (reconnect backoff 100 ms .. 2 s); ping ${pingMs} ms`)
    assert.ok(reRegisteredMs < 6000, `re-registration took ${reRegisteredMs} ms`)
    await Promise.all([a.stop(), b.stop()])
    assert.equal((await second.stop()).code, 0)
  })

  it('SIGTERM: open dials keep flowing during the grace; exit 0 as soon as they close', async () => {
    const server = await spawnServer(['--shutdown-grace', '5s'])
    servers.push(server)
    const a = await rawPeer(server.port)
    const b = await rawPeer(server.port)
    const dialId = await dial(a, b.address)
    const notice = nextEvent(a.socket, 'ss-shutdown', undefined, 20_000)
    const s = stream(a.socket, b.socket, dialId)
    await waitFor(() => s.received() > 2 * 1024 * 1024, 5000, 'the transfer to run')
    const signalledAt = Date.now()
    const atSignal = s.received()
    server.child.kill('SIGTERM')
    const [shutdown] = await notice
    assert.equal(shutdown.code, 'ERR_SHUTTING_DOWN')
    assert.equal(shutdown.graceMs, 5000)
    // the dial drains: data keeps arriving after the signal
    await waitFor(() => s.received() > atSignal + 8 * 1024 * 1024, 5000, 'data to flow during the grace')
    s.stop()
    a.socket.emit('e', dialId, 'close-write')
    b.socket.emit('e', dialId, 'close-write')
    const exit = await server.exited
    const exitMs = Date.now() - signalledAt
    console.log(`# SIGTERM with an open dial: ${((s.received() - atSignal) / 1024 / 1024).toFixed(1)} MiB relayed after the signal; exit ${exit.code} after ${exitMs} ms (grace 5000 ms)`)
    assert.equal(exit.code, 0)
    assert.ok(exitMs < 4000, `exit ${exitMs} ms after SIGTERM, the dial closed well within the 5 s grace`)
  })

  it('SIGTERM: a dial that never finishes is cut at the grace; exit 0 within a bounded time', async () => {
    const server = await spawnServer(['--shutdown-grace', '1s'])
    servers.push(server)
    const a = await rawPeer(server.port)
    const b = await rawPeer(server.port)
    const dialId = await dial(a, b.address)
    const s = stream(a.socket, b.socket, dialId)
    await waitFor(() => s.received() > 1024 * 1024, 5000, 'the transfer to run')
    const signalledAt = Date.now()
    server.child.kill('SIGTERM')
    const exit = await server.exited
    const exitMs = Date.now() - signalledAt
    s.stop()
    console.log(`# SIGTERM with a dial that never ends: exit ${exit.code} after ${exitMs} ms (grace 1000 ms)`)
    assert.equal(exit.code, 0)
    assert.ok(exitMs >= 900 && exitMs < 3500, `exit after ${exitMs} ms`)
  })
})
