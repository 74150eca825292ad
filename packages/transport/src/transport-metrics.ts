import type { Metrics } from '@libp2p/interface'

/**
 * What the transport counts, reported through libp2p's metrics
 * (`components.metrics`) when the node has them, as `@libp2p/websockets`
 * does. The hot paths bump plain fields; libp2p reads them when its metrics
 * are scraped (`calculate`), so a relayed frame costs an addition.
 *
 * - `libp2p_wsstar_events_total{event}`: server connection status changes
 *   (`server_connecting`, `server_registered`, `server_reconnecting`,
 *   `server_evicted`, `server_closed`, ...), `dial`, `dial_error`, `incoming`
 * - `libp2p_wsstar_relayed_bytes_total{direction}`: payload bytes `sent` and
 *   `received` over relayed connections
 * - `libp2p_wsstar_servers{status}`: server connections by status now
 */
export class WebSocketStarMetrics {
  readonly #events: Record<string, number> = {}
  sentBytes = 0
  receivedBytes = 0

  constructor (metrics: Metrics | undefined, servers: () => Record<string, number>) {
    if (metrics == null) return
    metrics.registerCounterGroup('libp2p_wsstar_events_total', {
      label: 'event',
      help: 'wsstar transport events: server connection status changes, dials, incoming dials',
      calculate: () => ({ ...this.#events })
    })
    metrics.registerCounterGroup('libp2p_wsstar_relayed_bytes_total', {
      label: 'direction',
      help: 'Payload bytes sent and received over connections relayed by wsstar servers',
      calculate: () => ({ sent: this.sentBytes, received: this.receivedBytes })
    })
    metrics.registerMetricGroup('libp2p_wsstar_servers', {
      label: 'status',
      help: 'Connections to wsstar rendezvous servers, by status',
      calculate: servers
    })
  }

  event (name: string): void {
    this.#events[name] = (this.#events[name] ?? 0) + 1
  }
}
