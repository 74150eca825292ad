import { MAX_FRAME_BYTES } from '@wsstar/protocol'
import { FRAME_COST } from '../session/outgoing-backlog.js'
import type { Dial, DialDirection } from '../dial/dial.js'
import type { DialEnd } from '../dial/dial-end.js'

/**
 * How long after its last data frame a dial still counts as sending to its
 * receiver: longer than the gaps of an interactive exchange (a round trip),
 * short enough that a bulk transfer gets its whole window back soon after
 * the others went quiet.
 */
export const ACTIVE_MS = 1000

/**
 * What a dial may keep on its way to a shared receiver beyond the largest
 * credit the receiver granted on it: two frames, so the credit for one batch
 * is back before the rest is read.
 */
export const SHARE_SLACK_BYTES = 2 * MAX_FRAME_BYTES

/**
 * Fair sharing of one receiver among the dials that send to it.
 *
 * The frames the server relays to a socket queue where nothing can reorder
 * them: in the kernel's socket buffers on both sides and in the receiver's
 * own reading. Each dial may have a whole window there, so a small frame on
 * one dial would reach the receiver behind up to a window of another's bulk
 * data. While another dial sends to the same receiver (a data frame within
 * ACTIVE_MS), a dial therefore keeps no more than its share on the way: the
 * largest credit the receiver has granted on it plus SHARE_SLACK_BYTES. The
 * frames its sender sends beyond (within the credit it already has, so no
 * more than its window) wait on the server, in order, and go out as the
 * receiver grants credit for what it read. A dial alone keeps its whole
 * window, as before; a dial the receiver has not granted credit on yet too.
 *
 * The share is never below what the receiver grants at once, so a receiver
 * that grants in batches of a steady size (the reference client: a quarter
 * of the window) always gets enough to grant the next one.
 */
export class FairShare {
  readonly #window: number

  constructor (window: number) {
    this.#window = window
  }

  /** What `direction` may keep on its way to its receiver while it shares it. */
  share (direction: DialDirection): number {
    return direction.maxGrant === 0 ? this.#window : Math.min(this.#window, direction.maxGrant + SHARE_SLACK_BYTES)
  }

  /**
   * Whether a frame of `direction` (counted in its `inFlight` already) waits
   * on the server: behind frames that wait already, or past its share while
   * another dial sends to the receiver.
   */
  holds (dial: Dial, direction: DialDirection, now: number): boolean {
    if (direction.queue !== undefined) {
      return true
    }
    return direction.inFlight > this.share(direction) && this.shared(dial, direction.to, now)
  }

  /** Whether another dial sent data to `receiver` within ACTIVE_MS. */
  shared (dial: Dial, receiver: DialEnd, now: number): boolean {
    for (const other of receiver.dials) {
      if (other !== dial && now - (other.receivingOf(receiver)?.lastFrameAt ?? -Infinity) < ACTIVE_MS) {
        return true
      }
    }
    return false
  }

  /** Queues a frame of `direction` on the server; its cost counts against the receiver's bound. */
  hold (direction: DialDirection, bytes: Uint8Array): void {
    const queue = direction.queue ??= []
    queue.push(bytes)
    direction.queuedBytes += bytes.byteLength
    direction.to.heldCost += bytes.byteLength + FRAME_COST
  }

  /**
   * Sends what waits on `direction` as far as its share allows now (all of
   * it once no other dial sends to the receiver). True when nothing is left.
   */
  drain (dial: Dial, direction: DialDirection, now: number): boolean {
    const queue = direction.queue
    if (queue === undefined) {
      return true
    }
    const receiver = direction.to
    const share = this.share(direction)
    let shared: boolean | undefined
    let sent = 0
    while (sent < queue.length) {
      const bytes = queue[sent]
      if (direction.inFlight - direction.queuedBytes + bytes.byteLength > share && (shared ??= this.shared(dial, receiver, now))) {
        break
      }
      sent++
      direction.queuedBytes -= bytes.byteLength
      receiver.heldCost -= bytes.byteLength + FRAME_COST
      receiver.sendData(dial.id, bytes)
    }
    if (sent === queue.length) {
      direction.queue = undefined
      return true
    }
    queue.splice(0, sent)
    return false
  }

  /** Forgets what waits on `direction` (its dial is over). */
  drop (direction: DialDirection): void {
    const queue = direction.queue
    if (queue !== undefined) {
      direction.to.heldCost -= direction.queuedBytes + queue.length * FRAME_COST
      direction.queue = undefined
      direction.queuedBytes = 0
    }
  }
}
