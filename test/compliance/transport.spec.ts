/// <reference types="mocha" />
/**
 * @libp2p/interface-compliance-tests transport suite against the wsstar
 * transport, through two real rendezvous servers on loopback. The listener
 * listens on both (the suite dials both of its addresses); the dialer does
 * not listen, so its dials use transient registrations on the servers it is
 * given (`servers`).
 */
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import tests from '@libp2p/interface-compliance-tests/transport'
import { WebSocketStarListen, WebSocketStarPeer } from '@wsstar/protocol'
import { webSocketStar } from '@wsstar/transport'
import { listenAddr, startRendezvous } from '../helpers/rendezvous.js'
import type { TestServer } from '../helpers/rendezvous.js'

describe('wsstar transport: interface-compliance-tests', function () {
  this.timeout(120_000)
  let first: TestServer
  let second: TestServer

  before(async () => {
    first = await startRendezvous()
    second = await startRendezvous()
  })

  after(async () => {
    await first?.stop()
    await second?.stop()
  })

  tests({
    async setup () {
      const wsstar = webSocketStar({ servers: [first, second].map(s => `/ip4/127.0.0.1/tcp/${s.port}/ws`) })
      return {
        dialer: {
          transports: [wsstar.transport],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()]
        },
        listener: {
          addresses: { listen: [listenAddr(first.port), listenAddr(second.port)] },
          transports: [wsstar.transport],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()]
        },
        dialMultiaddrMatcher: WebSocketStarPeer,
        listenMultiaddrMatcher: WebSocketStarListen
      }
    },
    async teardown () {}
  })
})
