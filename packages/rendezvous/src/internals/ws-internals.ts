import * as ws from 'ws'

/**
 * The one module that reaches into ws past its typed API: `Sender.frame`,
 * which encodes one websocket frame (socket.io's own broadcast uses it for
 * the frames it writes with engine.io's `wsPreEncodedFrame`, see
 * engine-io-internals.ts). ws exports it, its type declarations do not.
 * ws is pinned to an exact version in package.json and
 * test/contracts/engine-io.test.ts reads frames made here through a real
 * engine.io server and socket.io client. Imports ws only.
 */

interface FrameOptions {
  fin: boolean
  opcode: number
  mask: boolean
  readOnly: boolean
  rsv1: boolean
}

const Sender = (ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }).Sender

/** A text frame (FIN, unmasked: server to client) holding `payload`, as one buffer. */
export function textFrame (payload: Buffer): Buffer {
  return Buffer.concat(textFrameParts(payload))
}

/** The same frame as its header and `payload` itself (not copied): for a frame written once. */
export function textFrameParts (payload: Buffer): Buffer[] {
  return Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false })
}
