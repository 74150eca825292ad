/**
 * Requests: an event emitted with an ack, answered `(error, result)` by the
 * server (docs/PROTOCOL.md). Each waits at most a bounded time, and fails at
 * once when the socket disconnects (socket.io-client's `timeout()` flag does
 * both), so a request the server never answers fails the test instead of
 * hanging it.
 */
import type { Socket } from 'socket.io-client'

/**
 * how long a request waits for its answer: longer than the server's default
 * dial timeout (10 s), so that a dial the server fails at its own timeout is
 * answered ERR_DIAL_TIMEOUT rather than lost here
 */
export const REQUEST_TIMEOUT_MS = 15_000

/** an error as the server answers it (a test may see any code, so not narrowed to ErrorCode) */
export interface WireErr { code: string, message: string }

/** A request that got no answer: `reason` says whether time ran out or the socket went away. */
export class NoAnswer extends Error {
  static override name = 'NoAnswer'
  readonly reason: 'timeout' | 'disconnected'

  constructor (message: string, reason: 'timeout' | 'disconnected') {
    super(message)
    this.name = 'NoAnswer'
    this.reason = reason
  }
}

/** A request the server answered with an error: its `code` and `message` as sent, and the `event` asked. */
export class RequestFailed extends Error {
  static override name = 'RequestFailed'
  readonly code: string
  readonly event: string

  constructor (event: string, error: WireErr) {
    super(error.message)
    this.name = 'RequestFailed'
    this.code = error.code
    this.event = event
  }
}

/** Emits with an ack; resolves `[error, result]` as the server answered. Rejects with NoAnswer after `timeoutMs`. */
export async function requestWithin (timeoutMs: number, socket: Socket, event: string, ...args: unknown[]): Promise<[WireErr | null, any]> {
  return await new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, ...args, (noAnswer: Error | null, err: WireErr | null, result: unknown) => {
      if (noAnswer == null) {
        resolve([err ?? null, result])
        return
      }
      const disconnected = noAnswer.message.includes('disconnected')
      reject(new NoAnswer(disconnected ? `socket disconnected while waiting for the answer to ${event}` : `no answer to ${event} within ${timeoutMs} ms`, disconnected ? 'disconnected' : 'timeout'))
    })
  })
}

/** `requestWithin` REQUEST_TIMEOUT_MS. */
export async function request (socket: Socket, event: string, ...args: unknown[]): Promise<[WireErr | null, any]> {
  return await requestWithin(REQUEST_TIMEOUT_MS, socket, event, ...args)
}

/** The result of a request that must succeed; throws RequestFailed (with the `code`) when it did not. */
export async function resultOf (socket: Socket, event: string, ...args: unknown[]): Promise<any> {
  const [err, result] = await request(socket, event, ...args)
  if (err != null) throw new RequestFailed(event, err)
  return result
}

/** The error code a request was answered with (undefined when it succeeded). */
export async function errorCode (socket: Socket, event: string, ...args: unknown[]): Promise<string | undefined> {
  const [err] = await request(socket, event, ...args)
  return err?.code
}
