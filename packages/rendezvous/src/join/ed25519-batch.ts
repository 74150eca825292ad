/**
 * The wire format between the server thread and its verification threads:
 * one transferable buffer per batch, so a batch costs one message each way
 * whatever its size. Item: u16 message length, 64-byte signature, 32-byte
 * public key, message.
 */
export const ITEM_HEADER_BYTES = 2 + 64 + 32
/** Join payloads are short (an address of at most 1 KiB plus a nonce); a u16 length is plenty. */
export const MAX_MESSAGE_BYTES = 0xffff

export interface VerifyItem {
  signature: Uint8Array
  message: Uint8Array
  publicKey: Uint8Array
}

export function packBatch (items: readonly VerifyItem[]): ArrayBuffer {
  let size = 0
  for (const item of items) {
    size += ITEM_HEADER_BYTES + item.message.byteLength
  }
  const buffer = new ArrayBuffer(size)
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  let offset = 0
  for (const { signature, message, publicKey } of items) {
    view.setUint16(offset, message.byteLength)
    bytes.set(signature, offset + 2)
    bytes.set(publicKey, offset + 66)
    bytes.set(message, offset + ITEM_HEADER_BYTES)
    offset += ITEM_HEADER_BYTES + message.byteLength
  }
  return buffer
}

/** Calls `fn` on each packed item, in order; returns one byte per item (1 valid, 0 not). */
export function verifyBatch (buffer: ArrayBuffer, count: number, fn: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean): Uint8Array {
  const results = new Uint8Array(count)
  const view = new DataView(buffer)
  let offset = 0
  for (let i = 0; i < count; i++) {
    const length = view.getUint16(offset)
    const signature = new Uint8Array(buffer, offset + 2, 64)
    const publicKey = new Uint8Array(buffer, offset + 66, 32)
    const message = new Uint8Array(buffer, offset + ITEM_HEADER_BYTES, length)
    results[i] = fn(signature, message, publicKey) ? 1 : 0
    offset += ITEM_HEADER_BYTES + length
  }
  return results
}
