import { BATCH } from './cluster-messages.js'

/**
 * The SPUBLISH commands of the cluster link, as RESP bytes, their channel
 * message framed as cluster-messages.ts describes (and decodes).
 */

/** Messages at least this big go out as their parts (framing + the bodies' own buffers), not copied into one buffer. */
export const GATHER_MIN_BYTES = 16 * 1024

export interface SpublishMessages {
  /** message types (1 byte each, never BATCH) */
  types: number[]
  /** dial ids, latin1, < 256 chars */
  ids: string[]
  bodies: Array<string | Uint8Array>
  /** byte length of each body */
  bodyLengths: number[]
  /** Σ (6 + id length + body length) */
  bytes: number
}

/**
 * `SPUBLISH <channel> <message>` for `messages`, as buffers to write in
 * order. Below `gatherMinBytes` one buffer with everything copied in; above,
 * one buffer holds the RESP head and every header and id, and each body is
 * its own part, uncopied.
 */
export function encodeSpublish (channel: string, messages: SpublishMessages, gatherMinBytes = GATHER_MIN_BYTES): Buffer[] {
  const { types, ids, bodies, bodyLengths } = messages
  const single = types.length === 1
  let bodyBytes = 0
  for (const n of bodyLengths) {
    bodyBytes += n
  }
  // a single message has no batch byte and no body lengths
  const headerBytes = single ? 2 + ids[0].length : 1 + messages.bytes - bodyBytes
  const messageLength = headerBytes + bodyBytes
  const head = `*3\r\n$8\r\nSPUBLISH\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n$${messageLength}\r\n`
  const headLength = Buffer.byteLength(head)
  const gather = messages.bytes >= gatherMinBytes
  const out = Buffer.allocUnsafe(headLength + headerBytes + (gather ? 0 : bodyBytes) + 2)
  out.write(head, 0)
  let at = headLength
  if (!single) {
    out[at++] = BATCH
  }
  const parts: Buffer[] = []
  let from = 0
  for (let i = 0; i < types.length; i++) {
    out[at] = types[i]
    out[at + 1] = ids[i].length
    at += 2
    if (!single) {
      out.writeUInt32BE(bodyLengths[i], at)
      at += 4
    }
    out.write(ids[i], at, 'latin1')
    at += ids[i].length
    const body = bodies[i]
    if (bodyLengths[i] === 0) {
      continue
    }
    if (gather) {
      parts.push(out.subarray(from, at))
      from = at
      parts.push(typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength))
    } else {
      if (typeof body === 'string') {
        out.write(body, at)
      } else {
        out.set(body, at)
      }
      at += bodyLengths[i]
    }
  }
  out[at] = 13
  out[at + 1] = 10
  parts.push(out.subarray(from, at + 2))
  return parts
}
