import { multiaddr } from '@multiformats/multiaddr'
import { defaultLogger } from '@libp2p/logger'
import { EndKind, Event } from '@wsstar/protocol'
import { RelayedConnection } from '../src/relayed-connection.js'
import type { FrameChannel } from '../src/relayed-connection.js'

/**
 * An in-process stand-in for the server's data plane between two relayed
 * connections: forwards frames asynchronously (like a socket would) and
 * enforces the credit rules of PROTOCOL.md like the server does.
 */
export class FakeRelay {
  readonly window: number
  readonly maxFrame: number
  /** per direction: bytes forwarded and not yet credited back */
  readonly inFlight = { ab: 0, ba: 0 }
  readonly maxInFlight = { ab: 0, ba: 0 }
  readonly frames: Array<{ from: 'a' | 'b', event: string, args: unknown[] }> = []
  readonly ended = new Set<'a' | 'b'>()
  violations: string[] = []
  a: RelayedConnection
  b: RelayedConnection

  constructor (window = 256 * 1024, maxFrame = 16 * 1024, closeTimeout = 2000) {
    this.window = window
    this.maxFrame = maxFrame
    const dialId = 'AAAAAAAAAAAAAAAAAAAAAA'
    const logger = defaultLogger()
    const channel = (from: 'a' | 'b'): FrameChannel => ({
      sendFrame: (event, ...args) => {
        this.frames.push({ from, event, args })
        setImmediate(() => { this.#deliver(from, event, args) })
      },
      endDial: () => { this.ended.add(from) }
    })
    this.a = new RelayedConnection({ dialId, channel: channel('a'), window, maxFrame, closeTimeout, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star'), direction: 'outbound', log: logger.forComponent('test:a') })
    this.b = new RelayedConnection({ dialId, channel: channel('b'), window, maxFrame, closeTimeout, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1/ws/p2p-websocket-star'), direction: 'inbound', log: logger.forComponent('test:b') })
  }

  #deliver (from: 'a' | 'b', event: string, args: unknown[]): void {
    const to = from === 'a' ? this.b : this.a
    const dir = from === 'a' ? 'ab' : 'ba'
    const back = from === 'a' ? 'ba' : 'ab'
    if (event === Event.DATA) {
      const bytes = args[1] as Uint8Array
      if (bytes.byteLength > this.maxFrame) this.violations.push(`frame of ${bytes.byteLength} bytes`)
      this.inFlight[dir] += bytes.byteLength
      this.maxInFlight[dir] = Math.max(this.maxInFlight[dir], this.inFlight[dir])
      if (this.inFlight[dir] > this.window) {
        this.violations.push(`${from} exceeded its credit: ${this.inFlight[dir]}`)
        this.a.onEndFrame(EndKind.RESET, { code: 'ERR_FLOW_CONTROL', message: 'credit' })
        this.b.onEndFrame(EndKind.RESET, { code: 'ERR_FLOW_CONTROL', message: 'credit' })
        return
      }
      to.onDataFrame(bytes)
    } else if (event === Event.CREDIT) {
      const n = args[1] as number
      if (n > this.inFlight[back]) this.violations.push(`${from} granted ${n} with ${this.inFlight[back]} in flight`)
      this.inFlight[back] -= n
      to.onCreditFrame(n)
    } else if (event === Event.END) {
      to.onEndFrame(args[1] as EndKind, args[2] as any)
    }
  }
}
