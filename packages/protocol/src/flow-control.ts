/** Largest payload of one `d` frame. Bigger writes are split by the sender. */
export const MAX_FRAME_BYTES = 64 * 1024

/**
 * Default per-direction credit window: bytes a sender may have in flight
 * (sent but not yet credited back by the receiver). The server states the
 * window it enforces in its join ack, so clients never guess.
 */
export const DEFAULT_WINDOW_BYTES = 1024 * 1024

/** Smallest and largest window a server may be configured with. */
export const MIN_WINDOW_BYTES = MAX_FRAME_BYTES
export const MAX_WINDOW_BYTES = 64 * 1024 * 1024

/**
 * Receivers batch credit grants: one `c` frame once this fraction of the
 * window has been consumed, instead of one per data frame.
 */
export const CREDIT_BATCH_FRACTION = 0.25

/** Bytes of credit a receiver should grant at once for a given window. */
export function creditBatchBytes (window: number): number {
  return Math.max(1, Math.floor(window * CREDIT_BATCH_FRACTION))
}
