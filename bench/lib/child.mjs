// Child processes for the benchmark: spawn (with an IPC request/response
// channel), measure (CPU seconds from /proc/<pid>/stat utime+stime, RSS from
// /proc/<pid>/status VmRSS/VmHWM), stop/continue, and always kill on exit.
//
// Parent side: spawnChild(), readCpuSeconds(), readMemory(), sampleMemory().
// Child side:  serveRpc({ command: async (args) => result }).

import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU seconds (user + system) the process `pid` has used so far. */
export function readCpuSeconds (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) may contain spaces and parentheses: split after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  return (utime + stime) / CLK_TCK
}

/** CPU seconds all cores spent busy (not idle/iowait) since boot, from /proc/stat. */
export function readSystemBusySeconds () {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = ticks.map(Number)
  return (user + nice + system + irq + softirq + steal) / CLK_TCK
}

/**
 * CPU seconds of this process plus its reaped children (utime + stime +
 * cutime + cstime of /proc/self/stat).
 */
export function readSelfTreeCpuSeconds () {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[14 - 3]) + Number(f[15 - 3]) + Number(f[16 - 3]) + Number(f[17 - 3])) / CLK_TCK
}

/** { rss, hwm } in bytes for process `pid` (VmRSS and VmHWM = peak RSS). */
export function readMemory (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => {
    const m = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))
    return m == null ? NaN : Number(m[1]) * 1024
  }
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

/**
 * Samples VmRSS of `pid` every `intervalMs` until `.stop()`, which returns
 * { first, last, min, max, samples }.
 */
export function sampleMemory (pid, intervalMs = 50) {
  const samples = []
  const take = () => {
    try {
      samples.push({ t: Date.now(), rss: readMemory(pid).rss })
    } catch {
      // the process has exited: no sample
    }
  }
  take()
  const timer = setInterval(take, intervalMs)
  return {
    stop () {
      clearInterval(timer)
      take()
      const values = samples.map(s => s.rss)
      return {
        first: values[0],
        last: values[values.length - 1],
        min: Math.min(...values),
        max: Math.max(...values),
        samples: samples.length
      }
    }
  }
}

const live = new Set()
let cleanupInstalled = false

function installCleanup () {
  if (cleanupInstalled) return
  cleanupInstalled = true
  const killAll = () => {
    for (const child of live) {
      try { child.process.kill('SIGKILL') } catch { /* already gone */ }
    }
    live.clear()
  }
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      killAll()
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[signal])
    })
  }
}

/** Kills every child still alive (also done automatically at exit). */
export function killAllChildren () {
  for (const child of [...live]) child.kill()
}

/**
 * A child process running `script` (an ESM module that calls serveRpc) under
 * the same node binary as this process.
 */
export class ChildHandle {
  constructor (script, { args = [], env = {}, name = script, verbose = false, execArgv = [] } = {}) {
    installCleanup()
    this.name = name
    this.stderrTail = []
    this.nextId = 1
    this.pending = new Map()
    this.listeners = new Map()
    this.exited = false
    this.process = fork(script, args, {
      execPath: process.execPath,
      execArgv,
      env: { ...process.env, ...env },
      stdio: ['ignore', verbose ? 'inherit' : 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced'
    })
    this.pid = this.process.pid
    live.add(this)
    this.process.stderr.setEncoding('utf8')
    this.process.stderr.on('data', (text) => {
      if (verbose) process.stderr.write(`[${this.name}] ${text}`)
      this.stderrTail.push(...text.split('\n').filter(Boolean))
      if (this.stderrTail.length > 40) this.stderrTail.splice(0, this.stderrTail.length - 40)
    })
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    this.readyPromise.catch(() => {})
    this.process.on('message', (msg) => this.onMessage(msg))
    this.process.on('exit', (code, signal) => {
      this.exited = true
      live.delete(this)
      const err = new Error(`child ${this.name} exited (code ${code}, signal ${signal})${this.describeStderr()}`)
      this.rejectReady(err)
      for (const { reject } of this.pending.values()) reject(err)
      this.pending.clear()
    })
  }

  describeStderr () {
    return this.stderrTail.length > 0 ? `; stderr:\n  ${this.stderrTail.slice(-15).join('\n  ')}` : ''
  }

  onMessage (msg) {
    if (msg?.type === 'ready') {
      this.resolveReady(msg.info)
    } else if (msg?.type === 'response') {
      const p = this.pending.get(msg.id)
      if (p == null) return
      this.pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.ok) p.resolve(msg.result)
      else p.reject(new Error(`${this.name}.${p.command}: ${msg.error}`))
    } else if (msg?.type === 'event') {
      for (const fn of this.listeners.get(msg.event) ?? []) fn(msg.data)
    }
  }

  /** Resolves when the child called serveRpc (with its `info`). */
  ready (timeoutMs = 30_000) {
    return withTimeout(this.readyPromise, timeoutMs, `child ${this.name} not ready after ${timeoutMs} ms`)
  }

  /** Calls `command` in the child, resolving with its result. */
  call (command, args = {}, { timeoutMs = 60_000 } = {}) {
    if (this.exited) return Promise.reject(new Error(`child ${this.name} has exited`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}.${command} timed out after ${timeoutMs} ms${this.describeStderr()}`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer, command })
      this.process.send({ type: 'request', id, command, args })
    })
  }

  /** Subscribes to events the child emits with `emit(event, data)`. */
  on (event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set())
    this.listeners.get(event).add(fn)
    return () => this.listeners.get(event).delete(fn)
  }

  cpuSeconds () { return readCpuSeconds(this.pid) }
  memory () { return readMemory(this.pid) }

  /** SIGSTOP: the process stops reading its sockets (the kernel buffers fill). */
  pause () { this.process.kill('SIGSTOP') }
  /** SIGCONT */
  resume () { this.process.kill('SIGCONT') }

  /**
   * Asks the child to stop gracefully and waits for it to exit (so that
   * --cpu-prof profiles get written), then kills it if it is still there.
   */
  async close (graceMs = 5000) {
    if (this.exited) return
    const exited = new Promise(resolve => this.process.once('exit', resolve))
    try {
      this.process.kill('SIGCONT')
      await this.call('shutdown', {}, { timeoutMs: graceMs })
      await withTimeout(exited, graceMs, 'no exit')
    } catch {
      // no graceful stop in time: killed below
    }
    this.kill()
  }

  kill () {
    if (this.exited) return
    try { this.process.kill('SIGKILL') } catch { /* already gone */ }
    live.delete(this)
  }
}

export function spawnChild (script, options) {
  return new ChildHandle(script, options)
}

export function withTimeout (promise, ms, message) {
  let timer
  return Promise.race([
    promise,
    new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })
  ]).finally(() => clearTimeout(timer))
}

// ---------------------------------------------------------------- child side

/**
 * Serves `handlers` ({ name: async (args) => result }) over the IPC channel.
 * A `shutdown` handler is added unless given. The child exits when the parent
 * goes away. Call `emit(event, data)` to push events to the parent.
 */
export function serveRpc (handlers, info = {}) {
  if (process.send == null) throw new Error('serveRpc: not started with an IPC channel')
  const all = {
    shutdown: async () => { setTimeout(() => process.exit(0), 10); return true },
    ...handlers
  }
  if (handlers.shutdown != null) {
    all.shutdown = async (args) => {
      try { await handlers.shutdown(args) } finally { setTimeout(() => process.exit(0), 10) }
      return true
    }
  }
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (msg) => {
    if (msg?.type !== 'request') return
    const handler = all[msg.command]
    try {
      if (handler == null) throw new Error(`unknown command ${msg.command}`)
      const result = await handler(msg.args ?? {})
      process.send({ type: 'response', id: msg.id, ok: true, result })
    } catch (err) {
      process.send({ type: 'response', id: msg.id, ok: false, error: err?.stack ?? String(err) })
    }
  })
  process.send({ type: 'ready', info })
}

/** Child side: pushes an event to the parent (no-op without IPC). */
export function emit (event, data) {
  if (process.send != null && process.connected) process.send({ type: 'event', event, data })
}
