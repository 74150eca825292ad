/** Stream helpers for libp2p 3 streams (MessageStreams: send/onDrain, async iteration). */
import type { Stream } from '@libp2p/interface'

/** Writes `data` in `chunk`-sized sends, waiting for drain when the stream says so. */
export async function writeAll (stream: Stream, data: Uint8Array, chunk = 64 * 1024, timeoutMs = 30_000): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += chunk) {
    if (!stream.send(data.subarray(offset, offset + chunk))) {
      await stream.onDrain({ signal: AbortSignal.timeout(timeoutMs) })
    }
  }
}

/** Reads the stream to its end. */
export async function readAll (stream: Stream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) {
    chunks.push(Buffer.from(chunk.subarray()))
  }
  return Buffer.concat(chunks)
}
