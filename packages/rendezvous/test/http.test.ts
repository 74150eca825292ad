import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { closeClients, connect, errorCode, openDial } from '@wsstar/raw-client'
import { adminUrl, getJson, getText, joinedClient, metricValue, startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'

const OPERATOR_PATHS = ['/metrics', '/status.json', '/', '/index.html', '/debug/internals']

describe('http endpoints', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer({ adminPort: 0, exposeInternals: true }) })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('GET /health answers JSON with status, peers, sockets, dials, uptime', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    await openDial(a, b)
    const { status, body } = await getJson(server, '/health')
    assert.equal(status, 200)
    assert.equal(body.status, 'ok')
    assert.equal(body.peers, 2)
    assert.equal(body.sockets, 2)
    assert.equal(body.dials, 1)
    assert.equal(typeof body.uptime, 'number')
  })

  it('GET /metrics answers the Prometheus text format with the wsstar metrics', async () => {
    const a = await joinedClient(server)
    const { status, body, type } = await getText(server, '/metrics', 'admin')
    assert.equal(status, 200)
    assert.match(type ?? '', /^text\/plain/)
    for (const name of ['wsstar_peers', 'wsstar_sockets', 'wsstar_dials_active', 'wsstar_joins_total', 'wsstar_dials_total', 'wsstar_relayed_bytes_total',
      'wsstar_frames_total', 'wsstar_rejected_total', 'wsstar_limit_hits_total', 'wsstar_dial_inflight_bytes', 'wsstar_limit', 'nodejs_eventloop_lag_seconds',
      'wsstar_verify_batches_total', 'wsstar_verify_thread_restarts_total', 'wsstar_memory_reclaims_total', 'wsstar_memory_reclaimed_bytes_total',
      'wsstar_memory_reclaim_pause_seconds_total']) {
      assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
    assert.match(body, /^wsstar_joins_total\{result="ok"\} [1-9]/m)
    assert.match(body, /^wsstar_joins_total\{result="challenged"\} [1-9]/m)
    assert.match(body, /^wsstar_limit\{limit="window"\} 1048576$/m)
    assert.match(body, /^wsstar_verify_backend_info\{backend="(libsodium|node:crypto)"\} 1$/m)
    assert.match(body, /^wsstar_limit\{limit="verify-threads"\} \d+$/m)
    assert.match(body, /^wsstar_limit\{limit="reclaim-after"\} 10000$/m)
    // default collectors that walk every handle on each scrape (O(sockets), synchronous) are off;
    // process_open_fds is back, read off the event loop (metrics.test.ts)
    for (const name of ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources']) {
      assert.doesNotMatch(body, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
    assert.match(body, /^# TYPE process_resident_memory_bytes /m, 'cheap default metrics stay')
    a.socket.disconnect()
  })

  it('metrics count rejected inputs by code', async () => {
    const socket = await connect(server)
    const before = await metricValue(server, 'wsstar_rejected_total{code="ERR_INVALID_ADDRESS"}')
    const joinsBefore = await metricValue(server, 'wsstar_joins_total{result="ERR_INVALID_ADDRESS"}')
    const badRequests = await metricValue(server, 'wsstar_rejected_total{code="ERR_BAD_REQUEST"}')
    assert.equal(await errorCode(socket, 'ss-join', 12, {}), 'ERR_INVALID_ADDRESS')
    assert.equal(await errorCode(socket, 'ss-join', 'nope', {}), 'ERR_INVALID_ADDRESS')
    socket.emit('c', 'bad', 1)
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(await metricValue(server, 'wsstar_rejected_total{code="ERR_INVALID_ADDRESS"}'), before + 2)
    assert.equal(await metricValue(server, 'wsstar_joins_total{result="ERR_INVALID_ADDRESS"}'), joinsBefore + 2)
    assert.equal(await metricValue(server, 'wsstar_rejected_total{code="ERR_BAD_REQUEST"}'), badRequests + 1)
  })

  it('GET /status.json answers health plus build info and totals: relayed bytes, dial results, rejected inputs', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    a.socket.emit('d', dialId, new Uint8Array(1000))
    await new Promise(resolve => setTimeout(resolve, 50))
    const socket = await connect(server)
    assert.equal(await errorCode(socket, 'ss-join', 'nope', {}), 'ERR_INVALID_ADDRESS')
    const { status, body } = await getJson(server, '/status.json', 'admin')
    assert.equal(status, 200)
    assert.equal(body.status, 'ok')
    assert.equal(body.peers, server.stats().peers)
    assert.equal(body.dials, server.stats().dials)
    assert.equal(typeof body.uptime, 'number')
    assert.equal(body.build.protocol, 'wsstar/2')
    assert.match(body.build.version, /^\d+\.\d+\.\d+/)
    assert.equal(body.build.node, process.version)
    assert.equal(body.relayedBytes, server.stats().relayedBytes)
    assert.ok(body.relayedBytes >= 1000)
    assert.ok(body.dialResults.ok >= 1)
    assert.ok(body.joins.ok >= 2)
    assert.ok(body.rejected.ERR_INVALID_ADDRESS >= 1)
    // the sockets that relayed the most, among them the two ends of the 1000 bytes
    const relayed = (peer: typeof a): unknown => (body.topRelaying as Array<{ peerIds: string[] }>).find(p => p.peerIds.includes(peer.peer.peerId.toString()))
    assert.deepEqual(relayed(a), { peerIds: [a.peer.peerId.toString()], sentBytes: 1000, receivedBytes: 0, relayRate: 0 })
    assert.deepEqual(relayed(b), { peerIds: [b.peer.peerId.toString()], sentBytes: 0, receivedBytes: 1000, relayRate: 0 })
  })

  it('GET / is a self-contained status page; other paths 404, other methods 405', async () => {
    const page = await getText(server, '/', 'admin')
    assert.equal(page.status, 200)
    assert.match(page.type ?? '', /^text\/html/)
    assert.match(page.body, /wsstar rendezvous/)
    assert.match(page.body, /top relaying peers/)
    assert.doesNotMatch(page.body, /<script[^>]+src=|<link[^>]+href="http/, 'no external resources')
    assert.equal((await getText(server, '/nope', 'admin')).status, 404)
    const res = await fetch(`http://127.0.0.1:${server.port}/health`, { method: 'POST', signal: AbortSignal.timeout(10_000) })
    assert.equal(res.status, 405)
  })

  it('the client port answers /health only: metrics, status and debug endpoints are 404 there', async () => {
    assert.equal((await getJson(server, '/health')).status, 200)
    for (const path of OPERATOR_PATHS) {
      const res = await getText(server, path)
      assert.equal(res.status, 404, `${path} on the client port`)
      assert.doesNotMatch(res.body, /wsstar_|"peers"|<html/, `${path} leaks nothing on the client port`)
    }
  })

  it('the admin listener serves /health, /metrics, /status.json, the status page and /debug/internals', async () => {
    assert.notEqual(server.adminPort, undefined)
    assert.notEqual(server.adminPort, server.port)
    for (const path of ['/health', ...OPERATOR_PATHS]) {
      const res = await fetch(`${adminUrl(server)}${path}`, { signal: AbortSignal.timeout(10_000) })
      assert.equal(res.status, 200, `${path} on the admin port`)
      await res.body?.cancel()
    }
    // socket.io lives on the client port only
    const res = await fetch(`${adminUrl(server)}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(res.status, 404)
  })

  it('without adminPort there is no admin listener; publicAdmin puts the operator endpoints back on the client port', async () => {
    const plain = await startServer()
    const open = await startServer({ publicAdmin: true })
    try {
      assert.equal(plain.adminPort, undefined)
      assert.equal((await getText(plain, '/metrics')).status, 404)
      assert.equal(open.adminPort, undefined)
      for (const path of ['/metrics', '/status.json', '/']) {
        assert.equal((await getText(open, path)).status, 200, `${path} with publicAdmin`)
      }
      // /debug/internals still needs exposeInternals
      assert.equal((await getText(open, '/debug/internals')).status, 404)
    } finally {
      await plain.stop()
      await open.stop()
    }
  })

  it('two servers in one process keep separate metrics', async () => {
    const other = await startServer()
    try {
      await joinedClient(other)
      assert.equal(await metricValue(other, 'wsstar_peers'), 1)
      assert.equal(await metricValue(server, 'wsstar_peers'), server.stats().peers)
      assert.notEqual(other.metrics, server.metrics)
    } finally {
      closeClients()
      await other.stop()
    }
  })

  it('addresses name the bound port', () => {
    assert.deepEqual(server.addresses.map(a => a.toString()), [`/ip4/127.0.0.1/tcp/${server.port}/ws`])
  })
})
