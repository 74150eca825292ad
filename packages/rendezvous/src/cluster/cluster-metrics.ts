import { Counter, Gauge } from 'prom-client'
import { MESSAGE_KINDS } from './cluster-messages.js'
import type { ClusterNode } from './cluster-nodes.js'
import type { LinkTraffic } from './cluster-publisher.js'
import type { Registry } from 'prom-client'

/** What the metrics and the status page show of the cluster, read when asked. */
export interface ClusterStats {
  nodeId: string
  /** every Redis connection of this replica is ready */
  redisUp: boolean
  /** round trip of this replica's last cluster beat to Redis, seconds */
  redisRoundTrip?: number
  /** Redis connections that came back after being lost */
  reconnects: number
  /** the replicas seen at the last beat (this one included) */
  nodes: ClusterNode[]
  sent: LinkTraffic
  received: LinkTraffic
  dialsHome: number
  dialsCallee: number
  framesToCallee: number
  framesFromCallee: number
}

/**
 * Cluster mode: Redis, the replicas seen and the link between replicas.
 * The link counts in plain typed arrays (cluster-link.ts); they are copied
 * here at scrape time, so the data path pays one increment per message.
 */
export function clusterMetrics (cluster: () => ClusterStats, registry: Registry): void {
  const registers = [registry]
  new Gauge({ name: 'wsstar_cluster_redis_up', help: 'Cluster mode: 1 while every Redis connection of this node is ready, else 0', registers, collect () { this.set(cluster().redisUp ? 1 : 0) } })
  new Gauge({
    name: 'wsstar_cluster_redis_rtt_seconds',
    help: 'Round trip to Redis of this replica\'s last cluster beat (every 2 s: write its own info, read every replica\'s)',
    registers,
    collect () {
      const rtt = cluster().redisRoundTrip
      if (rtt != null) this.set(rtt)
    }
  })
  new Counter({ name: 'wsstar_cluster_redis_reconnects_total', help: 'Redis connections of this replica that came back after being lost', registers, collect () { this.reset(); this.inc(cluster().reconnects) } })
  new Gauge({ name: 'wsstar_cluster_replicas', help: 'Replicas of the cluster seen at the last beat, this one included', registers, collect () { this.set(cluster().nodes.length) } })
  const perKind = (name: string, help: string, read: (traffic: ClusterStats['sent']) => Float64Array): void => {
    new Counter({
      name,
      help,
      labelNames: ['direction', 'kind'],
      registers,
      collect () {
        const stats = cluster()
        this.reset()
        for (const [direction, traffic] of [['published', stats.sent], ['received', stats.received]] as const) {
          const values = read(traffic)
          for (let type = 1; type < values.length; type++) {
            if (values[type] > 0) this.inc({ direction, kind: MESSAGE_KINDS[type] }, values[type])
          }
        }
      }
    })
  }
  perKind('wsstar_cluster_messages_total', 'Messages between replicas by direction and kind (dial, answer, data, credit, end, gone, forget, evict, to-data, to-credit, to-end, peers)', t => t.messages)
  perKind('wsstar_cluster_message_bytes_total', 'Body bytes of the messages between replicas by direction and kind', t => t.bytes)
  new Counter({
    name: 'wsstar_cluster_dials_total',
    help: 'Cross-replica dials: side="home", asked of another replica for a caller here; side="callee", forwarded for a callee here',
    labelNames: ['side'],
    registers,
    collect () {
      const stats = cluster()
      this.reset()
      this.inc({ side: 'home' }, stats.dialsHome)
      this.inc({ side: 'callee' }, stats.dialsCallee)
    }
  })
  new Counter({
    name: 'wsstar_cluster_frames_forwarded_total',
    help: 'Frames of cross-replica dials this replica forwarded for a local callee: direction="to-callee" written to it, "from-callee" published from it',
    labelNames: ['direction'],
    registers,
    collect () {
      const stats = cluster()
      this.reset()
      this.inc({ direction: 'to-callee' }, stats.framesToCallee)
      this.inc({ direction: 'from-callee' }, stats.framesFromCallee)
    }
  })
}
