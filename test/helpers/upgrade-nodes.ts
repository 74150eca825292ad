/**
 * libp2p nodes for the direct-upgrade tests: the wsstar transport next to
 * `webRTC()` (with its service dependencies identify and the circuit-relay
 * transport) and the `directUpgrade()` service.
 *
 * WebRTC here gathers loopback host candidates only (`bindAddress`) and has
 * no STUN/TURN servers: `@libp2p/webrtc` would otherwise ask public STUN
 * servers, and the tests must not leave this machine. The configuration goes
 * through `libdatachannelRtcConfiguration`, as the README tells Node.js users
 * to do (without it libdatachannel fails a DTLS handshake now and then).
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTC } from '@libp2p/webrtc'
import { yamux } from '@libp2p/yamux'
import { directUpgrade, webSocketStar } from '@wsstar/transport'
import { libdatachannelRtcConfiguration } from '@wsstar/transport/libdatachannel'
import { createLibp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { DirectUpgrade, DirectUpgradeInit } from '@wsstar/transport'
import type { LibdatachannelRtcConfiguration } from '@wsstar/transport/libdatachannel'

export type UpgradeNode = Libp2p<{ identify: Identify, directUpgrade: DirectUpgrade }>

/** loopback host candidates only, no ICE servers */
export const LOOPBACK_RTC: LibdatachannelRtcConfiguration = { iceServers: [], bindAddress: '127.0.0.1' }

export interface UpgradeNodeOptions {
  listen: string[]
  upgrade?: DirectUpgradeInit
  /** `false`: no WebRTC transport at all (an older peer) */
  webrtc?: LibdatachannelRtcConfiguration | false
  /**
   * libp2p's keep-alive: `false` keeps a connection whose ping times out
   * (libp2p aborts it by default; a ping queued behind a relayed bulk transfer
   * on a busy machine can take longer than its 5 s, see bench/README.md)
   */
  abortOnPingFailure?: boolean
}

export async function createUpgradeNode (options: UpgradeNodeOptions): Promise<UpgradeNode> {
  const wsstar = webSocketStar({ reconnect: { initialDelay: 100, maxDelay: 2000 } })
  const rtc = options.webrtc ?? LOOPBACK_RTC
  return createLibp2p({
    addresses: { listen: options.listen },
    transports: rtc === false
      ? [wsstar.transport, circuitRelayTransport()]
      : [wsstar.transport, circuitRelayTransport(), webRTC({ rtcConfiguration: libdatachannelRtcConfiguration(rtc) })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { abortConnectionOnPingFailure: options.abortOnPingFailure ?? true },
    services: {
      identify: identify(),
      directUpgrade: directUpgrade(options.upgrade)
    }
  })
}
