// Run inside a fresh project that installed the packed tarballs (see
// ../installed-packages.test.ts): two libp2p 3 nodes listen through the
// server from the installed `wsstar-rendezvous` bin (its port is argv[2]),
// discover each other and ping. Prints `result <JSON>` (the library server's
// own log lines go to stdout too).
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { PROTOCOL_VERSION } from '@wsstar/protocol'
import { createRendezvousServer } from '@wsstar/rendezvous'
import { PeerNotFoundError, WsStarError, webSocketStar } from '@wsstar/transport'
import { createLibp2p } from 'libp2p'

const listen = `/ip4/127.0.0.1/tcp/${process.argv[2]}/ws/p2p-websocket-star`

async function node () {
  const wsstar = webSocketStar()
  return await createLibp2p({
    start: false,
    addresses: { listen: [listen] },
    transports: [wsstar.transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [wsstar.discovery],
    services: { ping: ping() }
  })
}

function discovered (node, peerId) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${peerId} not discovered within 20 s`)) }, 20_000)
    node.addEventListener('peer:discovery', (evt) => {
      if (evt.detail.id.equals(peerId)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
}

const a = await node()
const b = await node()
const bSeesA = discovered(b, a.peerId)
await a.start()
await b.start()
await bSeesA
const rtt = await b.services.ping.ping(a.peerId, { signal: AbortSignal.timeout(20_000) })
const remoteAddr = b.getConnections(a.peerId)[0]?.remoteAddr.toString()
await Promise.all([a.stop(), b.stop()])

// the library entry of the server package, started and stopped in this process
const server = createRendezvousServer({ port: 0, host: '127.0.0.1' })
await server.start()
const libraryPort = server.port
await server.stop()

console.log('result ' + JSON.stringify({
  rtt,
  remoteAddr,
  libraryPort,
  protocolVersion: PROTOCOL_VERSION,
  errorsExtendWsStarError: new PeerNotFoundError() instanceof WsStarError
}))
