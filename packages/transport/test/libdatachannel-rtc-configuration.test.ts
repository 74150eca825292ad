/**
 * libdatachannelRtcConfiguration: node-datachannel's RTCPeerConnection, as
 * `@libp2p/webrtc` uses it in Node.js, on peer connections built by the
 * helper. The offerer's ICE candidates must not leave before the answer is
 * set (the cause of libdatachannel's `certificate verify failed`, see the
 * module), and the two must still connect.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import nodeDataChannel from 'node-datachannel'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { pEvent } from 'p-event'
import { libdatachannelIceServers, libdatachannelRtcConfiguration } from '../src/libdatachannel-rtc-configuration.js'

async function connected (pc: RTCPeerConnection): Promise<void> {
  if (pc.connectionState === 'connected') return
  await pEvent(pc, 'connectionstatechange', { filter: () => pc.connectionState === 'connected', rejectionEvents: [], timeout: 10_000 })
}

describe('libdatachannelRtcConfiguration', () => {
  after(() => { nodeDataChannel.cleanup() })

  it("holds an offerer's ICE candidates until the answer is set, then sends them; the peers connect", async () => {
    const config = libdatachannelRtcConfiguration({ bindAddress: '127.0.0.1' })
    const offerer = new RTCPeerConnection(config())
    const answerer = new RTCPeerConnection(config())
    try {
      const fromOfferer: RTCIceCandidateInit[] = []
      offerer.addEventListener('icecandidate', (evt: any) => { if (evt.candidate != null) fromOfferer.push(evt.candidate.toJSON()) })
      answerer.addEventListener('icecandidate', (evt: any) => {
        if (evt.candidate != null) offerer.addIceCandidate(evt.candidate.toJSON()).catch(() => {})
      })

      const channel = offerer.createDataChannel('init')
      const offer = await offerer.createOffer()
      await offerer.setLocalDescription(offer)
      // gathering ends on loopback within milliseconds; none of it may have left yet
      if (offerer.iceGatheringState !== 'complete') {
        await pEvent(offerer, 'icegatheringstatechange', { filter: () => offerer.iceGatheringState === 'complete', timeout: 10_000 })
      }
      await new Promise(resolve => setTimeout(resolve, 100)) // callbacks from libdatachannel's threads come through the event loop
      assert.equal(fromOfferer.length, 0, 'no candidate before the answer')

      await answerer.setRemoteDescription(offer)
      const answer = await answerer.createAnswer()
      await answerer.setLocalDescription(answer)
      await offerer.setRemoteDescription(answer)
      assert.ok(fromOfferer.length > 0, 'the held candidates go out once the answer is set')
      assert.match(fromOfferer[0].candidate ?? '', /127\.0\.0\.1/)
      for (const candidate of fromOfferer) {
        await answerer.addIceCandidate(candidate)
      }

      await Promise.all([connected(offerer), connected(answerer)])
      if (channel.readyState !== 'open') await pEvent(channel, 'open', { timeout: 10_000 })
    } finally {
      offerer.close()
      answerer.close()
    }
  })

  it('gives each peer connection its own libdatachannel peer connection, with the ICE servers given and none by default', () => {
    const config = libdatachannelRtcConfiguration({ iceTransportPolicy: 'relay' })
    const one: any = config()
    const two: any = config()
    assert.notEqual(one.peerConnection, two.peerConnection)
    assert.deepEqual(one.iceServers, [])
    assert.equal(one.iceTransportPolicy, 'relay')
    one.peerConnection.close()
    two.peerConnection.close()
  })

  it('writes ICE servers as libdatachannel URLs, credentials in the URL', () => {
    assert.deepEqual(libdatachannelIceServers([
      { urls: 'stun:stun.example.com:3478' },
      { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'], username: 'user', credential: 'secret' }
    ]), [
      'stun:stun.example.com:3478',
      'turn:user:secret@turn.example.com:3478?transport=udp',
      'turns:user:secret@turn.example.com:5349'
    ])
  })
})
