import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Dial } from '../src/dial/dial.js'
import { Relay } from '../src/relay/relay.js'
import { REQUEST_TIMEOUT_MS, closeClients, join } from '@wsstar/raw-client'
import { joinedClient, startServer, waitUntil } from './helpers.js'
import type { Rejections } from '../src/metrics/rejections.js'
import type { DialEnd } from '../src/dial/dial-end.js'
import type { RendezvousServer } from '../src/index.js'

/**
 * A peer must learn why its dial ended. The soak caught a caller whose first
 * reset was ERR_DIAL_NOT_FOUND: the callee accepted and left in the same
 * read, the reset (ERR_PEER_GONE) was held with the dial's other frames
 * until a setImmediate, the caller got the ack and sent data, and the
 * server read that data in the same (long, loaded) poll phase, before the
 * check phase: the answers to it (ERR_DIAL_NOT_FOUND, not held) overtook the
 * held reset. Held frames now go out right behind the ack.
 */

interface Sent { event: string, args: unknown[] }

/** A dial end that records the frames sent to it, as the events a socket would get. */
class RecordingEnd implements DialEnd {
  readonly id: string
  readonly sent: Sent[] = []
  readonly connected = true
  readonly dials = new Set<Dial>()
  readonly strayBucket = { take: () => true }

  constructor (id: string) {
    this.id = id
  }

  heldCost = 0

  sentData (): void {}

  hasRoomFor (): boolean {
    return true
  }

  sendData (dialId: string, bytes: Uint8Array): void {
    this.sent.push({ event: 'd', args: [dialId, bytes] })
  }

  sendCredit (dialId: string, bytes: number): void {
    this.sent.push({ event: 'c', args: [dialId, bytes] })
  }

  sendEnd (dialId: string, kind: string, error?: unknown): void {
    this.sent.push({ event: 'e', args: error == null ? [dialId, kind] : [dialId, kind, error] })
  }
}

function fakeRelay (): Relay {
  const rejections = { reject: (err: { toWire?: () => unknown }) => err.toWire?.(), count: () => {} } as unknown as Rejections
  return new Relay({
    windowBytes: 1024 * 1024,
    maxSocketBufferedBytes: 32 * 1024 * 1024,
    maxDialBytes: 0,
    maxDialDurationMs: 0,
    rejections,
    logger: pino({ level: 'silent' }),
    onLimit: () => {}
  })
}

const PEER_GONE = { code: 'ERR_PEER_GONE', message: 'the other end left' }

describe('a dial reset right after the accept', () => {
  it('reaches the caller right behind the ack, before any answer to frames the caller sends on it', async () => {
    const relay = fakeRelay()
    const caller = new RecordingEnd('caller')
    const callee = new RecordingEnd('callee')
    const dial = new Dial({ id: 'D'.repeat(22), caller, callerPeerId: 'A', callerAddress: '/a', callee, calleePeerId: 'B', calleeAddress: '/b' })
    relay.add(dial)
    // the callee accepts and, in the same read, leaves
    relay.open(dial)
    relay.dropPeer(callee, 'B', PEER_GONE as never, PEER_GONE as never)
    // nothing reaches the caller before its ack, however long the ack takes
    await new Promise(resolve => setImmediate(resolve))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(caller.sent.length, 0)
    // the server writes the ack, then releases what it held
    caller.sent.push({ event: 'ack', args: [{ dialId: dial.id }] })
    relay.release(dial.id)
    // the caller sends at once; the server may read it in the same turn
    relay.onData(caller, dial.id, new Uint8Array(10))
    assert.deepEqual(caller.sent.map(s => s.event === 'e' ? `e ${String(s.args[1])} ${(s.args[2] as { code: string }).code}` : s.event), [
      'ack',
      'e reset ERR_PEER_GONE',
      'e reset ERR_DIAL_NOT_FOUND'
    ])
    assert.deepEqual(callee.sent.map(s => `${s.event} ${String(s.args[1])} ${(s.args[2] as { code: string }).code}`), ['e reset ERR_PEER_GONE'])
    // releasing twice, or a dial that never held anything, is a no-op
    relay.release(dial.id)
    relay.release('nope')
    assert.equal(caller.sent.length, 3)
  })

  it('held data and credit go out in order right behind the ack', () => {
    const relay = fakeRelay()
    const caller = new RecordingEnd('caller')
    const callee = new RecordingEnd('callee')
    const dial = new Dial({ id: 'E'.repeat(22), caller, callerPeerId: 'A', callerAddress: '/a', callee, calleePeerId: 'B', calleeAddress: '/b' })
    relay.add(dial)
    relay.open(dial)
    relay.onData(callee, dial.id, new Uint8Array([1]))
    relay.onEnd(callee, dial.id, 'close-write', undefined)
    assert.equal(caller.sent.length, 0)
    caller.sent.push({ event: 'ack', args: [{ dialId: dial.id }] })
    relay.release(dial.id)
    assert.deepEqual(caller.sent.map(s => `${s.event} ${s.event === 'e' ? String(s.args[1]) : ''}`), ['ack ', 'd ', 'e close-write'])
  })
})

describe('a real server: the callee accepts and leaves at once', () => {
  let server: RendezvousServer

  before(async () => { server = await startServer({ limits: { joinRate: 1000, joinBurst: 1000, churnRate: 1000, churnBurst: 1000 } }) })
  afterEach(async () => {
    closeClients()
    await waitUntil(() => server.stats().sockets === 0, 2000, 'sockets to close')
  })
  after(async () => { await server.stop() })

  it('the caller, sending as soon as the ack arrives, first learns ERR_PEER_GONE', async () => {
    const a = await joinedClient(server)
    const b = await joinedClient(server)
    for (let i = 0; i < 20; i++) {
      // accept and leave in one flush of the callee's socket
      b.socket.once('ss-incomming', (_id: string, _from: string, ack: (err: null) => void) => {
        ack(null)
        b.socket.emit('ss-leave', b.address)
      })
      const firstReset = new Map<string, string>()
      const onEnd = (id: string, kind: string, error?: { code: string }): void => {
        if (kind === 'reset' && !firstReset.has(id)) firstReset.set(id, error?.code ?? 'none')
      }
      a.socket.on('e', onEnd)
      let dialId: string | undefined
      const [err] = await new Promise<[{ code: string } | null]>((resolve, reject) => {
        // socket.io-client's timeout flag keeps the ack callback synchronous with the packet's read
        a.socket.timeout(REQUEST_TIMEOUT_MS).emit('ss-dial', a.address, b.address, (noAnswer: Error | null, err: { code: string } | null, result?: { dialId: string }) => {
          if (noAnswer != null) {
            reject(new Error(`ss-dial: ${noAnswer.message}`))
            return
          }
          if (result != null) {
            dialId = result.dialId
            // data in the same turn as the ack: the server must not answer it before the reset
            for (let n = 0; n < 4; n++) a.socket.emit('d', result.dialId, Buffer.alloc(1024))
          }
          resolve([err])
        })
      })
      if (err != null) {
        // the leave won before the accept was read: a failed dial, also a fine answer
        assert.equal(err.code, 'ERR_PEER_GONE')
      } else {
        const id = dialId as string
        await waitUntil(() => firstReset.has(id), 2000, 'the reset of the dial')
        assert.equal(firstReset.get(id), 'ERR_PEER_GONE')
      }
      a.socket.off('e', onEnd)
      await waitUntil(() => server.stats().dials === 0, 2000, 'the dial to be forgotten')
      // the leave is answered; join again for the next round
      await waitUntil(() => server.stats().peers === 1, 2000, 'the leave')
      await join(b.socket, b.peer, b.address)
    }
  })
})
