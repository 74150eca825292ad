/**
 * A replica that has lost Redis says so: /health answers 503 `degraded`
 * (a balancer stops sending it new peers) and it logs the loss once, at
 * warn; when Redis is back it is healthy again by itself and the cluster
 * works again. The status page of any replica shows the whole cluster, and
 * the cluster link has its metrics.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { freePort } from '../helpers/free-port.js'
import { startRedis, startReplica, stopAll, uniquePrefix } from '../helpers/cluster.js'
import { redisServer, requires } from '../helpers/system-components.js'
import { Event } from '@wsstar/protocol'
import { dial, rawPeer } from '@wsstar/raw-client'
import { waitFor } from '../helpers/wait.js'
import type { RawPeer } from '@wsstar/raw-client'
import type { Replica, TestRedis } from '../helpers/cluster.js'

const skip = requires('cluster suite', redisServer)

async function healthOf (replica: Replica): Promise<{ code: number, status: string }> {
  const res = await fetch(`http://127.0.0.1:${replica.port}/health`, { signal: AbortSignal.timeout(10_000) })
  return { code: res.status, status: ((await res.json()) as { status: string }).status }
}

/** ss-dial from `caller` to `callee` and reset it at once; rejects with the error code */
async function dialAndReset (caller: RawPeer, callee: RawPeer): Promise<void> {
  const dialId = await dial(caller, callee.address)
  caller.socket.emit(Event.END, dialId, 'reset')
}

function redisLogLines (replica: Replica): { lost: number, back: number } {
  const lines = replica.output().split('\n')
  return {
    lost: lines.filter(l => l.includes('"level":40') && l.includes('redis connection lost')).length,
    back: lines.filter(l => l.includes('"level":40') && l.includes('redis connection is back')).length
  }
}

describe('cluster: health and visibility', { skip, timeout: 120_000 }, () => {
  let redis: TestRedis
  const replicas: Array<Replica & { admin: number }> = []
  const raws: RawPeer[] = []

  before(async () => {
    redis = await startRedis()
    const prefix = uniquePrefix()
    for (const i of [1, 2]) {
      const admin = await freePort()
      const replica = await startReplica({ redisUrl: redis.url, prefix, nodeId: `replica-${i}`, args: ['--admin-port', String(admin)] })
      replicas.push(Object.assign(replica, { admin }))
    }
  })

  after(async () => {
    for (const raw of raws) raw.close()
    await stopAll()
  })

  it('the status page of any replica shows every replica and its peers; the link has metrics', async () => {
    const [r1, r2] = replicas
    const peers = [await rawPeer(r1.port), await rawPeer(r1.port), await rawPeer(r2.port)]
    raws.push(...peers)
    await dialAndReset(peers[0], peers[2])
    const expected = [{ nodeId: 'replica-1', peers: 2 }, { nodeId: 'replica-2', peers: 1 }]
    for (const replica of replicas) {
      let seen: unknown
      await waitFor(async () => {
        const status = await (await fetch(`http://127.0.0.1:${replica.admin}/status.json`, { signal: AbortSignal.timeout(10_000) })).json() as { cluster?: { nodeId: string, redis: string, replicas: Array<{ nodeId: string, peers: number, addresses: string[] }> } }
        seen = status.cluster
        return JSON.stringify(status.cluster?.replicas.map(r => ({ nodeId: r.nodeId, peers: r.peers }))) === JSON.stringify(expected) &&
          status.cluster?.redis === 'up' && status.cluster.replicas.every(r => r.addresses.length > 0)
      }, 10_000).catch(() => { throw new Error(`${replica.nodeId} shows ${JSON.stringify(seen)}`) })
    }
    const page = await (await fetch(`http://127.0.0.1:${r2.admin}/`, { signal: AbortSignal.timeout(10_000) })).text()
    assert.ok(page.includes('id="cluster"'), 'the status page has a cluster section')
    const metrics = await (await fetch(`http://127.0.0.1:${r1.admin}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    const value = (re: RegExp): number => Number(metrics.match(re)?.[1] ?? NaN)
    assert.equal(value(/^wsstar_cluster_replicas (\d+)/m), 2)
    assert.ok(value(/^wsstar_cluster_redis_rtt_seconds ([\d.e-]+)/m) > 0)
    assert.ok(value(/^wsstar_cluster_messages_total\{direction="published",kind="dial"\} (\d+)/m) >= 1, 'a dial request was published')
    assert.ok(value(/^wsstar_cluster_messages_total\{direction="received",kind="answer"\} (\d+)/m) >= 1, 'its answer came back')
    assert.ok(value(/^wsstar_cluster_message_bytes_total\{direction="published",kind="peers"\} (\d+)/m) > 0, 'discovery deltas went out')
    assert.ok(value(/^wsstar_cluster_dials_total\{side="home"\} (\d+)/m) >= 1)
    assert.ok(Number.isFinite(value(/^wsstar_cluster_redis_reconnects_total (\d+)/m)))
    const callee = await (await fetch(`http://127.0.0.1:${r2.admin}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    assert.ok(Number(callee.match(/^wsstar_cluster_dials_total\{side="callee"\} (\d+)/m)?.[1]) >= 1)
  })

  it('Redis stopped: /health 503 degraded, logged once at warn; Redis back: 200 by itself and the cluster works again', async () => {
    const [r1, r2] = replicas
    for (const replica of replicas) {
      assert.deepEqual(await healthOf(replica), { code: 200, status: 'ok' })
    }
    const before = replicas.map(redisLogLines)
    await redis.kill()
    for (const replica of replicas) {
      await waitFor(async () => (await healthOf(replica)).code === 503, 10_000)
      assert.deepEqual(await healthOf(replica), { code: 503, status: 'degraded' })
    }
    // a while down: the replicas retry many times, and say so once
    await new Promise(resolve => setTimeout(resolve, 1500))
    await redis.restart()
    for (const replica of replicas) {
      await waitFor(async () => (await healthOf(replica)).code === 200, 15_000)
      assert.deepEqual(await healthOf(replica), { code: 200, status: 'ok' })
    }
    for (const [i, replica] of replicas.entries()) {
      const after = redisLogLines(replica)
      assert.equal(after.lost - before[i].lost, 1, `${replica.nodeId} logged the loss once at warn:\n${replica.output().slice(-3000)}`)
      assert.equal(after.back - before[i].back, 1, `${replica.nodeId} logged the recovery once at warn`)
    }
    const metrics = await (await fetch(`http://127.0.0.1:${r1.admin}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    assert.ok(Number(metrics.match(/^wsstar_cluster_redis_reconnects_total (\d+)/m)?.[1]) >= 1, 'the reconnect is counted')
    // the cluster works again: registrations re-asserted, new peers join, dials cross replicas
    const p1 = await rawPeer(r1.port)
    const p2 = await rawPeer(r2.port)
    raws.push(p1, p2)
    await waitFor(async () => await dialAndReset(p1, p2).then(() => true, () => false), 10_000, 'cross-node dials', 100)
    await dialAndReset(p2, p1)
    await dialAndReset(raws[0], raws[2])
  })
})
