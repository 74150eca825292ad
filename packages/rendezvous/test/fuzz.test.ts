/**
 * Random garbage on every event, from registered and unregistered sockets,
 * including real dial ids: the server never throws, keeps answering, and
 * cleans up completely afterwards.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { closeClients, connect, openDial, request } from '@wsstar/raw-client'
import { getJson, joinedClient, startServer, waitUntil } from './helpers.js'

const EVENTS = ['ss-join', 'ss-leave', 'ss-dial', 'd', 'c', 'e', 'ss-incomming', 'ws-peers', 'ss-evicted', 'nope']

describe('fuzz', () => {
  it('survives random arguments on every event', { timeout: 30_000 }, async () => {
    const server = await startServer({ limits: { joinRate: 1000, joinBurst: 1000, dialRate: 1000, dialBurst: 1000, dialTimeoutMs: 200 } })
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown): void => { uncaught.push(err) }
    process.on('uncaughtException', onUncaught)
    process.on('unhandledRejection', onUncaught)
    try {
      const a = await joinedClient(server)
      const b = await joinedClient(server)
      const dialId = await openDial(a, b)
      const stranger = await connect(server)
      const sockets = [a.socket, b.socket, stranger]

      const value = fc.oneof(
        fc.anything({ maxDepth: 2, maxKeys: 4, withBigInt: false, withMap: false, withSet: false, withTypedArray: false }),
        fc.uint8Array({ maxLength: 2048 }).map(u => Buffer.from(u)),
        fc.constantFrom(dialId, a.address, b.address, 'close-write', 'reset', { signature: 'AAAA' }, { publicKey: 'AAAA' }, { code: 'ERR_PEER_GONE', message: 'x' }),
        fc.integer({ min: -5, max: 2_000_000 })
      )
      const calls = fc.sample(fc.record({
        socket: fc.nat({ max: sockets.length - 1 }),
        event: fc.constantFrom(...EVENTS),
        args: fc.array(value, { maxLength: 4 }),
        withAck: fc.boolean()
      }), { numRuns: 600, seed: 42 })

      for (const call of calls) {
        const socket = sockets[call.socket]
        if (call.withAck) {
          socket.emit(call.event, ...call.args, () => {})
        } else {
          socket.emit(call.event, ...call.args)
        }
      }
      // every socket still gets answers
      for (const socket of sockets.filter(s => s.connected)) {
        const [err] = await request(socket, 'ss-leave', 42)
        assert.equal(err?.code, 'ERR_INVALID_ADDRESS')
      }
      const health = await getJson(server, '/health')
      assert.equal(health.status, 200)
      assert.deepEqual(uncaught, [])

      closeClients()
      await waitUntil(() => server.stats().sockets === 0, 5000, 'sockets gone')
      const stats = server.stats()
      assert.deepEqual({ peers: stats.peers, dials: stats.dials, challenges: stats.pendingChallenges, inFlight: stats.dialInFlightBytes }, { peers: 0, dials: 0, challenges: 0, inFlight: 0 })
    } finally {
      process.off('uncaughtException', onUncaught)
      process.off('unhandledRejection', onUncaught)
      closeClients()
      await server.stop()
    }
  })
})
