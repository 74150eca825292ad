import { pino } from 'pino'
import PinoPretty from 'pino-pretty'
import type { DestinationStream, Logger } from 'pino'

export interface CliLoggerOptions {
  level: string
  /** human-readable lines (pino-pretty) instead of JSON; the CLI: when stdout is a terminal */
  pretty: boolean
  /** default: stdout */
  destination?: DestinationStream
}

/**
 * The CLI's logger: JSON lines for log collectors, or coloured one-line
 * records for a person at a terminal. Both write synchronously on the
 * server's thread, so the last lines before an exit are never lost.
 */
export function cliLogger (options: CliLoggerOptions): Logger {
  const base = { name: 'wsstar-rendezvous', level: options.level }
  if (!options.pretty) {
    return options.destination == null ? pino(base) : pino(base, options.destination)
  }
  return pino(base, PinoPretty({
    sync: true,
    colorize: options.destination == null && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    ...(options.destination == null ? {} : { destination: options.destination })
  }))
}
