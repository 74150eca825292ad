import { ErrorCode, WsStarError } from '@wsstar/protocol'
import type { WireError } from '@wsstar/protocol'

/** What a refused socket, join or dial is told once the server is stopping, and what `ss-shutdown` says. */
export const SHUTTING_DOWN: WireError = { code: ErrorCode.SHUTTING_DOWN, message: 'the server is shutting down' }

/**
 * Whether the server is stopping: the one flag that the admission of new
 * sockets, joins, dials (here and from other replicas) and legacy requests
 * read. Set once by `stop()`, never cleared. Imports the protocol only.
 */
export class ShutdownGuard {
  #stopping = false

  get stopping (): boolean {
    return this.#stopping
  }

  /** `stop()` began: everything new is refused from now on. */
  begin (): void {
    this.#stopping = true
  }

  /** Throws ERR_SHUTTING_DOWN once the server is stopping. */
  check (): void {
    if (this.#stopping) {
      throw new WsStarError(SHUTTING_DOWN.code, SHUTTING_DOWN.message)
    }
  }
}
