import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { PeersBroadcast } from '../src/discovery/peers-broadcast.js'
import { textFrame } from '../src/internals/ws-internals.js'
import type { Socket } from 'socket.io'

interface Written { id: string, data: string, frame: Buffer }

function fakeSockets (n: number, written: Written[], disconnected: Set<string> = new Set()): Map<string, Socket> {
  const sockets = new Map<string, Socket>()
  for (let i = 0; i < n; i++) {
    const id = `s${i}`
    sockets.set(id, {
      get connected () { return !disconnected.has(id) },
      conn: {
        write (data: string, options: { wsPreEncodedFrame: Buffer[] }) {
          written.push({ id, data, frame: options.wsPreEncodedFrame[0] })
        }
      }
    } as unknown as Socket)
  }
  return sockets
}

/** Decodes one unmasked websocket text frame. */
function decodeFrame (frame: Buffer): string {
  assert.equal(frame[0], 0x81, 'FIN + text opcode')
  let length = frame[1]
  let offset = 2
  assert.equal(length & 0x80, 0, 'server frames are not masked')
  if (length === 126) {
    length = frame.readUInt16BE(2)
    offset = 4
  } else if (length === 127) {
    length = Number(frame.readBigUInt64BE(2))
    offset = 10
  }
  assert.equal(frame.byteLength, offset + length)
  return frame.subarray(offset).toString('utf8')
}

describe('PeersBroadcast', () => {
  it('frames payloads of every length class as RFC 6455 text frames (ws\'s Sender.frame)', () => {
    for (const length of [0, 5, 125, 126, 65535, 65536, 70000]) {
      assert.equal(decodeFrame(textFrame(Buffer.alloc(length, 'a'))), 'a'.repeat(length))
    }
  })

  it('writes one socket.io ws-peers packet, encoded once, to every member, a chunk per event-loop turn, skipping the disconnected', async () => {
    const written: Written[] = []
    const sockets = fakeSockets(600, written, new Set(['s7']))
    const broadcast = new PeersBroadcast({ members: () => sockets.keys(), recipient: id => { const socket = sockets.get(id); return socket == null ? undefined : { socket } }, chunk: 256 })
    const delta = { joined: ['/ip4/1.2.3.4/tcp/1/ws/p2p-websocket-star/p2p/Qm"x'], left: [] }
    broadcast.send(delta)
    assert.equal(written.length, 255, 'the first chunk synchronously (one member is disconnected)')
    await tick()
    assert.equal(written.length, 511)
    await tick()
    assert.equal(written.length, 599)
    assert.ok(!written.some(w => w.id === 's7'))
    assert.equal(new Set(written.map(w => w.frame)).size, 1, 'one frame for everyone')
    assert.equal(written[0].data, `2${JSON.stringify(['ws-peers', delta])}`)
    assert.equal(decodeFrame(written[0].frame), `42${JSON.stringify(['ws-peers', delta])}`)
  })

  it('a broadcast started while another runs is written after it, to each socket in order; stop drops the rest', async () => {
    const written: Written[] = []
    const sockets = fakeSockets(300, written)
    const broadcast = new PeersBroadcast({ members: () => sockets.keys(), recipient: id => { const socket = sockets.get(id); return socket == null ? undefined : { socket } }, chunk: 100 })
    broadcast.send({ joined: ['a'], left: [] })
    broadcast.send({ joined: [], left: ['a'] })
    for (let i = 0; i < 6; i++) await tick()
    assert.equal(written.length, 600)
    const forS0 = written.filter(w => w.id === 's0').map(w => JSON.parse(w.data.slice(1))[1])
    assert.deepEqual(forS0, [{ joined: ['a'], left: [] }, { joined: [], left: ['a'] }])
    broadcast.send({ joined: ['b'], left: [] })
    broadcast.stop()
    await tick()
    assert.equal(written.length, 700)
  })
})
