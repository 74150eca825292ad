import { Command } from 'ioredis'
import type { Redis } from 'ioredis'

/**
 * The one module that relies on how ioredis writes a command, beyond its
 * documented API: `Command.toWritable(stream)` is called with the
 * connection's socket, and what it returns is written to that socket right
 * after, in the same tick. ioredis is pinned to an exact version in
 * package.json and test/contracts/ioredis.test.ts checks this against a
 * real redis-server, so an upgrade that changes it fails a test. Imports
 * ioredis only.
 */

/** What ioredis hands `toWritable`: the connection's socket (we never pipeline). */
interface CorkableStream {
  write(chunk: Uint8Array): boolean
  cork(): void
  uncork(): void
}

function isCorkable (stream: unknown): stream is CorkableStream {
  const s = stream as Partial<CorkableStream> | null
  return s != null && typeof s.write === 'function' && typeof s.cork === 'function' && typeof s.uncork === 'function'
}

/**
 * A command sent as RESP bytes we encoded ourselves. One part is written as
 * it is. Several parts (a framing plus the frames' own buffers) are written
 * without a copy: all but the last here, inside a cork, and the last by
 * ioredis, leaving one `writev` (at 64 KiB per data frame, the copy and its
 * allocation were what the cross-node path's garbage collector spent most
 * on). A stream that cannot be corked gets one concatenated buffer.
 */
class EncodedCommand extends Command {
  readonly #parts: Buffer[]

  constructor (name: string, parts: Buffer[]) {
    super(name, [])
    this.#parts = parts
  }

  override toWritable (stream?: unknown): Buffer {
    const parts = this.#parts
    if (parts.length === 1) {
      return parts[0]
    }
    if (!isCorkable(stream)) {
      return Buffer.concat(parts)
    }
    stream.cork()
    for (let i = 0; i < parts.length - 1; i++) {
      stream.write(parts[i])
    }
    process.nextTick(() => { stream.uncork() })
    return parts[parts.length - 1]
  }
}

/**
 * Sends one command already encoded as RESP (`parts`, in order) on `redis`
 * and resolves with its reply. `name` is the command's name, for ioredis's
 * own bookkeeping (offline queue, subscriber mode), in lower case.
 */
export function sendEncodedCommand (redis: Redis, name: string, parts: Buffer[]): Promise<unknown> {
  const command = new EncodedCommand(name, parts)
  redis.sendCommand(command)
  return command.promise
}
