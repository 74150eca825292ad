/**
 * Hostile: CPU without an account. Join signatures of every key type are
 * verified on the verification threads, not on the server's event loop, and
 * a server-wide budget of pending verifications (`--max-pending-verifications`)
 * answers ERR_RATE_LIMITED beyond it. An honest peer that joined before the
 * flood is still registered and dialable after it.
 */
import assert from 'node:assert/strict'
import { after, afterEach, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signJoin } from '@wsstar/protocol'
import { closeClients, connect, dial, peerAddress, rawPeer, request } from '@wsstar/raw-client'
import { parseSamples, spawnServer } from './helpers/server-process.js'
import type { ServerProcess } from './helpers/server-process.js'
import type { Socket } from 'socket.io-client'

interface SignedJoin { socket: Socket, address: string, data: { sid: string, signature: string } }

/** `sockets` sockets with `perSocket` one-request secp256k1 joins each, signed in advance. */
async function signedJoins (port: number, sockets: number, perSocket: number): Promise<SignedJoin[]> {
  const out: SignedJoin[] = []
  for (let i = 0; i < sockets; i++) {
    const socket = await connect(port)
    for (let j = 0; j < perSocket; j++) {
      const key = await generateKeyPair('secp256k1')
      const address = peerAddress(port, peerIdFromPrivateKey(key))
      out.push({ socket, address, data: { sid: socket.id ?? '', signature: await signJoin(key, address, socket.id ?? '') } })
    }
  }
  return out
}

/** Fires every join at once; resolves the error codes ('ok' for a join that registered). */
async function fire (joins: SignedJoin[]): Promise<Record<string, number>> {
  const answers = await Promise.all(joins.map(async j => await request(j.socket, 'ss-join', j.address, j.data)))
  const codes: Record<string, number> = {}
  for (const [err] of answers) codes[err?.code ?? 'ok'] = (codes[err?.code ?? 'ok'] ?? 0) + 1
  return codes
}

describe('hostile: verification off the event loop, pending-verification budget', { timeout: 120_000 }, () => {
  let server: ServerProcess | undefined
  // signing the joins in advance takes a while on a loaded box: the sockets must not be cut for not having joined yet
  const FLOOD = ['--join-rate', '1000', '--join-burst', '1000', '--churn-rate', '1000', '--churn-burst', '1000', '--max-addresses-per-socket', '8', '--handshake-timeout', '120s']

  afterEach(async () => {
    closeClients()
    const exit = await server?.stop()
    assert.equal(exit?.code, 0, 'the server exits 0 on SIGTERM')
    server = undefined
  })
  after(() => { closeClients() })

  it('secp256k1 joins are verified on a verification thread, counted by key type and thread; an honest peer stays dialable', async () => {
    server = await spawnServer(['--verify-threads', '1', ...FLOOD])
    const honest = await rawPeer(server.port)
    const joins = await signedJoins(server.port, 25, 8)
    await server.metricsText() // resets the event-loop lag histogram
    const codes = await fire(joins)
    // one scrape: each scrape resets the lag histogram
    const text = await server.metricsText()
    const lag = parseSamples(text, 'nodejs_eventloop_lag_max_seconds')['']
    const verified = parseSamples(text, 'wsstar_signatures_verified_total')
    console.log(`# 200 secp256k1 joins: event-loop lag max ${(lag * 1000).toFixed(1)} ms; signatures verified ${JSON.stringify(verified)}`)
    assert.deepEqual(codes, { ok: 200 })
    assert.equal(verified['key="secp256k1",thread="worker"'], 200, 'every secp256k1 signature went to the worker')
    assert.equal(verified['key="secp256k1",thread="server"'] ?? 0, 0, 'none on the server thread')
    // The lag is printed, not asserted: parsing a secp256k1 peer id validates its point on the
    // server thread (~0.4 ms each, in @libp2p/peer-id), so a burst still blocks the loop for
    // a while, and on a shared 2-core box the figure moves with the neighbours. Measured here:
    // for 400 joins, ~600 ms with the verifications on the loop, ~300 ms with them on the thread.
    const other = await rawPeer(server.port)
    assert.ok(typeof await dial(other, honest.address) === 'string', 'the honest peer is still dialable')
  })

  it('beyond --max-pending-verifications, joins get ERR_RATE_LIMITED (counted); an honest peer still joins afterwards', async () => {
    server = await spawnServer(['--verify-threads', '1', '--max-pending-verifications', '16', ...FLOOD])
    const honest = await rawPeer(server.port)
    const joins = await signedJoins(server.port, 25, 8)
    const codes = await fire(joins)
    console.log(`# 200 joins against a budget of 16: ${JSON.stringify(codes)}`)
    assert.ok((codes.ERR_RATE_LIMITED ?? 0) > 0, 'some joins are over the budget')
    assert.equal((codes.ok ?? 0) + (codes.ERR_RATE_LIMITED ?? 0), 200, 'every join is either verified or rate limited')
    assert.ok(await server.metric('wsstar_limit_hits_total{limit="max-pending-verifications"}') > 0)
    assert.equal(await server.metric('wsstar_limit{limit="max-pending-verifications"}'), 16)
    const late = await rawPeer(server.port)
    assert.ok(typeof await dial(late, honest.address) === 'string', 'the honest peer is still dialable')
  })
})
