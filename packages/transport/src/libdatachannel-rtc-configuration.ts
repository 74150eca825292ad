/**
 * An `rtcConfiguration` for `webRTC()` in Node.js (libdatachannel, through
 * `node-datachannel`) whose peer connections send their ICE candidates only
 * once the remote description is set: for the side that makes the offer,
 * once the answer is in.
 *
 * Why: in libdatachannel 0.24 (node-datachannel 0.33), setting the remote
 * description hands it to ICE before it stores it for the DTLS fingerprint
 * check. An offerer that trickles its candidates at once lets the answerer
 * finish ICE and start DTLS (as the client) while the answer is still on its
 * way through the rendezvous server; the offerer's ICE then connects the
 * moment the answer arrives, its DTLS server takes the client's certificate
 * before the fingerprint is stored, and the handshake fails with
 * `certificate verify failed` (or the ClientHello is dropped and DTLS waits
 * for its 1 s retransmission). `@libp2p/webrtc` does not see that failure
 * and reports the try only at its timeout. With the offerer's candidates held
 * back until the answer is stored, the answerer cannot reach the offerer
 * before it knows the fingerprint. Browsers buffer early DTLS themselves and
 * need none of this. (Upstream: paullouisageneau/libdatachannel#1612.)
 *
 * Node.js only: imports `node-datachannel`, which `@libp2p/webrtc` brings in
 * Node. Reached as `@wsstar/transport/libdatachannel`, never from the
 * package's main entry, so browser bundles do not see it.
 */
import { PeerConnection } from 'node-datachannel'
import type { DescriptionType, RtcConfig } from 'node-datachannel'

/** The RTCConfiguration keys libdatachannel takes beyond the standard ones. */
export interface LibdatachannelRtcConfiguration extends RTCConfiguration {
  /** the local address to gather host candidates on, e.g. `'127.0.0.1'` */
  bindAddress?: string
  portRangeBegin?: number
  portRangeEnd?: number
  enableIceUdpMux?: boolean
  maxMessageSize?: number
}

let created = 0

/**
 * For `webRTC({ rtcConfiguration: libdatachannelRtcConfiguration({ ... }) })`.
 * Each peer connection `@libp2p/webrtc` makes gets a libdatachannel peer
 * connection built from `config` whose local candidates wait for the remote
 * description. `iceServers` defaults to none here (without this helper
 * `webRTC()` would use public STUN servers); name your STUN/TURN servers.
 */
export function libdatachannelRtcConfiguration (config: LibdatachannelRtcConfiguration = {}): () => RTCConfiguration {
  return () => {
    const iceServers = config.iceServers ?? []
    const peerConnection = new PeerConnection(`wsstar-${++created}`, {
      ...config,
      iceServers: libdatachannelIceServers(iceServers)
    } as unknown as RtcConfig)
    holdCandidatesUntilRemoteDescription(peerConnection)
    // node-datachannel's RTCPeerConnection takes a ready peer connection from its configuration
    return { ...config, iceServers, peerConnection } as RTCConfiguration
  }
}

/**
 * `RTCIceServer`s as libdatachannel's URLs, the way node-datachannel's
 * RTCPeerConnection converts them: `turn:user:credential@host:port` when a
 * server has a username and credential.
 */
export function libdatachannelIceServers (servers: RTCIceServer[]): string[] {
  return servers.flatMap(server => {
    const urls = Array.isArray(server.urls) ? server.urls : [server.urls]
    return urls.map(url => {
      if (server.username == null || server.username === '' || server.credential == null || server.credential === '') {
        return url
      }
      const colon = url.indexOf(':')
      return `${url.slice(0, colon)}:${server.username}:${server.credential}@${url.slice(colon + 1)}`
    })
  })
}

/**
 * Wraps `onLocalCandidate` and `setRemoteDescription` of one peer connection
 * (own properties: the native methods on the prototype are read-only): local
 * candidates are kept until the first remote description is set, then passed
 * on in order. For an answerer this changes nothing: it gathers only after
 * the offer is set.
 */
function holdCandidatesUntilRemoteDescription (peerConnection: PeerConnection): void {
  const onLocalCandidate = peerConnection.onLocalCandidate.bind(peerConnection)
  const setRemoteDescription = peerConnection.setRemoteDescription.bind(peerConnection)
  let held: Array<[candidate: string, mid: string]> | undefined = []
  let deliver: ((candidate: string, mid: string) => void) | undefined

  Object.defineProperty(peerConnection, 'onLocalCandidate', {
    value: (callback: (candidate: string, mid: string) => void): void => {
      deliver = callback
      onLocalCandidate((candidate, mid) => {
        if (held != null) {
          held.push([candidate, mid])
        } else {
          callback(candidate, mid)
        }
      })
    }
  })
  Object.defineProperty(peerConnection, 'setRemoteDescription', {
    value: (sdp: string, type: DescriptionType): void => {
      setRemoteDescription(sdp, type)
      const waiting = held
      held = undefined
      for (const [candidate, mid] of waiting ?? []) {
        deliver?.(candidate, mid)
      }
    }
  })
}
