/**
 * Dials between libp2p nodes whose addresses name different replicas of one
 * cluster (no balancer in between), and through a balancer, in one run: a
 * dial must never cost the dialler (or anyone) its listening registration.
 * Each replica announces its own address and the balancer's.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { freePort } from '../helpers/free-port.js'
import { startHaproxy, startRedis, startReplica, stopAll, uniquePrefix } from '../helpers/cluster.js'
import { createNode, wsstarListeners, wsstarOf } from '../helpers/nodes.js'
import { haproxy as haproxyComponent, redisServer, requires } from '../helpers/system-components.js'
import { waitFor } from '../helpers/wait.js'
import type { Replica, TestRedis } from '../helpers/cluster.js'
import type { TestNode } from '../helpers/nodes.js'

const skip = requires('cluster suite', redisServer, haproxyComponent)

function serverOf (port: number): string {
  return `/ip4/127.0.0.1/tcp/${port}/ws`
}

describe('cluster: dials across replicas keep every registration', { skip, timeout: 180_000 }, () => {
  let redis: TestRedis
  let replicas: Replica[] = []
  let lbPort = 0
  const nodes: Record<string, TestNode> = {}
  /** `name: status` of every listener status a node reported that is not a (re)join in progress */
  const lost: string[] = []

  before(async () => {
    redis = await startRedis()
    const prefix = uniquePrefix()
    lbPort = await freePort()
    const ports = [await freePort(), await freePort()]
    replicas = await Promise.all(ports.map(async (port, i) => await startReplica({
      redisUrl: redis.url,
      prefix,
      port,
      nodeId: `replica-${i + 1}`,
      args: ['--announce', `${serverOf(port)},${serverOf(lbPort)}`]
    })))
    await startHaproxy(ports, lbPort)
    const listen = { a: ports[0], b: ports[1], c: lbPort, d: lbPort }
    for (const [name, port] of Object.entries(listen)) {
      const node = await createNode({ listen: [`${serverOf(port)}/p2p-websocket-star`], start: false })
      nodes[name] = node
      node.addEventListener('transport:listening', () => {
        for (const listener of wsstarListeners(node)) {
          listener.addEventListener('status', (evt) => {
            if (['evicted', 'closed'].includes(evt.detail.status)) lost.push(`${name}: ${evt.detail.status} (${evt.detail.error?.message ?? ''})`)
          })
        }
      }, { once: true })
      await node.start()
    }
    await waitFor(() => Object.values(nodes).every(n => n.getMultiaddrs().length === 1), 10_000)
    // a replica learns of another within a beat of it starting, and tells its sockets (ws-cluster)
    const cluster = [...ports, lbPort].map(serverOf).sort()
    await waitFor(() => Object.values(nodes).every(n => JSON.stringify([...wsstarOf(n).getServers()[0].cluster].sort()) === JSON.stringify(cluster)), 10_000)
      .catch(() => { throw new Error(`the nodes do not know the cluster ${cluster.join(', ')}: ${JSON.stringify(Object.values(nodes).map(n => wsstarOf(n).getServers()[0].cluster))}`) })
  })

  after(async () => {
    await Promise.allSettled(Object.values(nodes).map(async n => { await n.stop() }))
    await stopAll()
  })

  /** every node still lists its one websocket-star address, on the server it listens on */
  function assertListening (step: string): void {
    assert.deepEqual(lost, [], `${step}: a listener lost its registration`)
    for (const [name, node] of Object.entries(nodes)) {
      const addrs = node.getMultiaddrs().map(String)
      assert.equal(addrs.length, 1, `${step}: ${name} has ${addrs.length} listen addresses: ${addrs.join(', ')}`)
      assert.ok(addrs[0].includes('/p2p-websocket-star/'), `${step}: ${name}: ${addrs[0]}`)
    }
  }

  /** every node is dialable on its listen address by a node on another server */
  async function assertDialable (step: string): Promise<void> {
    const names = Object.keys(nodes)
    for (const [i, name] of names.entries()) {
      const node = nodes[name]
      const prober = nodes[names[(i + 1) % names.length]]
      await prober.hangUp(node.peerId)
      await prober.services.ping.ping(node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) })
        .catch((err: Error) => { throw new Error(`${step}: ${name} is not dialable from ${names[(i + 1) % names.length]}: ${err.message}`) })
    }
  }

  const dials: Array<[string, string, string]> = [
    ['a', 'b', 'replica 1 -> replica 2'],
    ['b', 'a', 'replica 2 -> replica 1'],
    ['a', 'c', 'replica 1 -> through the balancer'],
    ['c', 'a', 'through the balancer -> replica 1'],
    ['d', 'b', 'through the balancer -> replica 2'],
    ['c', 'd', 'through the balancer -> through the balancer']
  ]

  it('dials both ways between replicas and through the balancer: every node keeps its listen address and stays dialable after each', async () => {
    for (const [from, to, what] of dials) {
      const caller = nodes[from]
      const callee = nodes[to]
      const step = `${from} -> ${to} (${what})`
      await caller.hangUp(callee.peerId)
      const rtt = await caller.services.ping.ping(callee.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) })
      assert.ok(rtt >= 0)
      // an eviction would follow the join on the other replica within a Redis round trip
      await new Promise(resolve => setTimeout(resolve, 300))
      assertListening(step)
      // no socket beyond the ones the nodes listen through: the dial went over the caller's own
      assert.equal(wsstarOf(caller).getServers().length, 1, `${step}: ${from} opened ${JSON.stringify(wsstarOf(caller).getServers().map(s => s.server))}`)
      await assertDialable(step)
      assertListening(`${step}, after the dialability round`)
    }
    for (const replica of replicas) {
      assert.equal((await replica.health()).status, 'ok')
    }
  })
})
