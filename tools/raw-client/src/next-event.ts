/** Waiting for something the server sends, bounded in time. */
import type { Socket } from 'socket.io-client'

/** how long `nextEvent` waits by default */
export const EVENT_TIMEOUT_MS = 5000

/** Resolves with the args of the next `event` on `socket` that satisfies `match`; rejects after `timeoutMs`. */
export async function nextEvent (socket: Socket, event: string, match: (...args: any[]) => boolean = () => true, timeoutMs = EVENT_TIMEOUT_MS): Promise<any[]> {
  return await new Promise((resolve, reject) => {
    const listener = (...args: any[]): void => {
      if (match(...args)) {
        clearTimeout(timer)
        socket.off(event, listener)
        resolve(args)
      }
    }
    const timer = setTimeout(() => {
      socket.off(event, listener)
      reject(new Error(`no ${event} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on(event, listener)
  })
}
