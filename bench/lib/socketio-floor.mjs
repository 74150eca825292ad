// The bare socket.io floor of the joins scenario (issue 19): a socket.io 4
// server on the same Node, with the engine options the rendezvous server
// uses (websocket only, no compression), that only acks `ss-join`: the
// one-request join gets one ack, the two-step join two (a nonce, then the
// answer). No signature check, no registry, no discovery: what any server
// built on socket.io pays for the same client traffic. Serves /health and
// the event-loop lag gauges of /metrics like the CLI, so the joins ramp reads
// it the same way. Run as a child process: `node socketio-floor.mjs <port>`.

import { createServer } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Server } from 'socket.io'

const port = Number(process.argv[2])
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
let peers = 0

const http = createServer((req, res) => {
  if (req.url === '/health') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ status: 'ok', peers, sockets: io.engine.clientsCount }))
    return
  }
  if (req.url === '/metrics') {
    const s = v => (v / 1e9).toFixed(6)
    res.end([
      `nodejs_eventloop_lag_p50_seconds ${s(lag.percentile(50))}`,
      `nodejs_eventloop_lag_p99_seconds ${s(lag.percentile(99))}`,
      `nodejs_eventloop_lag_max_seconds ${s(lag.max)}`,
      `nodejs_eventloop_lag_mean_seconds ${s(lag.mean)}`,
      `wsstar_memory_reclaims_total 0`,
      `wsstar_memory_reclaim_pause_seconds_total 0`,
      ''
    ].join('\n'))
    lag.reset()
    return
  }
  res.statusCode = 404
  res.end()
})
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, httpCompression: false, serveClient: false, maxHttpBufferSize: 128 * 1024 })
io.on('connection', (socket) => {
  socket.on('ss-join', (_address, data, ack) => {
    if (typeof ack !== 'function') return
    if (data?.signature != null || data?.sid != null) {
      peers++
      ack(null, { peers: [], verified: true })
    } else {
      ack(null, { nonce: 'floor' })
    }
  })
})
http.listen(port, '127.0.0.1')
process.on('SIGTERM', () => { io.close(); process.exit(0) })
