import { readFileSync } from 'node:fs'

/**
 * The process's open-file limit (its soft `RLIMIT_NOFILE`), read from
 * `/proc/self/limits`. Every socket is a file descriptor: past this limit
 * the kernel refuses accepts and the clients see only a broken websocket.
 * Undefined where the limit cannot be read (not Linux) or is unlimited.
 *
 * @param limitsText the text of `/proc/self/limits` (tests); default: read it
 */
export function openFileLimit (limitsText?: string): number | undefined {
  let text = limitsText
  if (text == null) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8')
    } catch {
      return undefined
    }
  }
  // "Max open files            20000                20000                files"
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text)
  if (match == null) {
    return undefined
  }
  const soft = Number(match[1])
  return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined
}

/**
 * How many engine.io connections the server takes before it refuses more at
 * connect: the open-file limit less what the server keeps for itself
 * (`fdReserve`: its listeners, Redis, worker threads, log files, and the
 * sockets accepted but not yet refused). Infinity when the limit is unknown.
 */
export function socketCeiling (limit: number | undefined, fdReserve: number): number {
  return limit == null ? Infinity : Math.max(0, limit - fdReserve)
}
