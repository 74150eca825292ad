import { BUILD_INFO } from '../runtime/build-info.js'
import { STATUS_PAGE } from './status-page.js'
import type { BuildInfo } from '../runtime/build-info.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'

export interface Health {
  /** degraded: a cluster replica that has lost Redis (503, like stopping) */
  status: 'ok' | 'degraded' | 'stopping'
  peers: number
  sockets: number
  dials: number
  uptime: number
}

/** Cluster mode: this replica's view of the cluster (the replicas as they last described themselves, every 2 s). */
export interface ClusterStatus {
  /** this replica */
  nodeId: string
  redis: 'up' | 'down'
  replicas: Array<{ nodeId: string, peers: number, addresses: string[], self: boolean }>
}

/** A socket among those that relayed the most (`/status.json` `topRelaying`). */
export interface RelayingPeerStatus {
  /** the peer ids it holds now */
  peerIds: string[]
  /** payload bytes it sent over its dials since it connected */
  sentBytes: number
  /** payload bytes relayed to it since it connected */
  receivedBytes: number
  /** its relay rate, payload bytes per second (0: no limit) */
  relayRate: number
}

/** `GET /status.json`: what the status page shows, `/health` plus totals from the metrics. */
export interface ServerStatus extends Health {
  /** cluster mode only */
  cluster?: ClusterStatus
  build: BuildInfo
  /** payload bytes relayed in data frames since start */
  relayedBytes: number
  /** join requests since start, by result (`ok`, `challenged`, error codes) */
  joins: Record<string, number>
  /** dial requests since start, by result (`ok` or an error code) */
  dialResults: Record<string, number>
  /** rejected inputs since start, by error code */
  rejected: Record<string, number>
  /** the connected sockets that relayed the most, most first (a few: bounded however many are connected) */
  topRelaying: RelayingPeerStatus[]
  /** token mode only: the tokens whose sockets relayed the most since each was first read, most first (a few) */
  topRelayingTokens?: RelayingTokenStatus[]
}

/** A token among those whose sockets relayed the most (`/status.json` `topRelayingTokens`, token mode). */
export interface RelayingTokenStatus {
  /** its label (`name=` in the token file, else the start of its digest) */
  name: string
  /** registrations its sockets hold now */
  peers: number
  /** payload bytes its sockets sent over their dials */
  sentBytes: number
  /** payload bytes relayed to its sockets */
  receivedBytes: number
}

export interface HttpEndpointsInit {
  health(): Health
  /** cluster mode only */
  cluster?(): ClusterStatus
  /** the sockets that relayed the most, read at request time */
  topRelaying(): RelayingPeerStatus[]
  /** token mode: the tokens whose sockets relayed the most, read at request time */
  topRelayingTokens?(): RelayingTokenStatus[] | undefined
  metrics: Registry
  onError(err: unknown): void
  /**
   * serve the operator endpoints (`/metrics`, `/status.json`, `/`): on the
   * admin listener, and on the client port only with `publicAdmin`
   */
  operator: boolean
}

/** paths only the operator endpoints answer; elsewhere they are 404 like any unknown path */
const OPERATOR_PATHS = new Set(['/metrics', '/status.json', '/', '/index.html'])

/**
 * Plain HTTP: `GET /health` (JSON; 503 while stopping, so a load balancer
 * drains the node) everywhere, and on the operator listener `GET /metrics`
 * (Prometheus), `GET /status.json` (health, build and totals, for the
 * status page) and `GET /` (a self-contained live status page). On the
 * client port socket.io handles `/socket.io/` before this sees a request.
 */
export function createHttpHandler (init: HttpEndpointsInit): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    const head = req.method === 'HEAD'
    if (req.method !== 'GET' && !head) {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', head, { allow: 'GET, HEAD' })
      return
    }
    if (!init.operator && OPERATOR_PATHS.has(path)) {
      send(res, 404, 'text/plain; charset=utf-8', 'not found\n', head)
      return
    }
    switch (path) {
      case '/health': {
        const health = init.health()
        send(res, health.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(health), head)
        return
      }
      case '/metrics':
        init.metrics.metrics().then(
          body => { send(res, 200, init.metrics.contentType, body, head) },
          (err: unknown) => {
            init.onError(err)
            send(res, 500, 'text/plain; charset=utf-8', 'metrics collection failed\n', head)
          }
        )
        return
      case '/status.json':
        serverStatus(init).then(
          status => { send(res, 200, 'application/json', JSON.stringify(status), head) },
          (err: unknown) => {
            init.onError(err)
            send(res, 500, 'text/plain; charset=utf-8', 'status collection failed\n', head)
          }
        )
        return
      case '/':
      case '/index.html':
        send(res, 200, 'text/html; charset=utf-8', STATUS_PAGE, head)
        return
      default:
        send(res, 404, 'text/plain; charset=utf-8', 'not found\n', head)
    }
  }
}

async function serverStatus (init: HttpEndpointsInit): Promise<ServerStatus> {
  const health = init.health()
  const [relayed, joins, dialResults, rejected] = await Promise.all([
    countsBy(init.metrics, 'wsstar_relayed_bytes_total'),
    countsBy(init.metrics, 'wsstar_joins_total', 'result'),
    countsBy(init.metrics, 'wsstar_dials_total', 'result'),
    countsBy(init.metrics, 'wsstar_rejected_total', 'code')
  ])
  const topRelayingTokens = init.topRelayingTokens?.()
  return {
    ...health,
    ...(init.cluster == null ? {} : { cluster: init.cluster() }),
    build: BUILD_INFO,
    relayedBytes: Object.values(relayed).reduce((sum, n) => sum + n, 0),
    joins,
    dialResults,
    rejected,
    topRelaying: init.topRelaying(),
    ...(topRelayingTokens == null ? {} : { topRelayingTokens })
  }
}

/** A counter's values keyed by one label (all under `''` without a label); missing metrics are empty. */
async function countsBy (registry: Registry, name: string, label?: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name)
  const counts: Record<string, number> = {}
  if (metric == null) {
    return counts
  }
  for (const { labels, value } of (await metric.get()).values) {
    const key = label == null ? '' : String(labels[label] ?? '')
    counts[key] = (counts[key] ?? 0) + value
  }
  return counts
}

function send (res: ServerResponse, status: number, type: string, body: string, head: boolean, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    return
  }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers })
  res.end(head ? undefined : body)
}
