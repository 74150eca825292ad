/// <reference types="mocha" />
/**
 * @libp2p/interface-compliance-tests peer-discovery suite against the wsstar
 * discovery service. Each setup registers a bare protocol peer and a wsstar
 * listener on a real server; the listener's join sample names the bare
 * peer, which the discovery service must report once (and only once) started.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import tests from '@libp2p/interface-compliance-tests/peer-discovery'
import { multiaddr } from '@multiformats/multiaddr'
import { rawPeer } from '@wsstar/raw-client'
import { webSocketStar } from '@wsstar/transport'
import { listenAddr, startRendezvous } from '../helpers/rendezvous.js'
import type { TestServer } from '../helpers/rendezvous.js'
import type { Listener, Upgrader } from '@libp2p/interface'
import type { RawPeer } from '@wsstar/raw-client'
import type { WebSocketStarTransport } from '@wsstar/transport'

describe('wsstar discovery: interface-compliance-tests', function () {
  this.timeout(30_000)
  let server: TestServer
  let other: RawPeer | undefined
  let listener: Listener | undefined
  let transport: WebSocketStarTransport | undefined

  before(async () => {
    server = await startRendezvous()
  })

  after(async () => {
    await server?.stop()
  })

  tests({
    async setup () {
      other = await rawPeer(server.port)
      const privateKey = await generateKeyPair('Ed25519')
      const components = {
        peerId: peerIdFromPrivateKey(privateKey),
        privateKey,
        logger: defaultLogger()
      }
      const wsstar = webSocketStar()
      transport = wsstar.transport(components)
      const discovery = wsstar.discovery(components)
      listener = transport.createListener({ upgrader: {} as unknown as Upgrader })
      await listener.listen(multiaddr(listenAddr(server.port)))
      return discovery
    },
    async teardown () {
      await listener?.close()
      await transport?.stop()
      other?.close()
    }
  })
})
