// The wsstar rendezvous server as users run it: the `wsstar-rendezvous` CLI
// (packages/rendezvous/dist/src/cli.js) in a child process of its own, with
// limits given as CLI flags. Used by the raw-client scenarios (joins,
// discovery, dials): its CPU seconds and RSS come from /proc/<pid>, its
// peer/socket counts from GET /health and its event-loop lag from the
// prom-client `nodejs_eventloop_lag_*` gauges of GET /metrics on its admin listener (a
// monitorEventLoopDelay histogram that prom-client resets on every scrape,
// so each scrape covers the time since the previous one).

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { readCpuSeconds, readMemory, withTimeout } from './child.mjs'
import { LIMIT_NAMES } from '../../packages/rendezvous/dist/src/limits.js'

const rootDir = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
export const CLI_PATH = join(rootDir, 'packages', 'rendezvous', 'dist', 'src', 'cli.js')

/** The node flags of the CLI's shebang (`#!/usr/bin/env -S node --flag ...`): the server runs as `wsstar-rendezvous` would. */
export const CLI_NODE_FLAGS = readFileSync(CLI_PATH, 'utf8').split('\n', 1)[0].split(/\s+/).filter(f => f.startsWith('--'))

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freePort () {
  const srv = createServer()
  await new Promise(resolve => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address()
  await new Promise(resolve => srv.close(resolve))
  return port
}

/** `{ joinRate: 1e6 }` → `['--join-rate', '1000000']` (the CLI's names for the limits) */
export function limitFlags (limits = {}) {
  return Object.entries(limits).flatMap(([k, v]) => {
    if (LIMIT_NAMES[k] == null) throw new Error(`unknown limit ${k}`)
    return [`--${LIMIT_NAMES[k]}`, String(v)]
  })
}

export class CliServer {
  /**
   * `onStdoutLine`: called with each line the server writes to stdout (its
   * JSON log lines at `logLevel`, and what node flags such as --trace-gc-nvp
   * print there); without it stdout is dropped (or shown with `verbose`).
   *
   * @param {{ flags?: string[], limits?: object, execArgv?: string[], verbose?: boolean, name?: string, logLevel?: string, onStdoutLine?: (line: string) => void }} options
   */
  constructor ({ flags = [], limits = {}, execArgv = [], verbose = false, name = 'rendezvous', logLevel = 'warn', onStdoutLine } = {}) {
    this.flags = [...limitFlags(limits), ...flags]
    this.execArgv = execArgv
    this.verbose = verbose
    this.name = name
    this.logLevel = logLevel
    this.onStdoutLine = onStdoutLine
    this.stderrTail = []
  }

  /** The command line, for the results (flags only, no paths). */
  get commandLine () {
    return `wsstar-rendezvous${CLI_NODE_FLAGS.length > 0 ? ` (node ${CLI_NODE_FLAGS.join(' ')})` : ''} --host 127.0.0.1 --port ${this.port ?? '<port>'} --admin-port ${this.adminPort ?? '<port>'} --log-level ${this.logLevel} ${this.flags.join(' ')}`.trim()
  }

  async start () {
    this.port = await freePort()
    this.adminPort = await freePort()
    this.process = spawn(process.execPath, [...CLI_NODE_FLAGS, ...this.execArgv, CLI_PATH, '--host', '127.0.0.1', '--port', String(this.port), '--admin-port', String(this.adminPort), '--log-level', this.logLevel, ...this.flags], {
      stdio: ['ignore', this.onStdoutLine != null ? 'pipe' : this.verbose ? 'inherit' : 'ignore', 'pipe']
    })
    if (this.onStdoutLine != null) {
      createInterface({ input: this.process.stdout, crlfDelay: Infinity }).on('line', (line) => {
        if (this.verbose) process.stdout.write(`[${this.name}] ${line}\n`)
        this.onStdoutLine(line)
      })
    }
    return await this.awaitStart()
  }

  /** Watches the spawned process and waits for /health (20 s at most). */
  async awaitStart () {
    this.pid = this.process.pid
    this.exited = false
    this.exitPromise = new Promise(resolve => this.process.once('exit', (code, signal) => { this.exited = true; resolve({ code, signal }) }))
    process.once('exit', () => { try { this.process.kill('SIGKILL') } catch { /* already gone */ } })
    this.process.stderr.setEncoding('utf8')
    this.process.stderr.on('data', (text) => {
      if (this.verbose) process.stderr.write(`[${this.name}] ${text}`)
      this.stderrTail.push(...text.split('\n').filter(Boolean))
      if (this.stderrTail.length > 40) this.stderrTail.splice(0, this.stderrTail.length - 40)
    })
    const deadline = Date.now() + 20_000
    while (true) {
      if (this.exited) throw new Error(`${this.name} exited on start: ${this.stderrTail.join('\n')}`)
      try {
        await this.health()
        break
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${this.name} not answering /health: ${err.message}`, { cause: err })
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
    this.url = `http://127.0.0.1:${this.port}`
    return this
  }

  async health () {
    const res = await fetch(`http://127.0.0.1:${this.port}/health`)
    return res.json()
  }

  /** Prometheus text → { name: value } for unlabelled samples (and `name{labels}` keys for labelled ones). */
  async metrics () {
    return (await this.scrape()).values
  }

  /** One GET /metrics: its values (as `metrics()`) and how long it took, from sending the request to the last byte of the answer, in ms. */
  async scrape () {
    const t0 = performance.now()
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/metrics`)
    const text = await res.text()
    const ms = performance.now() - t0
    const values = {}
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const i = line.lastIndexOf(' ')
      values[line.slice(0, i)] = Number(line.slice(i + 1))
    }
    return { values, ms, bytes: text.length }
  }

  /** Event-loop delay since the previous scrape, in ms (prom-client resets its histogram on each scrape). */
  async eventLoopLag () {
    return eventLoopLagOf(await this.metrics())
  }

  cpuSeconds () { return readCpuSeconds(this.pid) }
  memory () { return readMemory(this.pid) }

  /** SIGTERM (graceful stop, writes --cpu-prof profiles), SIGKILL after `graceMs`. */
  async stop (graceMs = 15_000) {
    if (this.process == null || this.exited) return
    this.process.kill('SIGTERM')
    try {
      await withTimeout(this.exitPromise, graceMs, 'no exit')
    } catch {
      try { this.process.kill('SIGKILL') } catch { /* already gone */ }
      await this.exitPromise
    }
  }
}

/** The event-loop delay gauges of one scrape, in ms. */
export function eventLoopLagOf (m) {
  return {
    p50: m.nodejs_eventloop_lag_p50_seconds * 1000,
    p99: m.nodejs_eventloop_lag_p99_seconds * 1000,
    max: m.nodejs_eventloop_lag_max_seconds * 1000,
    mean: m.nodejs_eventloop_lag_mean_seconds * 1000
  }
}

const FLOOR_PATH = join(rootDir, 'bench', 'lib', 'socketio-floor.mjs')

/**
 * The bare socket.io server of socketio-floor.mjs, in a child process of its
 * own, driven like a CliServer (its /health and /metrics on the one port).
 */
export class FloorServer extends CliServer {
  constructor ({ execArgv = [], verbose = false } = {}) {
    super({ execArgv, verbose, name: 'socket.io floor' })
  }

  get commandLine () {
    return `node bench/lib/socketio-floor.mjs (socket.io 4, acks only; node ${[...CLI_NODE_FLAGS, ...this.execArgv].join(' ')})`
  }

  async start () {
    this.port = await freePort()
    this.adminPort = this.port
    // the CLI's node flags too: the same V8 heap settings as the server it is set against
    this.process = spawn(process.execPath, [...CLI_NODE_FLAGS, ...this.execArgv, FLOOR_PATH, String(this.port)], {
      stdio: ['ignore', this.verbose ? 'inherit' : 'ignore', 'pipe']
    })
    return await this.awaitStart()
  }
}

/**
 * Samples a CliServer while `fn` runs: event-loop lag (via /metrics) and RSS
 * every `intervalMs`. Returns { result, samples }.
 */
export async function sampling (server, intervalMs, fn, extra = async () => ({})) {
  const samples = []
  let stopped = false
  const t0 = performance.now()
  const loop = (async () => {
    await server.eventLoopLag().catch(() => {}) // reset the histogram
    while (!stopped) {
      await new Promise(resolve => setTimeout(resolve, intervalMs))
      if (stopped) break
      try {
        const [lag, health, more] = await Promise.all([server.eventLoopLag(), server.health(), extra()])
        samples.push({ t: (performance.now() - t0) / 1000, rss: server.memory().rss, cpu: server.cpuSeconds(), lag, peers: health.peers, sockets: health.sockets, ...more })
      } catch {
        // the server did not answer this time (busy or stopping): no sample
      }
    }
  })()
  try {
    const result = await fn()
    return { result, samples }
  } finally {
    stopped = true
    await loop
  }
}
