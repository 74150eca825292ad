// A benchmark endpoint: one libp2p node in its own process, driven over IPC.
// Started by paths.mjs as `endpoint-child.mjs <path> <role>`.
//
// Commands:
//   start { relayAddr?, serverAddr?, pingAbort? } → { peerId, addrs, dialAddr }
//   connect { addr }                   → { ms, remoteAddr, limits }
//   throughput { bytes }               → { bytes, ms, openMs }    (dialer)
//   latency { rounds, warmup }         → { rtts }                 (dialer)
//   stats                              → buffer lengths per connection/stream
// Events: 'sent' (bytes, dialer) and 'received' (bytes, listener) every MiB
// while progress is switched on with `progress { on }`.

import { multiaddr } from '@multiformats/multiaddr'
import { serveRpc, emit } from './child.mjs'
import { ECHO_PROTOCOL, handleEcho, echoRtts } from './echo.mjs'
import { createNode, waitForAddr } from './node-factory.mjs'
import { SINK_PROTOCOL, handleSink, timedTransfer } from './transfer.mjs'

const [path, role] = process.argv.slice(2)
let node
let connection
let progress = false

const handlerOptions = { runOnLimitedConnection: true, maxInboundStreams: 256, maxOutboundStreams: 256 }

serveRpc({
  async start ({ relayAddr, serverAddr, pingAbort }) {
    node = await createNode({ path, listen: role === 'listener', relayAddr, serverAddr, pingAbort })
    await node.handle(SINK_PROTOCOL, (stream) => {
      handleSink(stream, { onProgress: progress ? (bytes) => emit('received', bytes) : undefined }).catch(() => {})
    }, handlerOptions)
    await node.handle(ECHO_PROTOCOL, (stream) => { handleEcho(stream) }, handlerOptions)
    let dialAddr
    if (role === 'listener') {
      const pick = {
        direct: (a) => a.includes('/ws/') && !a.includes('p2p-circuit'),
        circuit: (a) => a.includes('/p2p-circuit'),
        wsstar: (a) => a.includes('/p2p-websocket-star')
      }[path]
      dialAddr = await waitForAddr(node, pick)
      if (!dialAddr.includes(`/p2p/${node.peerId}`)) dialAddr = `${dialAddr}/p2p/${node.peerId}`
    } else if (path === 'wsstar') {
      // a wsstar dialer must be registered with the server before it can dial
      await waitForAddr(node, (a) => a.includes('/p2p-websocket-star'))
    }
    return { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), dialAddr }
  },

  async connect ({ addr }) {
    const t0 = performance.now()
    connection = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(30_000) })
    const ms = performance.now() - t0
    return {
      ms,
      remoteAddr: connection.remoteAddr.toString(),
      limits: connection.limits == null ? null : { bytes: connection.limits.bytes?.toString(), seconds: connection.limits.seconds },
      multiplexer: connection.multiplexer,
      encryption: connection.encryption
    }
  },

  async progress ({ on }) {
    progress = on === true
    return true
  },

  async throughput ({ bytes }) {
    if (connection == null) throw new Error('not connected')
    return timedTransfer(connection, bytes, { onProgress: progress ? (n) => emit('sent', n) : undefined })
  },

  async latency ({ rounds, warmup }) {
    if (connection == null) throw new Error('not connected')
    return { rtts: await echoRtts(connection, { rounds, warmup }) }
  },

  async stats () {
    // buffers along the stack of each connection, for diagnosing where bytes wait
    const conns = node?.getConnections() ?? []
    return {
      rss: process.memoryUsage().rss,
      connections: conns.map(c => ({
        remoteAddr: c.remoteAddr.toString(),
        maConn: { write: c.maConn?.writeBufferLength, read: c.maConn?.readBufferLength },
        streams: c.streams.map(s => ({ protocol: s.protocol, write: s.writeBufferLength, read: s.readBufferLength }))
      }))
    }
  },

  async shutdown () {
    await node?.stop()
  }
}, { path, role, pid: process.pid })
