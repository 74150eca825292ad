import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { EndKind, Event, WsStarError } from '@wsstar/protocol'
import { ReceiveCredit, SendCredit } from './credit-window.js'
import { FlowControlError } from './errors.js'
import { registerRelayedConnection } from './relayed-connection-registry.js'
import type { AbortOptions } from '@libp2p/interface'
import type { AbstractMultiaddrConnectionInit, SendResult } from '@libp2p/utils'
import type { WireError } from '@wsstar/protocol'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a relayed connection needs from the socket it runs over. */
export interface FrameChannel {
  /** Emits a data-plane frame (`d`, `c`, `e`); throws when the socket is not connected. */
  sendFrame(event: typeof Event.DATA | typeof Event.CREDIT | typeof Event.END, ...args: unknown[]): void
  /** The dial is over: forget its id and stop routing frames to it. */
  endDial(dialId: string): void
}

/** Frames of one dial, routed to it by the socket's dispatcher. */
export interface DialEndpoint {
  onDataFrame(bytes: Uint8Array): void
  onCreditFrame(bytes: number): void
  onEndFrame(kind: EndKind, error?: WireError): void
  /** the socket dropped (`local` false) or this node is shutting the server connection down (`local` true) */
  onTransportLost(err: Error, local: boolean): void
}

export interface RelayedConnectionInit extends Omit<AbstractMultiaddrConnectionInit, 'maxMessageSize'> {
  dialId: string
  channel: FrameChannel
  /** per-direction credit window the server enforces */
  window: number
  /** largest `d` payload */
  maxFrame: number
  /** how long to wait for the other end's `close-write` after ours, ms */
  closeTimeout: number
}

/** Default AbstractMessageStream read buffer limit; raised to fit a larger server window. */
const MIN_READ_BUFFER = 4 * 1024 * 1024

/**
 * A libp2p MultiaddrConnection over one relayed dial.
 *
 * - `sendData` splits writes into `d` frames of at most `maxFrame` bytes and
 *   spends credit; without credit it reports `canSendMore: false`, and the
 *   `drain` event fires when a `c` frame returns credit.
 * - Incoming `d` frames go to `onData`. Credit is granted back (in batches)
 *   only for bytes that left the read buffer, i.e. that the application
 *   consumed: while the stream is paused, or nobody reads, no credit flows,
 *   and the remote sender waits.
 * - `close()` flushes, sends `e close-write` and waits (bounded) for the
 *   other end's; `abort()` sends `e reset`. A remote `close-write` closes
 *   this end too (a MultiaddrConnection close is a whole-connection close,
 *   as on WebSockets); a remote `reset` resets it.
 */
export class RelayedConnection extends AbstractMultiaddrConnection implements DialEndpoint {
  readonly dialId: string
  readonly #channel: FrameChannel
  readonly #send: SendCredit
  readonly #receive: ReceiveCredit
  readonly #maxFrame: number
  readonly #closeTimeout: number
  #localCloseWrite = false
  #remoteCloseWrite = false
  #ended = false
  #closeTimer?: ReturnType<typeof setTimeout>
  /** payload bytes sent and received through the server on this dial */
  bytesSent = 0
  bytesReceived = 0

  constructor (init: RelayedConnectionInit) {
    super({
      ...init,
      maxMessageSize: init.maxFrame,
      maxReadBufferLength: Math.max(init.maxReadBufferLength ?? MIN_READ_BUFFER, init.window + init.maxFrame)
    })
    this.dialId = init.dialId
    this.#channel = init.channel
    this.#send = new SendCredit(init.window)
    this.#receive = new ReceiveCredit(init.window)
    this.#maxFrame = init.maxFrame
    this.#closeTimeout = init.closeTimeout
    registerRelayedConnection(this)
  }

  /** Bytes this end may still send before it has to wait for credit. */
  get sendCredit (): number {
    return this.#send.available
  }

  /** True once the dial is forgotten on this side (both directions closed, or reset). */
  get ended (): boolean {
    return this.#ended
  }

  sendData (data: Uint8ArrayList): SendResult {
    let sentBytes = 0
    while (sentBytes < data.byteLength && this.#send.available > 0) {
      const n = Math.min(this.#maxFrame, this.#send.available, data.byteLength - sentBytes)
      const frame = data.subarray(sentBytes, sentBytes + n)
      this.#channel.sendFrame(Event.DATA, this.dialId, frame)
      this.#send.spend(n)
      sentBytes += n
    }
    this.bytesSent += sentBytes
    return { sentBytes, canSendMore: this.#send.available > 0 }
  }

  sendReset (err: Error): void {
    if (this.#ended) {
      return
    }
    const wire = err instanceof WsStarError ? err.toWire() : undefined
    try {
      if (wire != null) {
        this.#channel.sendFrame(Event.END, this.dialId, EndKind.RESET, wire)
      } else {
        this.#channel.sendFrame(Event.END, this.dialId, EndKind.RESET)
      }
    } finally {
      this.#end()
    }
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    if (this.#ended || this.#localCloseWrite) {
      return
    }
    this.#localCloseWrite = true
    try {
      this.#channel.sendFrame(Event.END, this.dialId, EndKind.CLOSE_WRITE)
    } catch (err) {
      this.log('could not send close-write - %e', err)
      this.#end()
      return
    }
    if (this.#remoteCloseWrite) {
      this.#end()
      return
    }
    // keep routing frames (and granting credit, so the remote can flush and
    // close) until the remote's close-write; reset the dial if it never comes
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined
      if (!this.#ended) {
        this.log('remote did not close its end within %d ms, resetting the dial', this.#closeTimeout)
        this.sendReset(new Error('close timeout'))
      }
    }, this.#closeTimeout)
    options?.signal?.throwIfAborted()
  }

  sendPause (): void {
    // nothing to send: credit is only granted for consumed bytes, so a paused
    // read buffer stops the remote sender by itself
  }

  sendResume (): void {
    // resume() has already dispatched the read buffer; grant what is now due
    this.#grantCredit()
  }

  protected override dispatchReadBuffer (): void {
    super.dispatchReadBuffer()
    this.#grantCredit()
  }

  onDataFrame (bytes: Uint8Array): void {
    if (this.#ended) {
      return
    }
    if (this.#remoteCloseWrite) {
      this.abort(new FlowControlError('data after close-write'))
      return
    }
    try {
      this.#receive.receive(bytes.byteLength)
    } catch (err: any) {
      this.abort(err)
      return
    }
    this.bytesReceived += bytes.byteLength
    if (this.readStatus === 'closed' || this.readStatus === 'closing') {
      // our reading end is gone (local close): drop the bytes but keep the
      // credit flowing so the remote can finish and send its close-write
      this.#grantCredit()
      return
    }
    this.onData(bytes)
    this.#grantCredit()
  }

  onCreditFrame (bytes: number): void {
    if (this.#ended) {
      return
    }
    this.#send.grant(bytes)
    if (this.writableNeedsDrain && this.#send.available > 0) {
      this.safeDispatchEvent('drain')
    }
  }

  onEndFrame (kind: EndKind, error?: WireError): void {
    if (this.#ended) {
      return
    }
    if (kind === EndKind.RESET) {
      this.log('remote reset the dial%s', error != null ? ` (${error.code}: ${error.message})` : '')
      this.#end()
      this.onRemoteReset()
      return
    }
    if (this.#remoteCloseWrite) {
      return
    }
    this.#remoteCloseWrite = true
    this.onRemoteCloseWrite()
    if (this.#localCloseWrite) {
      this.#end()
      return
    }
    // the remote closed the connection: finish sending what we have, then close our end too
    if (this.status === 'open') {
      const signal = AbortSignal.timeout(this.#closeTimeout)
      this.close({ signal }).catch((err: Error) => {
        this.abort(err)
      })
    }
  }

  onTransportLost (err: Error, local: boolean): void {
    if (this.#ended) {
      return
    }
    if (local) {
      // the server connection is being closed by us: tell the remote, then go
      this.abort(err)
      this.#end()
      return
    }
    this.log('socket to the rendezvous server lost - %e', err)
    this.#end()
    this.onRemoteReset()
  }

  #grantCredit (): void {
    if (this.#ended || this.#remoteCloseWrite) {
      return
    }
    const due = this.#receive.consume(this.readBufferLength)
    if (due > 0) {
      try {
        this.#channel.sendFrame(Event.CREDIT, this.dialId, due)
      } catch (err: any) {
        this.log('could not send credit - %e', err)
      }
    }
  }

  #end (): void {
    if (this.#ended) {
      return
    }
    this.#ended = true
    if (this.#closeTimer != null) {
      clearTimeout(this.#closeTimer)
      this.#closeTimer = undefined
    }
    this.#channel.endDial(this.dialId)
  }
}
