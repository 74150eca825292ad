// The paths a benchmark compares, and how to bring one up.
//
// Process layout (the same for every path): the relay (if the path has one)
// runs in its own child process, and so does each endpoint (listener and
// dialer): one libp2p node per process, like peers on separate machines.
// The bench process only orchestrates over IPC and reads /proc. So
//   direct : dialer ──ws──▶ listener                               (2 processes)
//   circuit: dialer ──ws──▶ circuit-relay-v2 relay ◀──ws── listener (3 processes)
//   wsstar : dialer ──socket.io──▶ rendezvous ◀──socket.io── listener (3 processes)
// All connections are noise + yamux end to end (identify + ping mounted).

import { fileURLToPath } from 'node:url'
import { spawnChild } from './child.mjs'

const here = (file) => fileURLToPath(new URL(file, import.meta.url))
const ENDPOINT = here('./endpoint-child.mjs')
const RELAY = here('./relay-child.mjs')

export const PATHS = {
  direct: {
    label: 'direct @libp2p/websockets',
    relay: null
  },
  circuit: {
    label: '@libp2p/circuit-relay-v2 (limits lifted)',
    relay: 'circuit'
  },
  wsstar: {
    label: 'wsstar (this repo)',
    relay: 'wsstar'
  }
}

export const ALL_PATHS = Object.keys(PATHS)

/** { ok: true } or { ok: false, reason } — whether `path` can run here. */
export async function probePath (path) {
  if (PATHS[path] == null) return { ok: false, reason: `unknown path ${path}` }
  if (path !== 'wsstar') return { ok: true }
  const missing = []
  for (const pkg of ['@wsstar/transport', '@wsstar/rendezvous']) {
    try {
      const mod = await import(pkg)
      const fn = pkg === '@wsstar/transport' ? mod.webSocketStar : mod.createRendezvousServer
      if (typeof fn !== 'function') missing.push(`${pkg} has no ${pkg === '@wsstar/transport' ? 'webSocketStar' : 'createRendezvousServer'} export`)
    } catch (err) {
      missing.push(`${pkg}: ${String(err?.code ?? err?.message ?? err).split('\n')[0]}`)
    }
  }
  return missing.length === 0 ? { ok: true } : { ok: false, reason: `not available (${missing.join('; ')}) — run \`npm run build\`` }
}

/**
 * A running path: relay + listener + dialer processes and one established
 * connection dialer → listener. `close()` stops them all.
 */
export class PathSession {
  constructor (path, { verbose = false, relayExecArgv = [], pingAbort = false, dialers = 1 } = {}) {
    this.pingAbort = pingAbort
    /** dialer processes, each a node of its own connected to the listener (`dialer` is the first) */
    this.dialerCount = dialers
    this.path = path
    this.verbose = verbose
    this.relayExecArgv = relayExecArgv
    this.relay = null
    this.listener = null
    this.dialer = null
    this.dialers = []
  }

  async open () {
    const def = PATHS[this.path]
    let relayInfo = {}
    if (def.relay != null) {
      this.relay = spawnChild(RELAY, { args: [def.relay], name: `${this.path}-relay`, verbose: this.verbose, execArgv: ['--expose-gc', ...this.relayExecArgv] })
      await this.relay.ready()
      relayInfo = await this.relay.call('start', { pingAbort: this.pingAbort }, { timeoutMs: 30_000 })
    }
    const startArgs = {
      relayAddr: this.path === 'circuit' ? relayInfo.addr : undefined,
      serverAddr: this.path === 'wsstar' ? relayInfo.addr : undefined,
      pingAbort: this.pingAbort
    }
    this.listener = spawnChild(ENDPOINT, { args: [this.path, 'listener'], name: `${this.path}-listener`, verbose: this.verbose })
    for (let i = 0; i < this.dialerCount; i++) {
      this.dialers.push(spawnChild(ENDPOINT, { args: [this.path, 'dialer'], name: `${this.path}-dialer${i === 0 ? '' : i + 1}`, verbose: this.verbose }))
    }
    this.dialer = this.dialers[0]
    await Promise.all([this.listener.ready(), ...this.dialers.map(d => d.ready())])
    const [listenerInfo] = await Promise.all([
      this.listener.call('start', startArgs, { timeoutMs: 30_000 }),
      ...this.dialers.map(d => d.call('start', startArgs, { timeoutMs: 30_000 }))
    ])
    this.listenerInfo = listenerInfo
    this.relayInfo = relayInfo
    const connections = await Promise.all(this.dialers.map(d => d.call('connect', { addr: listenerInfo.dialAddr }, { timeoutMs: 40_000 })))
    this.connection = connections[0]
    return this
  }

  /** CPU seconds of relay, dialer and listener so far. */
  cpu () {
    return {
      relay: this.relay?.cpuSeconds() ?? NaN,
      dialer: this.dialer.cpuSeconds(),
      listener: this.listener.cpuSeconds()
    }
  }

  async close () {
    await Promise.all([...this.dialers.map(d => d.close()), this.listener?.close()])
    await this.relay?.close()
  }
}

/** Opens `path`, closing whatever was started if that fails. */
export async function openPath (path, options) {
  const session = new PathSession(path, options)
  try {
    return await session.open()
  } catch (err) {
    await session.close().catch(() => {})
    throw err
  }
}
