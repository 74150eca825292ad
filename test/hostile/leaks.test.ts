/**
 * Hostile: leaks. 10,000 dial open/close cycles and 5,000 join/leave cycles
 * (plus socket connect/join/disconnect churn), pipelined over raw socket.io
 * clients, against a server process run with `--expose-gc
 * --expose-internals`: GET /debug/internals?gc=1 collects garbage and
 * reports the server's internal counts (sessions, dials, registrations,
 * nonces, timers, rooms, listeners), the process's active handles by type
 * and its memory. Afterwards every count is back at its baseline (read after
 * a warm-up, with the same clients gone) and the post-GC heap grew by less
 * than HEAP_BOUND.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { signJoin } from '@wsstar/protocol'
import { closeClients, connect, identity, peerAddress, rawPeer, request } from '@wsstar/raw-client'
import { spawnServer } from './helpers/server-process.js'
import { sleep, waitFor } from '../helpers/wait.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { Identity, RawPeer } from '@wsstar/raw-client'
import type { Socket } from 'socket.io-client'

const DIAL_CYCLES = 10_000
const JOIN_CYCLES = 5_000
const SOCKET_CYCLES = 500
/**
 * Post-GC heap growth allowed over all the cycles. A leak of one small
 * object per cycle (a closure, a map entry: >= ~100 bytes) over 15,500
 * cycles exceeds it; a leaked Session, Dial or nonce per cycle (KiBs) by far.
 */
const HEAP_BOUND = 2 * 1024 * 1024

/** ss-dial from `caller` to `callee`, close both ways; `pipeline` in flight. */
async function dialCycles (pairs: Array<[RawPeer, RawPeer]>, total: number, pipeline: number): Promise<void> {
  let started = 0
  let failures = 0
  const one = async (caller: RawPeer, callee: RawPeer, n: number): Promise<void> => {
    const [, result] = await request(caller.socket, 'ss-dial', caller.address, callee.address)
    if (result?.dialId == null) {
      failures++
      return
    }
    caller.socket.emit('d', result.dialId, Buffer.from([n & 0xff]))
    // alternate a clean close (both close-write; the callee does it on accept) and a reset
    caller.socket.emit('e', result.dialId, n % 2 === 0 ? 'close-write' : 'reset')
  }
  await Promise.all(pairs.map(async ([caller, callee]) => {
    const lanes = Array.from({ length: pipeline }, async () => {
      while (started < total) {
        await one(caller, callee, started++)
      }
    })
    await Promise.all(lanes)
  }))
  assert.equal(failures, 0, `${failures} dials failed`)
}

/** join (hello + proof) then leave, `keys.length` addresses in flight per socket. */
async function joinLeaveCycles (sockets: Array<{ socket: Socket, keys: Identity[] }>, port: number, total: number): Promise<void> {
  let started = 0
  await Promise.all(sockets.flatMap(({ socket, keys }) => keys.map(async (key) => {
    const address = peerAddress(port, key.peerId)
    while (started < total) {
      started++
      const [err1, hello] = await request(socket, 'ss-join', address, {})
      assert.equal(err1, null)
      const [err2] = await request(socket, 'ss-join', address, { signature: await signJoin(key.key, address, hello.nonce) })
      assert.equal(err2, null)
      const [err3] = await request(socket, 'ss-leave', address)
      assert.equal(err3, null)
    }
  })))
}

/** connect, join, disconnect. */
async function socketCycles (port: number, total: number, parallel: number): Promise<void> {
  let started = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (started++ < total) {
      const p = await rawPeer(port)
      p.close()
    }
  }))
}

describe('hostile: leaks', { timeout: 120_000 }, () => {
  let server: ServerProcess

  before(async () => {
    server = await spawnServer([
      '--expose-internals',
      '--dial-rate', '1000000', '--dial-burst', '1000000',
      '--join-rate', '1000000', '--join-burst', '1000000',
      '--churn-rate', '1000000', '--churn-burst', '1000000',
      '--request-rate', '1000000', '--request-burst', '1000000',
      '--max-dials-per-socket', '10000',
      // a socket between two of its join/leave cycles must not be cut
      '--handshake-timeout', '60s'
    ], { nodeArgs: ['--expose-gc'] })
  })

  after(async () => {
    closeClients()
    assert.equal((await server?.stop())?.code, 0)
  })

  /** everything the server holds for its clients, after they are gone */
  async function settled (): Promise<{ server: Record<string, number>, resources: Record<string, number>, heapUsed: number }> {
    await waitFor(async () => {
      const s = (await server.internals()).server
      return s.sessions === 0 && s.engineClients === 0 && s.dials === 0 && s.cleanups === 0 && s.discoveryPending === 0
    }, 15_000, 'the server to drop every client')
    await sleep(300) // socket close callbacks, the last discovery delta
    // GC a few times: the heap figure must not depend on when V8 last collected
    let best = Infinity
    let last
    for (let i = 0; i < 3; i++) {
      last = await server.internals(true)
      assert.equal(last.gc, true, 'the server runs with --expose-gc')
      best = Math.min(best, last.memory.heapUsed)
    }
    return { server: last!.server, resources: last!.resources, heapUsed: best }
  }

  async function round (scale: number): Promise<{ ms: number }> {
    const started = Date.now()
    const pairs: Array<[RawPeer, RawPeer]> = []
    for (let i = 0; i < 4; i++) {
      const caller = await rawPeer(server.port)
      const callee = await rawPeer(server.port, { answer: 'ignore' })
      // the callee accepts and closes its direction at once
      callee.socket.on('ss-incomming', (dialId: string, _from: string, ack: (err: null) => void) => {
        ack(null)
        callee.socket.emit('e', dialId, 'close-write')
      })
      pairs.push([caller, callee])
    }
    await dialCycles(pairs, Math.round(DIAL_CYCLES * scale), 16)
    const joiners = await Promise.all(Array.from({ length: 8 }, async () => ({ socket: await connect(server.port), keys: await Promise.all(Array.from({ length: 8 }, identity)) })))
    await joinLeaveCycles(joiners, server.port, Math.round(JOIN_CYCLES * scale))
    await socketCycles(server.port, Math.round(SOCKET_CYCLES * scale), 8)
    closeClients()
    return { ms: Date.now() - started }
  }

  it('10,000 dial cycles and 5,000 join/leave cycles leave no sockets, dials, timers, listeners or heap behind', async () => {
    await round(0.05) // warm-up: lazy allocations, JIT, caches, metric label sets
    const baseline = await settled()
    const { ms } = await round(1)
    // LEAK_ROUNDS=n repeats the round (n rounds in all) and prints the heap after each: a leak grows per round, noise does not
    for (let i = 1; i < Number(process.env.LEAK_ROUNDS ?? 1); i++) {
      console.log(`# heap after round ${i}: ${((await settled()).heapUsed / 1048576).toFixed(2)} MiB`)
      await round(1)
    }
    const metrics = await server.metricsOf('wsstar_dials_total')
    const end = await settled()

    const growth = end.heapUsed - baseline.heapUsed
    console.log(`# ${DIAL_CYCLES} dial + ${JOIN_CYCLES} join/leave + ${SOCKET_CYCLES} socket cycles in ${ms} ms; post-GC heap ${(baseline.heapUsed / 1048576).toFixed(2)} -> ${(end.heapUsed / 1048576).toFixed(2)} MiB (${(growth / 1024).toFixed(0)} KiB, bound ${HEAP_BOUND / 1024} KiB)`)
    console.log(`# baseline ${JSON.stringify(baseline.server)} ${JSON.stringify(baseline.resources)}`)
    console.log(`# after    ${JSON.stringify(end.server)} ${JSON.stringify(end.resources)}`)
    assert.ok((metrics['result="ok"'] ?? 0) >= DIAL_CYCLES, `dials ok: ${JSON.stringify(metrics)}`)

    // every internal count back where it was
    assert.deepEqual(end.server, baseline.server)
    // active handles: the listening socket, the process's own; never one per client
    for (const type of new Set([...Object.keys(baseline.resources), ...Object.keys(end.resources)])) {
      const before = baseline.resources[type] ?? 0
      const now = end.resources[type] ?? 0
      // a timer may be mid-flight (discovery flush, metrics); sockets must match exactly
      const slack = type === 'Timeout' ? 2 : 0
      assert.ok(now <= before + slack, `${type}: ${before} -> ${now}`)
    }
    assert.ok(growth < HEAP_BOUND, `post-GC heap grew by ${growth} bytes`)
    assert.ok(server.alive())
  })
})
