#!/usr/bin/env -S node --max-semi-space-size=16
// --max-semi-space-size=16 (MiB): V8's young generation otherwise grows to
// 128 MiB under join bursts and idle heartbeats and keeps it, 13 KiB per peer
// at 10,000 peers; capped, joins/s stayed within the run-to-run spread
// (bench/README.md, memory). npm start and the Dockerfile pass it too.
/**
 * `wsstar-rendezvous`: runs a rendezvous server with the in-memory registry,
 * or in cluster mode (`--redis-url`) with the Redis registry and adapter.
 * Flags mirror the server options; every flag has a WSSTAR_* env var.
 * SIGTERM / SIGINT stop it gracefully (exit 0); a second signal exits at once.
 * SIGHUP reloads the TLS certificate and key (--tls-cert / --tls-key) and
 * a private server's token file or allow list (--auth).
 */
import { BUILD_INFO } from './runtime/build-info.js'
import { cliLogger } from './cli-logger.js'
import { CliUsageError, helpText, parseCli } from './cli-options.js'
import { createRendezvousServer } from './server.js'
import type { CliConfig } from './cli-options.js'

// before the env vars are read: a bad WSSTAR_* must not hide the help
const argv = process.argv.slice(2)
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(helpText())
  process.exit(0)
}
if (argv.includes('--version')) {
  process.stdout.write(`${BUILD_INFO.version}\n`)
  process.exit(0)
}

let config: CliConfig
try {
  config = parseCli(argv, process.env)
} catch (err) {
  if (err instanceof CliUsageError) {
    process.stderr.write(`wsstar-rendezvous: ${err.message}\nRun wsstar-rendezvous --help for the options.\n`)
    process.exit(2)
  }
  throw err
}

const logger = cliLogger({ level: config.logLevel, pretty: process.stdout.isTTY === true })
const server = createRendezvousServer({ ...config.options, logger })

process.on('uncaughtException', (err) => {
  logger.fatal({ err }, 'uncaught exception')
  logger.flush()
  process.exit(1)
})
process.on('unhandledRejection', (err) => {
  logger.fatal({ err }, 'unhandled rejection')
  logger.flush()
  process.exit(1)
})

let stopping = false
function onSignal (signal: NodeJS.Signals): void {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting without waiting')
    logger.flush()
    process.exit(1)
  }
  stopping = true
  logger.info({ signal }, 'signal received: stopping gracefully')
  server.stop().then(() => {
    logger.flush()
    process.exit(0)
  }, (err: unknown) => {
    logger.error({ err }, 'stop failed')
    logger.flush()
    process.exit(1)
  })
}
process.on('SIGTERM', onSignal)
process.on('SIGINT', onSignal)
// a renewed certificate: new connections get it, open ones keep theirs; a
// private server's token file or allow list: new sockets and joins are checked against it
process.on('SIGHUP', () => {
  const authFile = config.options.auth?.tokensFile ?? config.options.auth?.allowListFile
  if (config.options.tlsCert == null && authFile == null) {
    logger.info('SIGHUP: no --tls-cert and no auth file to reload')
    return
  }
  if (config.options.tlsCert != null) {
    server.reloadTls().catch((err: unknown) => {
      logger.error({ err }, 'TLS reload failed; still serving the previous certificate')
    })
  }
  if (authFile != null) {
    server.reloadAuth().catch((err: unknown) => {
      logger.error({ err }, 'auth reload failed; the previous tokens or peer ids stay in use')
    })
  }
})

try {
  await server.start()
} catch (err) {
  logger.fatal({ err }, `cannot listen on ${config.options.host ?? ''}:${config.options.port ?? ''}`)
  logger.flush()
  process.exit(1)
}
