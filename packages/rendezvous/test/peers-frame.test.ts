import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { peersPayload, sendPeers } from '../src/discovery/peers-frame.js'
import { OutgoingBacklog, PACKET_COST } from '../src/session/outgoing-backlog.js'
import type { PeersDelta } from '@wsstar/protocol'
import type { Socket } from 'socket.io'

/** What socket.io sends for `emit('ws-peers', delta)`: engine.io MESSAGE, socket.io EVENT, the JSON array. */
function socketIoPayload (delta: PeersDelta): string {
  return `42${JSON.stringify(['ws-peers', delta])}`
}

const ADDRESS = '/ip4/127.0.0.1/tcp/9090/ws/p2p-websocket-star/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

describe('peers-frame: a ws-peers packet written straight into its frame', () => {
  it('is byte for byte what socket.io sends, for usual addresses and for any string JSON must escape', () => {
    const deltas: PeersDelta[] = [
      { joined: [], left: [] },
      { joined: [ADDRESS], left: [] },
      { joined: Array.from({ length: 64 }, (_, i) => `${ADDRESS}${i}`), left: [] },
      { joined: [ADDRESS], left: [ADDRESS + 'x', '/dns4/a.example/tcp/443/wss'] },
      { joined: ['/dns4/q"uote/tcp/1', 'back\\slash', 'tab\there', 'nul\u0000', 'del\u007f', 'é', '名前', '😀'], left: ['\n'] }
    ]
    for (const delta of deltas) {
      assert.equal(peersPayload(delta).toString('utf8'), socketIoPayload(delta))
      assert.deepEqual(JSON.parse(peersPayload(delta).toString('utf8').slice(2)), ['ws-peers', delta])
    }
  })

  it('goes through socket.io where the transport does not write frames as they are', () => {
    const emitted: unknown[][] = []
    const socket = { conn: { transport: { name: 'polling' } }, emit: (...args: unknown[]) => { emitted.push(args) } } as unknown as Socket
    const delta = { joined: [ADDRESS], left: [] }
    sendPeers(socket, delta)
    assert.deepEqual(emitted, [['ws-peers', delta]])
  })

  it('a packet queued as its frame only counts in the backlog by the frame\'s bytes', () => {
    const conn = Object.assign(new EventEmitter(), { writeBuffer: [{}], transport: undefined })
    const backlog = new OutgoingBacklog({ conn } as unknown as Socket, { totalBytes: 1e9, controlBytes: 1e9 }, null, () => {})
    const frame = [Buffer.alloc(4), Buffer.alloc(6000)]
    conn.emit('packetCreate', { type: 'message', options: { wsPreEncodedFrame: frame } })
    assert.equal(backlog.controlBytes, PACKET_COST + 6004)
    conn.emit('packetCreate', { type: 'ping', options: {} })
    assert.equal(backlog.controlBytes, 2 * PACKET_COST + 6004)
  })
})
