/** Stream helpers for libp2p 3 streams (MessageStreams: send/onDrain, async iteration). */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
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

/**
 * Stream handler that hashes everything it reads and answers `<sha256 hex> <byte count>`:
 * the sender compares instead of holding a second copy of a large transfer.
 */
export async function hashingSink (stream: Stream): Promise<void> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    hash.update(chunk.subarray())
    bytes += chunk.byteLength
  }
  stream.send(new TextEncoder().encode(`${hash.digest('hex')} ${bytes}`))
  await stream.close()
}

/**
 * Sends `size` random bytes over `stream` to a hashingSink (or a sink that
 * answers the same way), half-closes, and checks the sha256 and byte count it
 * answers.
 */
export async function transferVerified (stream: Stream, size: number): Promise<void> {
  const data = randomBytes(size)
  const reply = readAll(stream)
  await writeAll(stream, data)
  await stream.close({ signal: AbortSignal.timeout(30_000) })
  const [hash, bytes] = (await reply).toString().split(' ')
  assert.equal(Number(bytes), size)
  assert.equal(hash, createHash('sha256').update(data).digest('hex'))
}
