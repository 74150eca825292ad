import type { Dial } from './dial.js'
import type { EndKind, WireError } from '@wsstar/protocol'

/**
 * One end of a dial, as the relay and the dial router see it: a socket of
 * this server (`Session`) or, in a cluster, a callee held by another
 * replica (`RemoteEnd`). Frames to an end go through its `send*` methods,
 * which say the frame, never the transport. Imports types only.
 */
export interface DialEnd {
  /** names the end in logs and rejection counts */
  readonly id: string
  /** false once the end is gone: nothing more is sent to it */
  readonly connected: boolean
  /** the dials this end takes part in, pending or open */
  readonly dials: Set<Dial>
  /** cost of the data frames the relay holds for this end (relay/fair-share.ts), by FRAME_COST each plus their bytes: within `hasRoomFor`'s bound */
  heldCost: number
  /** answers to stray frames from this end (ERR_DIAL_NOT_FOUND), rate limited */
  readonly strayBucket: { take(): boolean }
  /**
   * Whether one more relayed data frame of `bytes` keeps what is queued
   * for this end within `maxBuffered` (see Relay.onData).
   */
  hasRoomFor(bytes: number, maxBuffered: number): boolean
  /**
   * this end sent `bytes` of payload that the relay passes on: a socket
   * counts them and charges its relay rate; a remote end's own replica did
   */
  sentData(bytes: number): void
  /** a `d` frame: bytes of dial `dialId` for this end */
  sendData(dialId: string, bytes: Uint8Array): void
  /** a `c` frame: the other end read `bytes` more */
  sendCredit(dialId: string, bytes: number): void
  /** an `e` frame: close-write or reset, with the reason when there is one */
  sendEnd(dialId: string, kind: EndKind, error?: WireError): void
  /** the relay forgot dial `dialId` (closed or reset): a remote end tells its node; a socket drops the credit it held back for it */
  forgotten?(dialId: string): void
}
