import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { BUILD_INFO } from '../src/runtime/build-info.js'
import { CLUSTER_LIMITS, DEFAULT_CLUSTER_LIMITS, LIMITS } from '../src/limits.js'
import { createRendezvousServer } from '../src/index.js'
import { closeClients, openDial } from '@wsstar/raw-client'
import { getText, joinedClient, metricValue, silentLogger, sleep, startServer } from './helpers.js'
import type { RendezvousServer } from '../src/index.js'

/** `# TYPE name type` lines of a Prometheus text exposition */
function types (text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(m => [m[1], m[2]]))
}

describe('metrics follow Prometheus conventions', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer({ adminPort: 0 }) })
  afterEach(() => { closeClients() })
  after(async () => { await server.stop() })

  it('every counter ends in _total, and every *_total is a counter', async () => {
    const { body } = await getText(server, '/metrics', 'admin')
    const all = types(body)
    assert.ok(all.size > 20)
    const badCounters = [...all].filter(([name, type]) => type === 'counter' && !name.endsWith('_total')).map(([n]) => n)
    const notCounters = [...all].filter(([name, type]) => name.endsWith('_total') && type !== 'counter').map(([n]) => n)
    assert.deepEqual(badCounters, [], 'counters without _total')
    assert.deepEqual(notCounters, [], '_total metrics that are not counters')
    for (const name of ['wsstar_verify_batches_total', 'wsstar_verify_thread_restarts_total']) {
      assert.equal(all.get(name), 'counter', name)
    }
  })

  it('wsstar_build_info names the version, the protocol and Node.js', async () => {
    const { body } = await getText(server, '/metrics', 'admin')
    assert.equal(types(body).get('wsstar_build_info'), 'gauge')
    const line = body.split('\n').find(l => l.startsWith('wsstar_build_info{'))
    assert.ok(line != null)
    assert.ok(line.includes(`version="${BUILD_INFO.version}"`), line)
    assert.ok(line.includes('protocol="wsstar/2"'), line)
    assert.ok(line.includes(`node="${process.version}"`), line)
    assert.match(line, / 1$/)
  })

  it('process_open_fds counts the open file descriptors', { skip: process.platform !== 'linux' ? 'needs /proc/self/fd' : false }, async () => {
    const fds = await metricValue(server, 'process_open_fds')
    const actual = readdirSync('/proc/self/fd').length
    assert.ok(fds > 3 && Math.abs(fds - actual) <= 8, `process_open_fds ${fds}, /proc/self/fd has ${actual}`)
  })

  it('histograms: join duration, dial setup time and relayed frame sizes', async () => {
    const joinsBefore = await metricValue(server, 'wsstar_join_duration_seconds_count')
    const dialsBefore = await metricValue(server, 'wsstar_dial_setup_seconds_count')
    const framesBefore = await metricValue(server, 'wsstar_relayed_frame_bytes_count')
    const smallBefore = await metricValue(server, 'wsstar_relayed_frame_bytes_bucket{le="128"}')
    const sumBefore = await metricValue(server, 'wsstar_relayed_frame_bytes_sum')
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    const dialId = await openDial(a, b)
    for (const size of [100, 5000, 65536]) a.socket.emit('d', dialId, new Uint8Array(size))
    await sleep(100)
    const { body } = await getText(server, '/metrics', 'admin')
    const all = types(body)
    for (const name of ['wsstar_join_duration_seconds', 'wsstar_dial_setup_seconds', 'wsstar_relayed_frame_bytes']) {
      assert.equal(all.get(name), 'histogram', name)
      assert.match(body, new RegExp(`^${name}_bucket\\{le="\\+Inf"\\} \\d+$`, 'm'), name)
    }
    assert.equal(await metricValue(server, 'wsstar_join_duration_seconds_count'), joinsBefore + 2)
    assert.equal(await metricValue(server, 'wsstar_dial_setup_seconds_count'), dialsBefore + 1)
    assert.equal(await metricValue(server, 'wsstar_relayed_frame_bytes_count'), framesBefore + 3)
    assert.equal(await metricValue(server, 'wsstar_relayed_frame_bytes_sum'), sumBefore + 100 + 5000 + 65536)
    assert.equal(await metricValue(server, 'wsstar_relayed_frame_bytes_bucket{le="128"}'), smallBefore + 1)
    assert.equal(await metricValue(server, 'wsstar_relayed_frame_bytes_bucket{le="8192"}') - await metricValue(server, 'wsstar_relayed_frame_bytes_bucket{le="4096"}'), 1, '5000 bytes: one frame in (4096, 8192]')
    assert.equal(await metricValue(server, 'wsstar_relayed_frame_bytes_bucket{le="65536"}'), await metricValue(server, 'wsstar_relayed_frame_bytes_count'))
    // cumulative buckets, as Prometheus expects
    const buckets = [...body.matchAll(/^wsstar_relayed_frame_bytes_bucket\{le="([^"]+)"\} (\d+)$/gm)].map(m => Number(m[2]))
    assert.deepEqual(buckets, [...buckets].sort((x, y) => x - y))
  })
})

describe('wsstar_limit: one gauge per limit of limits.ts', () => {
  /** `wsstar_limit{limit="…"}` samples: name -> value */
  const limitGauges = async (server: RendezvousServer): Promise<Map<string, number>> =>
    new Map([...(await server.metrics.getSingleMetricAsString('wsstar_limit')).matchAll(/^wsstar_limit\{limit="([^"]+)"\} (\S+)$/gm)].map(m => [m[1], Number(m[2])]))

  it('standalone: every server limit, with its value', async () => {
    const server = createRendezvousServer({ port: 0, logger: silentLogger, limits: { maxPeers: 7 } })
    const gauges = await limitGauges(server)
    assert.deepEqual([...gauges.keys()], LIMITS.map(l => l.name))
    for (const limit of LIMITS) {
      assert.equal(gauges.get(limit.name), limit.key === 'maxPeers' ? 7 : limit.default, limit.name)
    }
  })

  it('cluster mode: the cluster limits too (server not started: nothing connects to Redis)', async () => {
    const server = createRendezvousServer({ port: 0, logger: silentLogger, cluster: { redisUrl: 'redis://127.0.0.1:1', peerTtlMs: 12_000 } })
    const gauges = await limitGauges(server)
    assert.deepEqual([...gauges.keys()], [...LIMITS, ...CLUSTER_LIMITS].map(l => l.name))
    assert.equal(gauges.get('peer-ttl'), 12_000)
    assert.equal(gauges.get('node-ttl'), DEFAULT_CLUSTER_LIMITS.nodeTtlMs)
  })

  it('cluster limits out of range are refused with a TypeError naming the option', () => {
    assert.throws(() => createRendezvousServer({ logger: silentLogger, cluster: { redisUrl: 'redis://127.0.0.1:1', nodeTtlMs: 5 } }),
      { name: 'TypeError', message: 'cluster.nodeTtlMs must be in 100..2147483647, got 5' })
    assert.throws(() => createRendezvousServer({ logger: silentLogger, cluster: { redisUrl: 'redis://127.0.0.1:1', peerTtlMs: 1.5 } }),
      { name: 'TypeError', message: 'cluster.peerTtlMs must be an integer in 100..2147483647' })
  })
})
